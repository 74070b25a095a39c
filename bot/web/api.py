"""The REST command API: `POST /api/commands/{name}`, `GET /api/runs/{id}`, and its
OpenAPI document at `/api/openapi.json` (bot/web/openapi.py, kept true by tests).

A call runs the same pipeline as a comment (invariant 1) and is recorded on its issue. The
answer waits a little for the run (`API_WAIT_SECONDS`); a longer run answers 202 with the
URL to poll. Every error is JSON with a stable `code` and a message a caller can act on.
"""

from __future__ import annotations

import asyncio
import math
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Annotated, Any

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from bot.buckets import TokenBuckets
from bot.commands.catalogue import Catalogue, CommandSpec, ParameterError, bind_arguments
from bot.commands.grammar import ArgumentSyntaxError, close_names, parse_arguments
from bot.domain import RepoRef, Request, Run, RunStatus, Source, Verdict
from bot.intake import Intake
from bot.intake.intake import ParameterProblem, TargetError, arguments_text, direct_request
from bot.intake.tokens import ApiToken, ApiTokens
from bot.pipeline import run_id_for
from bot.pipeline.hooks import (
    ARGUMENTS_HOOK,
    BREAKER_HOOK,
    CONCURRENCY_HOOK,
    PERMISSION_HOOK,
    RATE_LIMIT_HOOK,
)
from bot.state import RunRecord, Store, find_run
from bot.web.openapi import OPENAPI

# A command call is small; anything bigger is a mistake or an attack.
MAX_BODY_BYTES = 64 * 1024
Scalar = str | int | float | bool


