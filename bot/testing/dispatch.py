"""The pipeline every GitHub API request goes through, in GitHub's order:

(latency) -> authenticate -> route -> authorize -> rate-limit budget -> no conditional
headers on unsafe methods -> validate against the OpenAPI description -> handler ->
ETag / 304 -> rate-limit headers -> (latency) -> record.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from aiohttp import web
from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes

from bot.testing.auth import AuthError, AuthKind, read_authorization, verify_app_jwt
from bot.testing.calls import ApiError, Auth, Call, Context, Event, Reply, not_found
from bot.testing.faults import Fault, Faults, Latency
from bot.testing.handlers import ROUTES
from bot.testing.openapi import OpenAPI
from bot.testing.ratelimit import Budget, RateLimits
from bot.testing.world import Token, UserToken

_STATIC_HEADERS = {
    "x-github-media-type": "github.v3; format=json",
    "x-github-api-version-selected": "2022-11-28",
    # GitHub's answers differ per credential; caches must key on Authorization too.
    "Vary": "Accept, Authorization, Cookie, X-GitHub-OTP",
}
_RATE_LIMIT_DOCS = "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api"
# GitHub refuses these on writes to endpoints that do not support them, which is all of the
# ones emulated: there is no conditional write (If-Match on `PATCH /gists/{id}` is a 400).
_CONDITIONAL_HEADERS = ("If-Match", "If-None-Match", "If-Modified-Since", "If-Unmodified-Since")
_SAFE_METHODS = ("GET", "HEAD")
# Request headers left out of the record: credentials never leave the emulator.
_UNRECORDED_HEADERS = ("authorization", "cookie")


@dataclass(frozen=True, slots=True)
class RecordedRequest:
    """One GitHub API request the emulator answered."""

    method: str
    path: str
    query: dict[str, str]
    status: int
    # The request's JSON body; its raw text when it was not JSON; None when empty.
    body: Any
    auth: str  # "jwt", "installation", "user" or "none"
    installation_id: int | None
    duration_ms: float
    # The login behind a user token.
    user: str | None = None
    # The request's headers, lower-cased names (repeats joined by ", "), without
    # Authorization or Cookie: e.g. `"if-match" not in r.headers`.
    headers: dict[str, str] = field(default_factory=dict)
    # When it arrived (time.monotonic()); 0 status: its connection was dropped.
    arrived_at: float = 0.0

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(slots=True)
class _Caller:
    kind: AuthKind
    token: Token | None
    budget: Budget
    # Whose budget and cache entries these are: an installation id, "app",
    # "user:<login>" or "anonymous".
    key: int | str
    user_token: UserToken | None = None


@dataclass(slots=True)
class _Outcome:
    reply: Reply
    events: list[Event] = field(default_factory=list)
    # Whether the request spends budget (refused credentials and /rate_limit do not).
    counted: bool = True


class Dispatcher:
    """Serves GitHub's REST API from the world; records requests and spec violations."""

    def __init__(
        self,
        ctx: Context,
        *,
        openapi: OpenAPI,
        app_id: int,
        public_key: PublicKeyTypes,
        rate_limits: RateLimits,
        latency: Latency,
        on_events: Callable[[list[Event], asyncio.Event], None],
    ) -> None:
        self._ctx = ctx
        self._latency = latency
        self._openapi = openapi
        self._app_id = app_id
        self._public_key = public_key
        self._limits = rate_limits
        self._on_events = on_events
        self.requests: list[RecordedRequest] = []
        self.violations: list[str] = []
        self.faults: Faults | None = None
        # For each caller told to wait (secondary limit, 429): when it was told, and when it
        # may call again (monotonic).
        self._told: dict[int | str, tuple[float, float]] = {}

    async def handle(self, request: web.Request) -> web.StreamResponse:
        started = time.perf_counter()
        arrived = time.monotonic()
        # Half the delay on the way in, half on the way out: a write lands in the world
        # while its answer is still travelling, as on a real network.
        delay = self._latency.draw()
        await _sleep(delay / 2)
        raw = await request.read()
        kind, credential = read_authorization(request.headers.get("Authorization"))
        try:
            caller = self._identify(kind, credential)
        except AuthError as error:
            caller = _Caller(kind, None, self._limits.budget("anonymous"), "anonymous")
            outcome = _Outcome(ApiError(401, str(error)).reply(), counted=False)
        else:
            self._check_wait(request, caller, arrived)
            fault = self.faults.draw() if self.faults is not None else None
            if fault in _REFUSALS:
                outcome = self._refuse(fault, caller, arrived)
            elif fault is Fault.DROP_BEFORE:
                return self._drop(request, arrived)
            else:
                outcome = self._serve(request, raw, caller)
                if fault is Fault.DROP_AFTER:
                    self._on_events(outcome.events, _answered())
                    return self._drop(request, arrived)
        response = self._respond(request, outcome, caller)
        await _sleep(delay / 2)
        self.requests.append(
            RecordedRequest(
                method=request.method,
                path=request.path,
                query=dict(request.query),
                status=response.status,
                body=_body_for_record(raw),
                auth=kind.value,
                installation_id=caller.token.installation_id if caller.token else None,
                duration_ms=(time.perf_counter() - started) * 1000,
                user=caller.user_token.user.login if caller.user_token else None,
                headers=_headers_for_record(request.headers),
                arrived_at=arrived,
            )
        )
        if outcome.events:
            # GitHub sends the webhooks a write causes after answering the write. They are
            # handed over before answering, so that settle() already waits for them.
            answered = asyncio.Event()
            self._on_events(outcome.events, answered)
            try:
                await response.prepare(request)
                await response.write_eof()
            finally:
                answered.set()
        return response

    def _check_wait(self, request: web.Request, caller: _Caller, arrived: float) -> None:
        told = self._told.get(caller.key)
        if told is None:
            return
        told_at, until = told
        # A request arriving just after the refusal left before its caller could know.
        if told_at + IN_FLIGHT_GRACE_S < arrived < until:
            early = until - arrived
            self.violations.append(
                f"{request.method} {request.path}: arrived {early:.2f} s before the end of "
                f"the wait {caller.key} was told (GitHub bans integrations that keep calling)"
            )

    def _refuse(self, fault: Fault | None, caller: _Caller, arrived: float) -> _Outcome:
        assert self.faults is not None
        if fault is Fault.SERVER_ERROR:
            return _Outcome(Reply(502, {"message": "Server Error"}), counted=False)
        wait = self.faults.wait_told()
        self._told[caller.key] = (arrived, arrived + wait)
        headers = {}
        if self.faults.retry_after is not None:
            headers["Retry-After"] = f"{self.faults.retry_after:g}"
        if fault is Fault.TOO_MANY:
            return _Outcome(Reply(429, {"message": "Too Many Requests"}, headers))
        message = (
            "You have exceeded a secondary rate limit. Please wait a few minutes before you "
            "try again."
        )
        body = {"message": message, "documentation_url": _RATE_LIMIT_DOCS}
        return _Outcome(Reply(403, body, headers))

    def _drop(self, request: web.Request, arrived: float) -> web.StreamResponse:
        """Close the connection without an answer, as a broken network does."""
        if request.transport is not None:
            request.transport.abort()
        self.requests.append(
            RecordedRequest(
                method=request.method,
                path=request.path,
                query=dict(request.query),
                status=0,
                body=None,
                auth="",
                installation_id=None,
                duration_ms=0.0,
                arrived_at=arrived,
            )
        )
        return web.Response(status=500)

    def _identify(self, kind: AuthKind, credential: str) -> _Caller:
        if kind is AuthKind.JWT:
            verify_app_jwt(
                credential, app_id=self._app_id, public_key=self._public_key, now=time.time()
            )
            return _Caller(kind, None, self._limits.budget("app"), "app")
        if kind is AuthKind.INSTALLATION:
            token = self._ctx.world.valid_token(credential)
            if token is None:
                raise AuthError("Bad credentials")
            installation_id = token.installation_id
            return _Caller(kind, token, self._limits.budget(installation_id), installation_id)
        if kind is AuthKind.USER:
            user_token = self._ctx.world.user_tokens.get(credential)
            if user_token is None:
                raise AuthError("Bad credentials")
            login = user_token.user.login.lower()
            budget = self._limits.user_budget(login)
            return _Caller(kind, None, budget, f"user:{login}", user_token)
        return _Caller(kind, None, self._limits.budget("anonymous"), "anonymous")

    def _serve(self, request: web.Request, raw: bytes, caller: _Caller) -> _Outcome:
        try:
            return self._route(request, raw, caller)
        except ApiError as error:
            return _Outcome(error.reply())

    def _route(self, request: web.Request, raw: bytes, caller: _Caller) -> _Outcome:
        where = f"{request.method} {request.path}"
        found = self._openapi.match(request.method, request.rel_url.raw_path)
        if found is None:
            self._violate(where, ["no such operation in GitHub's REST API description"])
            raise not_found()
        operation, raw_params = found
        route = ROUTES[operation.id]
        _authorize(route.auth, caller.kind)
        if route.counted and caller.budget.remaining == 0:
            # Refused for want of budget, which the refusal does not spend.
            return _Outcome(_exhausted(caller).reply(), counted=False)
        conditional = [h for h in _CONDITIONAL_HEADERS if h in request.headers]
        if conditional and request.method not in _SAFE_METHODS:
            self._violate(
                where, [f"conditional header {h} on an unsafe request" for h in conditional]
            )
            raise ApiError(
                400,
                "Conditional request headers are not allowed in unsafe requests unless "
                "supported by the endpoint",
                docs_url=operation.docs_url,
            )
        path = self._openapi.check_path(operation, raw_params)
        if path.problems:
            # GitHub answers a malformed path (say a non-numeric issue number) with 404.
            self._violate(where, path.problems)
            raise not_found()
        query = self._openapi.check_query(operation, dict(request.query))
        body = self._json_body(where, raw)
        problems = query.problems + self._openapi.check_body(operation, body)
        if problems:
            self._violate(where, problems)
            raise ApiError(422, "Invalid request.", docs_url=operation.docs_url, errors=problems)
        call = Call(
            ctx=self._ctx,
            operation=operation,
            params={**path.values, **query.values},
            body=body,
            token=caller.token,
            budget=caller.budget,
            raw_path=request.rel_url.raw_path,
            query=list(request.query.items()),
            user_token=caller.user_token,
        )
        try:
            reply = route.handler(call)
        except ApiError as error:
            return _Outcome(error.reply(), counted=route.counted)
        return _Outcome(reply, call.events, counted=route.counted)

    def _json_body(self, where: str, raw: bytes) -> Any:
        if not raw.strip():
            return None
        try:
            return json.loads(raw)
        except ValueError:
            self._violate(where, ["body is not valid JSON"])
            raise ApiError(400, "Problems parsing JSON") from None

    def _violate(self, where: str, problems: list[str]) -> None:
        self.violations.extend(f"{where}: {problem}" for problem in problems)

    def _respond(self, request: web.Request, outcome: _Outcome, caller: _Caller) -> web.Response:
        reply = outcome.reply
        # `None` is an answer without a body (204 No Content).
        body = b"" if reply.body is None else json.dumps(reply.body).encode("utf-8")
        headers = {
            **({} if reply.body is None else {"Content-Type": "application/json; charset=utf-8"}),
            **_STATIC_HEADERS,
            **reply.headers,
        }
        if caller.user_token is not None:
            # GitHub tells a classic token's holder which scopes it carries.
            headers["X-OAuth-Scopes"] = ", ".join(sorted(caller.user_token.scopes))
        status = reply.status
        if request.method == "GET" and status == 200:
            etag = _etag(caller.key, body)
            headers["ETag"] = etag
            if _etag_matches(request.headers.get("If-None-Match"), etag):
                status, body = 304, b""
                del headers["Content-Type"]
        # A 304 costs nothing, which is the point of conditional requests.
        if outcome.counted and status != 304:
            caller.budget.used += 1
        headers.update(caller.budget.headers())
        headers["x-github-request-id"] = _request_id()
        return web.Response(status=status, body=body or None, headers=headers)


