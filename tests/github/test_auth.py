"""The App's JWT and the installation-token cache (bot/github/auth.py)."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Mapping
from datetime import UTC, datetime
from typing import Any

import aiohttp
import jwt
import pytest
from gidgethub import BadRequest
from gidgethub.abc import GitHubAPI
from gidgethub.aiohttp import GitHubAPI as AiohttpGitHubAPI
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.github.auth import (
    JWT_BACKDATE_SECONDS,
    TOKEN_RENEW_MARGIN_SECONDS,
    AppAuth,
    app_jwt,
)
from bot.testing import GitHubEmulator, KeyPair, generate_key_pair
from bot.testing.auth import AuthError, load_public_key, verify_app_jwt

APP_ID = 90210
# Never contacted: ScriptedGitHub answers every request made to it.
FAKE_API = "http://127.0.0.1:9"


class FakeClock:
    """A clock the test moves by hand."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def token_url(installation_id: int, base: str = FAKE_API) -> str:
    return f"{base}/app/installations/{installation_id}/access_tokens"


def token_answer(token: str, expires_at: float) -> dict[str, Any]:
    stamp = datetime.fromtimestamp(expires_at, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {"token": token, "expires_at": stamp, "permissions": {"issues": "write"}}


def claims_of(token: str, keys: KeyPair) -> dict[str, Any]:
    """The claims, after checking the RS256 signature (time claims are checked by callers)."""
    decoded: dict[str, Any] = jwt.decode(
        token,
        keys.public_pem,
        algorithms=["RS256"],
        options={"verify_exp": False, "verify_iat": False, "verify_nbf": False},
    )
    return decoded


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as http:
        yield http


# -- app_jwt ------------------------------------------------------------------------------


def test_app_jwt_is_rs256_signed_by_the_app_key(app_keys: KeyPair) -> None:
    now = time.time()
    token = app_jwt(APP_ID, app_keys.private_pem, now)

    assert jwt.get_unverified_header(token)["alg"] == "RS256"
    # Real validation of exp/iat against the wall clock, as GitHub would do.
    claims = jwt.decode(token, app_keys.public_pem, algorithms=["RS256"])
    assert claims["iss"] == str(APP_ID)
    assert claims["iat"] == int(now) - JWT_BACKDATE_SECONDS
    assert 0 < claims["exp"] - now < 600


def test_app_jwt_does_not_verify_with_another_key(app_keys: KeyPair) -> None:
    other = generate_key_pair()
    token = app_jwt(APP_ID, app_keys.private_pem, time.time())
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(token, other.public_pem, algorithms=["RS256"])


# Each example loads the PEM and signs (~20 ms), so a few suffice.
@settings(max_examples=10, deadline=None)
@given(now=st.floats(min_value=1_500_000_000, max_value=4_000_000_000))
def test_app_jwt_claims_hold_for_any_time(app_keys: KeyPair, now: float) -> None:
    claims = claims_of(app_jwt(APP_ID, app_keys.private_pem, now), app_keys)
    assert claims["iat"] == int(now) - 60
    assert now < claims["exp"]
    assert claims["exp"] - now < 600
    # GitHub's own rule: no JWT may span more than ten minutes.
    assert claims["exp"] - claims["iat"] <= 600
    assert claims["iss"] == str(APP_ID)


# -- AppAuth.jwt --------------------------------------------------------------------------


def test_jwt_is_reused_within_its_window_and_resigned_after(app_keys: KeyPair) -> None:
    start = time.time()
    clock = FakeClock(start)
    auth = AppAuth(APP_ID, app_keys.private_pem, clock=clock)

    first = auth.jwt()
    clock.now = start + 1
    assert auth.jwt() == first
    clock.now = start + 299
    assert auth.jwt() == first

    clock.now = start + 300
    renewed = auth.jwt()
    assert renewed != first
    assert claims_of(renewed, app_keys)["iat"] == int(start + 300) - JWT_BACKDATE_SECONDS
    clock.now = start + 301
    assert auth.jwt() == renewed


def test_a_reused_jwt_is_still_acceptable_to_github_at_the_end_of_its_window(
    app_keys: KeyPair,
) -> None:
    start = time.time()
    clock = FakeClock(start)
    auth = AppAuth(APP_ID, app_keys.private_pem, clock=clock)
    public_key = load_public_key(app_keys.public_pem)

    token = auth.jwt()
    clock.now = start + 299.9
    assert auth.jwt() == token
    # The emulator's copy of GitHub's checks (iat skew, exp in the future, <= 10 min).
    verify_app_jwt(token, app_id=APP_ID, public_key=public_key, now=start)
    verify_app_jwt(token, app_id=APP_ID, public_key=public_key, now=clock.now)
    with pytest.raises(AuthError):
        verify_app_jwt(token, app_id=APP_ID + 1, public_key=public_key, now=start)


# -- AppAuth.installation_token -----------------------------------------------------------


class ScriptedGitHub(GitHubAPI):
    """gidgethub's own client over a scripted transport: each request takes the next answer.

    A request with no answer left fails the test. Every request yields to the event loop
    first, as a real one would.
    """

    def __init__(self, answers: list[tuple[int, dict[str, Any]]]) -> None:
        super().__init__("test", base_url=FAKE_API)
        self.answers = list(answers)
        self.sent: list[tuple[str, str, dict[str, str]]] = []

    async def _request(
        self, method: str, url: str, headers: Mapping[str, str], body: bytes = b""
    ) -> tuple[int, Mapping[str, str], bytes]:
        self.sent.append((method, url, dict(headers)))
        await asyncio.sleep(0)
        if not self.answers:
            raise AssertionError(f"unexpected request: {method} {url}")
        status, payload = self.answers.pop(0)
        headers_out = {"content-type": "application/json; charset=utf-8"}
        return status, headers_out, json.dumps(payload).encode()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


async def test_token_is_fetched_once_with_the_app_jwt_and_cached(app_keys: KeyPair) -> None:
    clock = FakeClock(1_800_000_000.0)
    auth = AppAuth(APP_ID, app_keys.private_pem, clock=clock)
    gh = ScriptedGitHub([(201, token_answer("tok-1", clock.now + 3600))])

    assert await auth.installation_token(gh, 7) == "tok-1"
    clock.now += 60
    assert await auth.installation_token(gh, 7) == "tok-1"
    assert await auth.installation_token(gh, 7) == "tok-1"

    assert len(gh.sent) == 1
    method, url, headers = gh.sent[0]
    assert (method, url) == ("POST", token_url(7))
    scheme, _, credential = headers["authorization"].partition(" ")
    assert scheme.lower() == "bearer"
    claims = claims_of(credential, app_keys)
    assert claims["iss"] == str(APP_ID)
    assert claims["iat"] == int(1_800_000_000.0) - JWT_BACKDATE_SECONDS


async def test_token_is_renewed_within_five_minutes_of_expiry(app_keys: KeyPair) -> None:
    start = 1_800_000_000.0
    clock = FakeClock(start)
    auth = AppAuth(APP_ID, app_keys.private_pem, clock=clock)
    first_expiry = start + 3600
    gh = ScriptedGitHub(
        [
            (201, token_answer("tok-1", first_expiry)),
            (201, token_answer("tok-2", first_expiry + 3600)),
        ]
    )

    assert await auth.installation_token(gh, 7) == "tok-1"
    # Just outside the margin: still the first token, no request.
    clock.now = first_expiry - TOKEN_RENEW_MARGIN_SECONDS - 1
    assert await auth.installation_token(gh, 7) == "tok-1"
    assert len(gh.sent) == 1

    # Inside the margin: a fresh token, though the old one has not expired yet.
    clock.now = first_expiry - TOKEN_RENEW_MARGIN_SECONDS + 1
    assert clock.now < first_expiry
    assert await auth.installation_token(gh, 7) == "tok-2"
    assert await auth.installation_token(gh, 7) == "tok-2"
    assert len(gh.sent) == 2
    assert {url for _method, url, _headers in gh.sent} == {token_url(7)}


async def test_token_past_its_expiry_is_never_served(app_keys: KeyPair) -> None:
    start = 1_800_000_000.0
    clock = FakeClock(start)
    auth = AppAuth(APP_ID, app_keys.private_pem, clock=clock)
    gh = ScriptedGitHub(
        [(201, token_answer("old", start + 3600)), (201, token_answer("new", start + 7200))]
    )
    assert await auth.installation_token(gh, 3) == "old"
    clock.now = start + 4000
    assert await auth.installation_token(gh, 3) == "new"
    assert len(gh.sent) == 2


async def test_concurrent_callers_for_one_installation_make_one_request(
    app_keys: KeyPair,
) -> None:
    clock = FakeClock(1_800_000_000.0)
    auth = AppAuth(APP_ID, app_keys.private_pem, clock=clock)
    gh = ScriptedGitHub([(201, token_answer("shared", clock.now + 3600))])

    tokens = await asyncio.gather(*(auth.installation_token(gh, 9) for _ in range(20)))

    assert tokens == ["shared"] * 20
    assert len(gh.sent) == 1


async def test_a_failed_token_request_is_not_cached(app_keys: KeyPair) -> None:
    clock = FakeClock(1_800_000_000.0)
    auth = AppAuth(APP_ID, app_keys.private_pem, clock=clock)
    gh = ScriptedGitHub(
        [(404, {"message": "Not Found"}), (201, token_answer("tok", clock.now + 3600))]
    )
    with pytest.raises(BadRequest) as raised:
        await auth.installation_token(gh, 5)
    assert raised.value.status_code == 404
    assert await auth.installation_token(gh, 5) == "tok"
    assert len(gh.sent) == 2


# -- against the emulator: real HTTP, so concurrent callers really overlap -----------------


@pytest.fixture
async def emulator(app_keys: KeyPair) -> AsyncIterator[GitHubEmulator]:
    github = GitHubEmulator(
        app_id=APP_ID,
        app_slug="queue-bot",
        public_key_pem=app_keys.public_pem,
        webhook_secret="unused",
    )
    github.add_installation(11, "alpha")
    github.add_installation(22, "beta")
    await github.start("127.0.0.1", 0)
    try:
        yield github
    finally:
        await github.stop()


def token_requests(github: GitHubEmulator, installation_id: int) -> list[int]:
    path = f"/app/installations/{installation_id}/access_tokens"
    return [r.status for r in github.requests if r.method == "POST" and r.path == path]


async def test_concurrent_callers_share_one_token_request(
    app_keys: KeyPair, emulator: GitHubEmulator, session: aiohttp.ClientSession
) -> None:
    auth = AppAuth(APP_ID, app_keys.private_pem)
    gh = AiohttpGitHubAPI(session, "test", base_url=emulator.url)

    tokens = await asyncio.gather(*(auth.installation_token(gh, 11) for _ in range(20)))

    assert len(set(tokens)) == 1
    assert token_requests(emulator, 11) == [201]
    assert emulator.violations == []


async def test_two_installations_get_separate_tokens(
    app_keys: KeyPair, emulator: GitHubEmulator, session: aiohttp.ClientSession
) -> None:
    auth = AppAuth(APP_ID, app_keys.private_pem)
    gh = AiohttpGitHubAPI(session, "test", base_url=emulator.url)

    callers = [auth.installation_token(gh, 11) for _ in range(10)]
    callers += [auth.installation_token(gh, 22) for _ in range(10)]
    tokens = await asyncio.gather(*callers)

    alpha, beta = set(tokens[:10]), set(tokens[10:])
    assert len(alpha) == 1
    assert len(beta) == 1
    assert alpha != beta
    assert token_requests(emulator, 11) == [201]
    assert token_requests(emulator, 22) == [201]
    # Each token belongs to its own installation on the GitHub side.
    (alpha_token,) = alpha
    (beta_token,) = beta
    alpha_record = emulator.world.valid_token(alpha_token)
    beta_record = emulator.world.valid_token(beta_token)
    assert alpha_record is not None
    assert alpha_record.installation_id == 11
    assert beta_record is not None
    assert beta_record.installation_id == 22
    assert emulator.violations == []
