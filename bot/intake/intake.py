"""Intake: accept a verified delivery, answer at once, do the work in the background.

The HTTP answer never waits for GitHub: `accept` decides synchronously (pure
`interpret`), schedules the work and returns. Deliveries are deduplicated by
`X-GitHub-Delivery` (GitHub keeps the id on redelivery), in memory for now.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cachetools import TTLCache

from bot.commands.catalogue import Catalogue
from bot.domain import Request
from bot.github import GitHub
from bot.intake.events import Accepted, Ignored, Suggestions, interpret
from bot.metrics import Metrics
from bot.pipeline import Pipeline
from bot.report import Reporter

log = logging.getLogger(__name__)

# GitHub lets an App redeliver for 3 days; remember ids at least that long.
DEDUPE_SECONDS = 3 * 24 * 3600


@dataclass(frozen=True, slots=True)
class Receipt:
    """What intake tells the sender."""

    status: str  # accepted | ignored | duplicate
    detail: str
    runs: int = 0


class Intake:
    def __init__(
        self,
        *,
        catalogue: Catalogue,
        pipeline: Pipeline,
        reporter: Reporter,
        github: GitHub,
        metrics: Metrics,
        clock: Callable[[], datetime],
    ):
        self._catalogue = catalogue
        self._pipeline = pipeline
        self._reporter = reporter
        self._github = github
        self._metrics = metrics
        self._clock = clock
        self._seen: TTLCache[str, bool] = TTLCache(maxsize=1_000_000, ttl=DEDUPE_SECONDS)
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def in_flight(self) -> int:
        return len(self._tasks)

    def accept(self, event: str, payload: Mapping[str, Any], delivery_id: str) -> Receipt:
        """Decide and schedule; raises PayloadError for a malformed payload."""
        if delivery_id in self._seen:
            self._metrics.inc("deliveries_total", outcome="duplicate")
            return Receipt("duplicate", f"delivery {delivery_id} was already accepted")
        decision = interpret(
            event,
            payload,
            delivery_id=delivery_id,
            catalogue=self._catalogue,
            received_at=self._clock(),
        )
        self._seen[delivery_id] = True
        if isinstance(decision, Ignored):
            self._metrics.inc("deliveries_total", outcome="ignored")
            return Receipt("ignored", decision.reason)
        self._metrics.inc("deliveries_total", outcome="accepted")
        self._spawn(self._work(decision))
        return Receipt("accepted", f"{len(decision.requests)} command(s)", len(decision.requests))

    async def drain(self) -> None:
        """Wait for the work in flight (at shutdown, and in tests)."""
        while self._tasks:
            await asyncio.wait(set(self._tasks))

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _work(self, accepted: Accepted) -> None:
        if accepted.suggestions is not None:
            await self._suggest(accepted.suggestions)
        # Commands of one comment run in the order they were written.
        for request in accepted.requests:
            await self._run(request)

    async def _run(self, request: Request) -> None:
        gh = self._github.installation(request.installation_id)
        try:
            run = await self._pipeline.run(request, gh)
        except Exception:
            # The pipeline records a handler's failure itself; reaching here means GitHub
            # or the store failed while recording the run. Logged and counted.
            log.exception("run of /%s on %s#%s broke", request.command, request.repo, request.issue)
            self._metrics.inc("runs_total", status="broken")
            return
        self._metrics.inc("runs_total", status=str(run.status))

    async def _suggest(self, suggestions: Suggestions) -> None:
        gh = self._github.installation(suggestions.installation_id)
        try:
            await self._reporter.suggest(
                gh, suggestions.repo, suggestions.issue, list(suggestions.pairs)
            )
        except Exception:
            log.exception("could not answer near-miss commands on %s", suggestions.repo)
