"""GitHub App authentication: the App's JWT and cached installation tokens."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import datetime

import jwt
from cachetools import TLRUCache
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey
from cryptography.hazmat.primitives.serialization import load_pem_private_key
from gidgethub.abc import GitHubAPI

# GitHub rejects an `iat` in the future; clocks drift, so sign 60 s in the past.
JWT_BACKDATE_SECONDS = 60
# GitHub allows at most 10 minutes; stay under it so drift never makes a JWT invalid.
JWT_LIFETIME_SECONDS = 9 * 60
# Renew a token this long before GitHub expires it, so no call carries a dying token.
TOKEN_RENEW_MARGIN_SECONDS = 5 * 60


def app_jwt(app_id: int, private_key: str | RSAPrivateKey, now: float) -> str:
    claims = {
        "iat": int(now) - JWT_BACKDATE_SECONDS,
        "exp": int(now) + JWT_LIFETIME_SECONDS,
        "iss": str(app_id),
    }
    return jwt.encode(claims, private_key, algorithm="RS256")


def load_private_key(pem: str) -> RSAPrivateKey:
    """The App's key, read and checked once. Signing with the PEM text would read and check
    it again for every JWT: about 25 ms of the event loop each time."""
    try:
        key = load_pem_private_key(pem.encode(), password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm) as error:
        raise ValueError(
            f"not an unencrypted private key in PEM format ({error}); use the .pem file "
            "GitHub generated for the App"
        ) from None
    if not isinstance(key, RSAPrivateKey):
        raise ValueError("not an RSA key; GitHub Apps sign their JWTs with RS256")
    return key


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
        # Raises ValueError, saying what is wrong, for a key that cannot sign.
        self._private_key = load_private_key(private_key_pem)
        self._clock = clock
        self._jwt: tuple[str, float] | None = None
        self._tokens: TLRUCache[int, tuple[str, float]] = TLRUCache(
            maxsize=max_installations, ttu=_token_renew_at, timer=clock
        )
        self._locks: dict[int, asyncio.Lock] = {}

    def jwt(self) -> str:
        now = self._clock()
        if self._jwt is None or now >= self._jwt[1]:
            # Re-sign well before exp; reuse meanwhile (signing costs half a millisecond).
            self._jwt = (app_jwt(self.app_id, self._private_key, now), now + 5 * 60)
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