class ApiError(Exception):
    """An answer other than success: HTTP status, stable code, message, details."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        headers: dict[str, str] | None = None,
        **details: Any,
    ):
        super().__init__(message)
        self.status = status
        self.code = code
        self.headers = headers or {}
        self.details = details

    def response(self) -> web.Response:
        body = {
            "success": False,
            "error": {"code": self.code, "message": str(self), **self.details},
        }
        return web.json_response(body, status=self.status, headers=self.headers)


class CallContext(BaseModel):
    model_config = ConfigDict(extra="allow")

    repository: Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")]
    issue: Annotated[int, Field(ge=1, le=2**31 - 1)]


class CommandCall(BaseModel):
    model_config = ConfigDict(extra="forbid")

    params: dict[str, Scalar | None] = {}
    context: CallContext


class CommandApi:
    def __init__(
        self,
        *,
        intake: Intake,
        catalogue: Catalogue,
        tokens: ApiTokens,
        store: Store,
        wait_s: float,
        clock: Callable[[], datetime],
    ):
        self._intake = intake
        self._catalogue = catalogue
        self._tokens = tokens
        self._store = store
        self._wait_s = wait_s
        self._clock = clock
        self._buckets = TokenBuckets()

    def routes(self) -> list[web.RouteDef]:
        return [
            # Any character but "/" (aiohttp's default also refuses braces).
            web.post("/api/commands/{name:[^/]+}", _answering(self.post_command)),
            web.get("/api/runs/{run_id:[^/]+}", _answering(self.get_run)),
            web.get("/api/openapi.json", self.openapi),
            web.route("*", "/api/{tail:.*}", _answering(_no_such_endpoint)),
        ]

    async def openapi(self, _: web.Request) -> web.Response:
        return web.json_response(OPENAPI)

    async def post_command(self, http: web.Request) -> web.Response:
        body = await read_body(http)
        token = self._authenticate(http)
        call = _parse_call(body)
        spec = self._command(http.match_info["name"])
        try:
            repo = RepoRef.parse(call.context.repository)
        except ValueError as error:
            field = "context.repository"
            raise ApiError(422, "invalid_request", f"{field}: {error}", field=field) from None
        if not token.allows_command(spec.id):
            raise ApiError(403, "forbidden_command", f"this token may not run /{spec.id}")
        if not token.allows_repository(repo):
            raise ApiError(403, "forbidden_repository", f"this token may not act on {repo}")
        self._take_token(token)
        _check_params(spec, call.params)
        try:
            target = await self._intake.resolve_target(repo, call.context.issue)
        except TargetError as error:
            raise target_error(error) from None
        key = http.headers.get("Idempotency-Key")
        delivery_id = f"api:{token.name}:{key}" if key else f"api:{uuid.uuid4()}"
        request = direct_request(
            source=Source.API,
            command=spec.id,
            params=call.params,
            actor=token.actor,
            permission=token.permission,
            repo=repo,
            issue=call.context.issue,
            target=target,
            delivery_id=delivery_id,
            received_at=self._clock(),
        )
        run_id, new = await self._intake.submit(request)
        if not new:  # this Idempotency-Key was used before
            self._check_same_call(request)
        submitted = self._intake.submitted_run(run_id)
        if submitted is None:  # submitted before the bot restarted: its end is in state
            return _pending(run_id)
        # Answered once the run's record is durable; its comment is edited just after.
        waiting: set[asyncio.Future[Any]] = {submitted.recorded, submitted.finished}
        await asyncio.wait(waiting, timeout=self._wait_s, return_when="FIRST_COMPLETED")
        if submitted.recorded.done():
            return _finished(submitted.recorded.result())
        if submitted.finished.done():
            return _finished(submitted.finished.result())
        return _pending(run_id)

    async def get_run(self, http: web.Request) -> web.Response:
        token = self._authenticate(http)
        run_id = http.match_info["run_id"]
        submitted = self._intake.submitted_run(run_id)
        if submitted is not None:
            asked = submitted.request
            if not _may_see(token, asked.repo, asked.command):
                raise ApiError(404, "run_not_found", f"no run {run_id} that this token may see")
            if submitted.recorded.done():
                return _finished(submitted.recorded.result())
            if not submitted.finished.done():
                return _pending(run_id)
            if submitted.finished.result() is None:
                return _finished(None)  # the run broke before its record: 503
        record = find_run(await self._store.read(), run_id)
        if record is None or not _may_see(token, RepoRef.parse(record.repo), record.command):
            raise ApiError(404, "run_not_found", f"no run {run_id} that this token may see")
        return _recorded(record)

    def _check_same_call(self, request: Request) -> None:
        """An Idempotency-Key used again must come with the same call."""
        earlier = self._intake.submitted_run(run_id_for(request))
        asked = earlier.request if earlier is not None else None
        if asked is not None and _call_of(asked) != _call_of(request):
            raise ApiError(
                422,
                "idempotency_key_reused",
                "this Idempotency-Key was used for another call; use a new key for a new call",
            )

    def _authenticate(self, http: web.Request) -> ApiToken:
        scheme, _, presented = http.headers.get("Authorization", "").partition(" ")
        is_bearer = scheme.lower() == "bearer"
        token = self._tokens.authenticate(presented.strip()) if is_bearer else None
        if token is None:
            raise ApiError(
                401,
                "unauthorized",
                "send `Authorization: Bearer <token>` with a token from `bot api-token create`",
                headers={"WWW-Authenticate": 'Bearer realm="issue-queue-bot"'},
            )
        return token

    def _command(self, name: str) -> CommandSpec:
        spec = self._catalogue.get(name.removeprefix("/"))
        if spec is None or not spec.runnable:
            runnable = self._catalogue.runnable_names()
            raise ApiError(
                404,
                "unknown_command",
                f"there is no command /{name} that the bot runs",
                suggestions=close_names(name, runnable),
            )
        return spec

    def _take_token(self, token: ApiToken) -> None:
        wait_s = self._buckets.take(token.name, token.rate_limit)
        if wait_s:
            seconds = math.ceil(wait_s)
            raise ApiError(
                429,
                "rate_limited",
                f"this token may make {token.rate_limit} calls; try again in {seconds} s",
                headers={"Retry-After": str(seconds)},
            )


async def _no_such_endpoint(http: web.Request) -> web.Response:
    raise ApiError(
        404, "not_found", f"no {http.method} {http.path}; see /api/openapi.json for the API"
    )


def _answering(
    handler: Callable[[web.Request], Awaitable[web.Response]],
) -> Callable[[web.Request], Awaitable[web.Response]]:
    async def answer(http: web.Request) -> web.Response:
        try:
            return await handler(http)
        except ApiError as error:
            return error.response()

    return answer


async def read_body(http: web.Request) -> bytes:
    """The whole body, however it arrives (in pieces, chunked), up to MAX_BODY_BYTES."""
    too_large = ApiError(413, "too_large", f"the body may be at most {MAX_BODY_BYTES} bytes")
    if http.content_length is not None and http.content_length > MAX_BODY_BYTES:
        raise too_large
    chunks: list[bytes] = []
    size = 0
    while chunk := await http.content.read(MAX_BODY_BYTES + 1):
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise too_large
        chunks.append(chunk)
    return b"".join(chunks)


def target_error(error: TargetError) -> ApiError:
    if error.code == "unavailable":
        return ApiError(503, error.code, str(error), headers={"Retry-After": "30"})
    return ApiError(404, error.code, str(error))


def _call_of(request: Request) -> tuple[object, ...]:
    return (request.command, request.args_text, request.repo, request.issue, request.actor)


def _parse_call(body: bytes) -> CommandCall:
    try:
        return CommandCall.model_validate_json(body)
    except ValidationError as error:
        first = error.errors()[0]
        if first["type"] == "json_invalid" or not first["loc"]:
            raise ApiError(
                400, "bad_json", 'the body must be a JSON object: {"params": …, "context": …}'
            ) from None
        field = ".".join(str(part) for part in first["loc"])
        raise ApiError(422, "invalid_request", f"{field}: {first['msg']}", field=field) from None


def _check_params(spec: CommandSpec, params: dict[str, Scalar | None]) -> None:
    """The same binding the arguments hook does, to answer 422 before any run starts."""
    try:
        arguments = parse_arguments(arguments_text(params))
        bind_arguments(spec, arguments.positional, arguments.options)
    except ParameterProblem as error:
        field = f"params.{error.name}"
        raise ApiError(
            422,
            "invalid_parameters",
            str(error),
            field=field,
            errors=[{"field": field, "message": str(error)}],
        ) from None
    except ArgumentSyntaxError as error:
        raise ApiError(422, "invalid_parameters", str(error), errors=[]) from None
    except ParameterError as error:
        names = {param.name for param in spec.parameters}
        errors = [_field_error(text, names) for text in error.errors]
        raise ApiError(
            422,
            "invalid_parameters",
            str(error),
            field=next((e["field"] for e in errors if e["field"]), None),
            errors=errors,
        ) from None


def _field_error(text: str, names: set[str]) -> dict[str, str | None]:
    head, sep, rest = text.partition(": ")
    if sep and (head in names or head.isidentifier()):
        return {"field": f"params.{head}", "message": rest}
    return {"field": None, "message": text}


def _may_see(token: ApiToken, repo: RepoRef, command: str) -> bool:
    return token.allows_repository(repo) and token.allows_command(command)


def _metadata(run: Run) -> dict[str, Any]:
    return _metadata_of(
        run.id, len(run.hooks), run.status_comment_id, round(run.duration_ms or 0.0, 1),
        run.state_version,
    )  # fmt: skip


def _metadata_of(
    run_id: str,
    hooks_run: int,
    comment_id: int | None,
    execution_ms: float | None = None,
    state_version: str = "",
) -> dict[str, Any]:
    return {
        "executionTime": execution_ms,
        "hooksRun": hooks_run,
        "stateVersion": state_version or None,
        "auditId": str(comment_id) if comment_id else None,
        "runId": run_id,
    }


def _pending(run_id: str) -> web.Response:
    url = f"/api/runs/{run_id}"
    return web.json_response(
        {"success": None, "runId": run_id, "status": "running", "url": url},
        status=202,
        headers={"Location": url},
    )


def _finished(run: Run | None) -> web.Response:
    if run is None:
        raise ApiError(503, "unavailable", "GitHub or the state store failed; try again later")
    result = {"status": str(run.status), "markdown": run.summary, "error": run.error or None}
    metadata = _metadata(run)
    if run.status in (RunStatus.SUCCEEDED, RunStatus.FAILED):
        body = {
            "success": run.status is RunStatus.SUCCEEDED,
            "result": result,
            "metadata": metadata,
        }
        return web.json_response(body)
    blockers = [h for h in run.hooks if h.verdict is Verdict.BLOCK]
    error = _blocked_error(run, blockers)
    error.details["hooks"] = [{"name": h.name, "reason": h.reason} for h in blockers]
    error.details["metadata"] = metadata
    return error.response()


def _blocked_error(run: Run, blockers: list[Any]) -> ApiError:
    names = [hook.name for hook in blockers]
    message = run.summary or "a hook blocked the run"
    if run.status is RunStatus.REFUSED or PERMISSION_HOOK in names:
        return ApiError(403, "permission_denied", message)
    if BREAKER_HOOK in names:
        retry = _retry_after(blockers, BREAKER_HOOK)
        return ApiError(503, "paused", message, headers={"Retry-After": retry})
    if RATE_LIMIT_HOOK in names:
        retry = _retry_after(blockers, RATE_LIMIT_HOOK)
        return ApiError(429, "rate_limited", message, headers={"Retry-After": retry})
    if CONCURRENCY_HOOK in names:
        return ApiError(409, "busy", message)
    if ARGUMENTS_HOOK in names:
        return ApiError(422, "invalid_parameters", message)
    return ApiError(403, "blocked_by_hook", message)


def _retry_after(blockers: list[Any], name: str) -> str:
    wait = next(h.retry_after_s for h in blockers if h.name == name) or 1.0
    return str(math.ceil(wait))


def _recorded(record: RunRecord) -> web.Response:
    """A run known only from the audit log (older, or from before a restart)."""
    metadata = _metadata_of(record.run_id, len(record.hooks), record.comment_id)
    result = {"status": str(record.status), "markdown": None, "error": record.error or None}
    success = record.status is RunStatus.SUCCEEDED if record.status.is_final else None
    return web.json_response({"success": success, "result": result, "metadata": metadata})
