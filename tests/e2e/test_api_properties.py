"""A property-based run against the REST API's OpenAPI document: whatever a caller sends,
the answer is never a 5xx and always matches the document (tests/e2e/api_client.py).

The bot and the emulator run on a loop of their own in a thread, so that hypothesis drives
plain synchronous examples.
"""

from __future__ import annotations

import asyncio
import json
import threading
import urllib.parse
from collections.abc import Coroutine, Iterator
from concurrent.futures import Future
from pathlib import Path
from typing import Any, TypeVar

import aiohttp
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from bot.commands.context import CommandContext, Outcome
from bot.commands.handlers import HANDLERS
from bot.sandbox import REPO
from bot.testing import KeyPair
from tests.conftest import Harness, running
from tests.e2e.api_client import Answer, call
from tests.e2e.projects import api_token, write_project

_T = TypeVar("_T")


class Background:
    """The bot and emulator on a loop in a thread; `run` executes a coroutine there."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._thread.start()

    def run(self, coroutine: Coroutine[Any, Any, _T]) -> _T:
        future: Future[_T] = asyncio.run_coroutine_threadsafe(coroutine, self.loop)
        return future.result(timeout=30)

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=10)
        self.loop.close()


async def echo(ctx: CommandContext) -> Outcome:
    return Outcome(markdown=f"echo: {ctx.params['text']}")


@pytest.fixture(scope="module")
def live(
    tmp_path_factory: pytest.TempPathFactory, app_keys: KeyPair
) -> Iterator[tuple[Background, Harness, aiohttp.ClientSession, str]]:
    tmp_path: Path = tmp_path_factory.mktemp("api-properties")
    claude = write_project(tmp_path, {}, {})
    token = api_token(tmp_path / "data" / "api-tokens.json", "fuzz", rate_limit="none")
    background = Background()
    context = running(
        tmp_path / "data",
        app_keys,
        claude_dir=claude,
        handlers={**HANDLERS, "echo": echo},
        rate_limit="none",
        github_writes_per_minute=100_000,  # the emulator takes more than GitHub's 80
    )

    async def start() -> tuple[Harness, aiohttp.ClientSession]:
        return await context.__aenter__(), aiohttp.ClientSession()

    harness, session = background.run(start())
    yield background, harness, session, token

    async def stop() -> None:
        await session.close()
        await harness.settle()
        await context.__aexit__(None, None, None)

    background.run(stop())
    background.stop()


scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**40), max_value=2**40),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=20),
)
json_values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3), max_leaves=5)
contexts = st.fixed_dictionaries(
    {
        "repository": st.one_of(st.just(REPO), st.just("demo/other"), st.text(max_size=15)),
        "issue": st.one_of(st.integers(min_value=-3, max_value=12), st.integers()),
    }
)
params = st.dictionaries(
    st.one_of(st.sampled_from(["text", "since", "label", "colour"]), st.text(max_size=8)),
    st.one_of(scalars, st.sampled_from(["7d", "30d", "2026-11-01", "soon"])),
    max_size=3,
)
bodies = st.one_of(
    st.fixed_dictionaries({"params": params, "context": contexts}),
    st.fixed_dictionaries({"context": contexts}),
    st.dictionaries(st.text(max_size=8), json_values, max_size=3),
    json_values,
)
names = st.one_of(
    st.sampled_from(["echo", "generate-report", "help", "ecko"]), st.text(min_size=1, max_size=12)
)


# Calls that mostly make sense (real commands, a valid token, the demo repository), so that
# runs start and end, and calls of any shape at all.
sensible_calls = st.fixed_dictionaries(
    {
        "name": st.sampled_from(["echo", "generate-report", "help", "ecko"]),
        "body": st.fixed_dictionaries(
            {
                "params": params,
                "context": st.fixed_dictionaries(
                    {"repository": st.just(REPO), "issue": st.integers(min_value=1, max_value=12)}
                ),
            }
        ),
        "auth": st.just("valid"),
        "raw": st.none(),
    }
)
any_calls = st.fixed_dictionaries(
    {
        "name": names,
        "body": bodies,
        "auth": st.sampled_from(["valid", "invalid", "none"]),
        "raw": st.one_of(st.none(), st.binary(max_size=40)),
    }
)


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(request=st.one_of(sensible_calls, any_calls))
def test_no_5xx_and_every_answer_matches_the_document(
    live: tuple[Background, Harness, aiohttp.ClientSession, str], request: dict[str, Any]
) -> None:
    background, harness, session, token = live
    path = "/api/commands/" + urllib.parse.quote(request["name"], safe="")
    presented = {"valid": token, "invalid": "iqb_wrong", "none": None}[request["auth"]]
    raw = request["raw"]
    data = raw if raw is not None else json.dumps(request["body"]).encode()
    answer: Answer = background.run(
        call(
            session,
            harness.bot_url,
            "POST",
            path,
            token=presented,
            data=data,
            headers={"Content-Type": "application/json"},
        )
    )
    event(f"status {answer.status}")
    assert answer.status < 500
    run_id = answer.body.get("runId") or (answer.body.get("metadata") or {}).get("runId")
    if run_id is not None:
        polled = background.run(
            call(session, harness.bot_url, "GET", f"/api/runs/{run_id}", token=token)
        )
        assert polled.status < 500


@settings(max_examples=30, deadline=None)
@given(run_id=st.text(min_size=1, max_size=20))
def test_unknown_runs_are_404(
    live: tuple[Background, Harness, aiohttp.ClientSession, str], run_id: str
) -> None:
    background, harness, session, token = live
    path = "/api/runs/" + urllib.parse.quote(run_id, safe="")
    answer = background.run(call(session, harness.bot_url, "GET", path, token=token))
    assert answer.status == 404