def _authorize(needed: Auth, kind: AuthKind) -> None:
    if needed is Auth.ANY or needed.value == kind.value:
        return
    if kind is AuthKind.NONE:
        raise ApiError(401, "Requires authentication")
    if needed is Auth.JWT:
        # GitHub reads whatever is presented to an App endpoint as a JWT.
        raise ApiError(401, "A JSON web token could not be decoded")
    if kind is AuthKind.USER:
        # The emulator models no person's access to repositories.
        raise ApiError(403, "Resource not accessible by personal access token")
    # The App itself (JWT or installation token) on a user's resource, e.g. a gist.
    raise ApiError(403, "Resource not accessible by integration")


def _exhausted(caller: _Caller) -> ApiError:
    if caller.user_token is not None:
        who = f"user ID {caller.user_token.user.id}"
    else:
        who = f"installation ID {caller.key}" if caller.token else str(caller.key)
    return ApiError(403, f"API rate limit exceeded for {who}.", docs_url=_RATE_LIMIT_DOCS)


def _etag(key: int | str, body: bytes) -> str:
    # The credential is part of the tag: one installation's tag never matches another's.
    digest = hashlib.sha256(str(key).encode() + b"\0" + body).hexdigest()
    return f'W/"{digest}"'


def _etag_matches(header: str | None, etag: str) -> bool:
    if header is None:
        return False
    tags = {tag.strip() for tag in header.split(",")}
    return "*" in tags or etag in tags


async def _sleep(seconds: float) -> None:
    if seconds > 0:
        await asyncio.sleep(seconds)


def _headers_for_record(headers: Mapping[str, str]) -> dict[str, str]:
    # aiohttp's headers are a multidict: items() yields a repeated header once per value.
    recorded: dict[str, str] = {}
    for name, value in headers.items():
        key = name.lower()
        if key in _UNRECORDED_HEADERS:
            continue
        recorded[key] = f"{recorded[key]}, {value}" if key in recorded else value
    return recorded


def _request_id() -> str:
    return ":".join(secrets.token_hex(n).upper() for n in (2, 3, 3, 3, 4))


def _body_for_record(raw: bytes) -> Any:
    if not raw.strip():
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return raw.decode("utf-8", "replace")


_REFUSALS = (Fault.SERVER_ERROR, Fault.SECONDARY_LIMIT, Fault.TOO_MANY)
# Other requests already on their way when a caller was told to wait (on a loaded
# loopback, up to a few hundred milliseconds).
IN_FLIGHT_GRACE_S = 0.25


def _answered() -> asyncio.Event:
    answered = asyncio.Event()
    answered.set()
    return answered
