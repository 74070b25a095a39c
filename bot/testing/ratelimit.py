"""Primary rate limits: an hourly request budget per installation and per user, as GitHub
keeps them."""

from __future__ import annotations

import time
from dataclasses import dataclass

WINDOW_SECONDS = 3600
# Unauthenticated callers get GitHub's per-address budget.
ANONYMOUS_LIMIT = 60
# A person's budget, shared by all of their tokens.
USER_LIMIT = 5000
USER_PREFIX = "user:"


@dataclass(slots=True)
class Budget:
    limit: int
    used: int = 0
    reset: int = 0

    @property
    def remaining(self) -> int:
        return max(self.limit - self.used, 0)

    def roll(self, now: float) -> None:
        """Start a new window once the current one has passed."""
        if now >= self.reset:
            self.used = 0
            self.reset = int(now) + WINDOW_SECONDS

    def headers(self) -> dict[str, str]:
        return {
            "x-ratelimit-limit": str(self.limit),
            "x-ratelimit-remaining": str(self.remaining),
            "x-ratelimit-reset": str(self.reset),
            "x-ratelimit-used": str(self.used),
            "x-ratelimit-resource": "core",
        }

    def as_json(self) -> dict[str, int]:
        return {
            "limit": self.limit,
            "remaining": self.remaining,
            "reset": self.reset,
            "used": self.used,
        }


class RateLimits:
    """One budget per caller: an installation id, "app" for the App's JWT, "user:<login>"
    for a person's tokens, or "anonymous"."""

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._budgets: dict[int | str, Budget] = {}

    def budget(self, caller: int | str) -> Budget:
        if caller not in self._budgets:
            limit = self._limit
            if caller == "anonymous":
                limit = ANONYMOUS_LIMIT
            elif str(caller).startswith(USER_PREFIX):
                limit = USER_LIMIT
            self._budgets[caller] = Budget(limit)
        budget = self._budgets[caller]
        budget.roll(time.time())
        return budget

    def user_budget(self, login: str) -> Budget:
        # Logins are case-insensitive on GitHub.
        return self.budget(USER_PREFIX + login.lower())
