"""The store interface: `read()` and `update(fn)`, where `fn` maps old state to new.

Updates are functions of the old state, never blind overwrites, so a backend that must
retry (the Gist one, when someone else wrote in between) can re-apply them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from bot.state.schema import BotState

StateUpdate = Callable[[BotState], BotState]


class StateError(Exception):
    """The state could not be read or written; the message says what to check."""


class Store(Protocol):
    async def read(self) -> BotState: ...

    async def update(self, fn: StateUpdate) -> str:
        """Apply `fn` to the current state, make the result durable, return its version.

        The version is opaque: a counter for the file store, a revision sha for a gist.
        """
        ...
