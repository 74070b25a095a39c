"""Intake's run control against a stand-in pipeline: /cancel at any point of a run ends it
exactly once, done in the inbox; a retry from outside GitHub is refused."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from bot.commands.context import Cancelling, PastRun, RetryRefused
from bot.domain import Permission, RepoRef, Request, Run, RunStatus, Source
from bot.intake.inbox import Inbox, Phase
from bot.intake.intake import Intake
from bot.metrics import Metrics


def request(source: Source = Source.COMMENT, **changes: Any) -> Request:
    fields: dict[str, Any] = {
        "source": source,
        "command": "slow",
        "args_text": "",
        "actor": "alice",
        "repo": RepoRef("o", "r"),
        "issue": 1,
        "installation_id": 1,
        "delivery_id": "d1",
        "received_at": datetime.now(UTC),
        "command_line": "/slow",
    }
    return Request(**(fields | changes))


class StandIn:
    """The pipeline's surface that intake uses; `claim` and `run` wait on `gates`."""

    def __init__(self) -> None:
        self.reached: dict[str, asyncio.Event] = {n: asyncio.Event() for n in ("claim", "run")}
        self.gates: dict[str, asyncio.Event] = {n: asyncio.Event() for n in ("claim", "run")}
        self.ended: list[tuple[RunStatus, str]] = []
        self.ending = asyncio.Event()
        self.slow_end = False

    async def claim(
        self, request: Request, gh: object, hold: Callable[[str], Awaitable[bool]]
    ) -> bool:
        self.reached["claim"].set()
        await self.gates["claim"].wait()
        return True

    async def run(self, request: Request, gh: object, recorded: object = None, **_: object) -> Run:
        self.reached["run"].set()
        await self.gates["run"].wait()
        return Run(id="r", request=request, status=RunStatus.SUCCEEDED)

    async def end(
        self, request: Request, gh: object, status: RunStatus, reason: str, *, resumed: bool
    ) -> Run:
        self.ending.set()
        if self.slow_end:
            await asyncio.sleep(0.1)
        self.ended.append((status, reason))
        return Run(id="r", request=request, status=status)


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[tuple[Intake, StandIn, Inbox]]:
    inbox = Inbox(tmp_path / "inbox.sqlite3")
    await inbox.open()
    pipeline = StandIn()
    intake = Intake(
        catalogue=SimpleNamespace(get=lambda _: SimpleNamespace(ordered=True)),  # type: ignore[arg-type]
        pipeline=pipeline,  # type: ignore[arg-type]
        reporter=None,  # type: ignore[arg-type]
        github=SimpleNamespace(installation=lambda _: None),  # type: ignore[arg-type]
        inbox=inbox,
        lifecycle=None,  # type: ignore[arg-type]
        metrics=Metrics(),
        clock=lambda: datetime.now(UTC),
        workers=4,
    )
    yield intake, pipeline, inbox
    for gate in pipeline.gates.values():
        gate.set()
    await intake.drain()
    await inbox.close()


@pytest.mark.parametrize("point", ["claim", "run"])
async def test_a_cancel_at_any_point_ends_the_run_once(
    world: tuple[Intake, StandIn, Inbox], point: str
) -> None:
    intake, pipeline, inbox = world
    if point == "run":
        pipeline.gates["claim"].set()
    run_id, _ = await intake.submit(request())
    await asyncio.wait_for(pipeline.reached[point].wait(), 5)
    assert await intake.cancel(run_id, "@bob") is Cancelling.STOPPING
    await intake.drain()
    job = await inbox.job(run_id)
    assert job is not None
    assert job.phase is Phase.DONE
    assert pipeline.ended == [(RunStatus.CANCELLED, "Cancelled by @bob while it ran.")]


async def test_a_second_cancel_does_not_interrupt_the_first(
    world: tuple[Intake, StandIn, Inbox],
) -> None:
    intake, pipeline, inbox = world
    pipeline.slow_end = True
    pipeline.gates["claim"].set()
    run_id, _ = await intake.submit(request())
    await asyncio.wait_for(pipeline.reached["run"].wait(), 5)
    assert await intake.cancel(run_id, "@bob") is Cancelling.STOPPING
    await asyncio.wait_for(pipeline.ending.wait(), 5)
    assert await intake.cancel(run_id, "@carol") is Cancelling.STOPPING
    await intake.drain()
    assert pipeline.ended == [(RunStatus.CANCELLED, "Cancelled by @bob while it ran.")]
    job = await inbox.job(run_id)
    assert job is not None
    assert job.phase is Phase.DONE


async def test_a_queued_run_is_dropped_and_done_in_the_inbox(
    world: tuple[Intake, StandIn, Inbox],
) -> None:
    intake, pipeline, inbox = world
    await intake.submit(request())
    second, _ = await intake.submit(request(delivery_id="d2"))
    await asyncio.wait_for(pipeline.reached["claim"].wait(), 5)
    assert await intake.cancel(second, "@bob") is Cancelling.DROPPED
    assert await intake.cancel(second, "@bob") is Cancelling.UNKNOWN
    job = await inbox.job(second)
    assert job is not None
    assert (job.phase, job.outcome) == (Phase.DONE, "cancelled")
    assert pipeline.ended == [(RunStatus.CANCELLED, "Cancelled by @bob before it started.")]
    pipeline.gates["claim"].set()
    pipeline.gates["run"].set()
    await intake.drain()
    assert (await intake.resume()) == 0  # nothing left to take up


async def test_a_retry_asked_outside_github_is_refused(
    world: tuple[Intake, StandIn, Inbox],
) -> None:
    intake, _, _ = world
    past = PastRun("abc", "generate-report", RunStatus.FAILED, 1, None, "since=7d")
    asked = request(Source.API, command="retry", granted_permission=Permission.WRITE)
    with pytest.raises(RetryRefused, match="call /generate-report itself"):
        await intake.retry(past, asked)
