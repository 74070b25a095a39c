"""The store interface: `read()` and `update(fn)`, where `fn` maps old state to new.

Updates are functions of the old state, never blind overwrites, so a backend that must
retry (the Gist one, when someone else wrote in between) can re-apply them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from bot.state.schema import BotState

# A function of the current state that returns the new one; it gets a working copy.
StateUpdate = Callable[[BotState], BotState]


class StateError(Exception):
    """The state could not be read or written; the message says what to check."""


class InvalidState(StateError):
    """Stored content that does not parse or fails the schema (a store may recover it)."""


@dataclass(frozen=True, slots=True)
class Written:
    """An update made durable: the version holding it, and anything people should know."""

    version: str
    notices: tuple[str, ...] = ()


class Store(Protocol):
    async def read(self) -> BotState: ...

    async def problems(self) -> list[str]:
        """What is wrong with the stored content now, that reads work around; [] if nothing."""
        ...

    async def update(self, fn: StateUpdate) -> Written:
        """Apply `fn` to the current state and make the result durable.

        The version is opaque: a counter for the file store, a revision sha for a gist.
        """
        ...
