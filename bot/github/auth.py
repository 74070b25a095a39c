"""GitHub App authentication: the App's JWT and cached installation tokens."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import datetime

import jwt
from cachetools import TLRUCache
from gidgethub.abc import GitHubAPI

# GitHub rejects an `iat` in the future; clocks drift, so sign 60 s in the past.
JWT_BACKDATE_SECONDS = 60
# GitHub allows at most 10 minutes; stay under it so drift never makes a JWT invalid.
JWT_LIFETIME_SECONDS = 9 * 60
# Renew a token this long before GitHub expires it, so no call carries a dying token.
TOKEN_RENEW_MARGIN_SECONDS = 5 * 60


def app_jwt(app_id: int, private_key_pem: str, now: float) -> str:
    claims = {
        "iat": int(now) - JWT_BACKDATE_SECONDS,
        "exp": int(now) + JWT_LIFETIME_SECONDS,
        "iss": str(app_id),
    }
    return jwt.encode(claims, private_key_pem, algorithm="RS256")


def _token_renew_at(_key: int, value: tuple[str, float], now: float) -> float:
    _token, expires_at = value
    return expires_at - TOKEN_RENEW_MARGIN_SECONDS


class AppAuth:
    """Signs the App's JWT and hands out installation tokens, renewed before they expire."""

    def __init__(
        self,
        app_id: int,
        private_key_pem: str,
        *,
        clock: Callable[[], float] = time.time,
        max_installations: int = 10_000,
    ) -> None:
        self.app_id = app_id
        self._private_key_pem = private_key_pem
        self._clock = clock
        self._jwt: tuple[str, float] | None = None
        self._tokens: TLRUCache[int, tuple[str, float]] = TLRUCache(
            maxsize=max_installations, ttu=_token_renew_at, timer=clock
        )
        self._locks: dict[int, asyncio.Lock] = {}

    def jwt(self) -> str:
        now = self._clock()
        if self._jwt is None or now >= self._jwt[1]:
            # Re-sign well before exp; reuse meanwhile (loading the key and signing cost ms).
            self._jwt = (app_jwt(self.app_id, self._private_key_pem, now), now + 5 * 60)
        return self._jwt[0]

    async def installation_token(self, gh: GitHubAPI, installation_id: int) -> str:
        cached = self._tokens.get(installation_id)
        if cached is not None:
            return cached[0]
        # One token request per installation at a time, however many runs need it.
        lock = self._locks.setdefault(installation_id, asyncio.Lock())
        async with lock:
            cached = self._tokens.get(installation_id)
            if cached is not None:
                return cached[0]
            data = await gh.post(
                "/app/installations/{installation_id}/access_tokens",
                {"installation_id": installation_id},
                data=b"",
                jwt=self.jwt(),
            )
            token = str(data["token"])
            expires_at = datetime.fromisoformat(str(data["expires_at"])).timestamp()
            self._tokens[installation_id] = (token, expires_at)
            return token
