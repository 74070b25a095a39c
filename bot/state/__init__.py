"""State: the versioned schema and the stores that keep it (file now, Gist later)."""

from bot.state.file import FileStore
from bot.state.schema import (
    BotState,
    RunRecord,
    command_data_key,
    find_run,
    with_command_data,
    with_run,
)
from bot.state.store import InvalidState, StateError, StateUpdate, Store, Written

__all__ = [
    "BotState",
    "FileStore",
    "InvalidState",
    "RunRecord",
    "StateError",
    "StateUpdate",
    "Store",
    "Written",
    "command_data_key",
    "find_run",
    "with_command_data",
    "with_run",
]
