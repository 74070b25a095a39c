"""The reconciler: what GitHub shows, made to happen (level-triggered, like a controller).

GitHub never redelivers a failed webhook by itself, and a bot that was down saw nothing.
So, at start and every RECONCILE_INTERVAL_SECONDS, one pass:

1. takes up unfinished runs of the inbox that no worker holds (one that broke on a GitHub
   outage, say);
2. sweeps the App's webhook deliveries since its durable cursor (a time) and asks GitHub to
   redeliver every one that never got a 2xx (no answer, or a 5xx: the bot was down or
   could not store it), at most MAX_REDELIVERIES times each, within GitHub's 3 days;
3. for every installation and repository: makes sure the bot's labels exist, enqueues the
   command of every open issue that carries a trigger label (the labeler, from the issue's
   events, is the actor; the run consumes the label, so a label both seen here and
   delivered runs once), and ends visibly any `running`/`queued` label that no run of the
   inbox accounts for.

Step 3 spends the installation's API budget, so an installation with less than
BUDGET_RESERVE of its hourly budget left is skipped until a later pass: people's commands
come first.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from bot.commands.catalogue import Catalogue
from bot.config import StatusLabels
from bot.domain import RepoRef, Request, Source
from bot.github import GitHub, InstallationClient
from bot.github import installations as gh_app
from bot.github import issues as gh_issues
from bot.intake.inbox import Inbox
from bot.intake.intake import Intake
from bot.intake.lifecycle import Lifecycle
from bot.pipeline.runner import label_application

log = logging.getLogger(__name__)

DELIVERIES_CURSOR = "deliveries"
REDELIVERY_WINDOW = timedelta(days=3)
SWEEP_OVERLAP = timedelta(minutes=15)
SWEEP_LIMIT = 5_000
MAX_REDELIVERIES = 3
# Share of an installation's hourly budget kept for people's commands.
BUDGET_RESERVE = 0.2

STALE_NOTE = (
    "A run on this issue was interrupted and no record of it is left, so the bot cannot "
    "finish it. Ask again (comment the command, or apply its label) to run it anew."
)


@dataclass(slots=True)
class PassReport:
    """What one pass did, for logs and tests."""

    resumed: int = 0
    redelivered: int = 0
    enqueued: int = 0
    stale: int = 0
    skipped_installations: int = 0


class Reconciler:
    def __init__(
        self,
        *,
        github: GitHub,
        intake: Intake,
        inbox: Inbox,
        lifecycle: Lifecycle,
        catalogue: Catalogue,
        labels: StatusLabels,
        clock: Callable[[], datetime],
    ):
        self._github = github
        self._intake = intake
        self._inbox = inbox
        self._lifecycle = lifecycle
        self._catalogue = catalogue
        self._labels = labels
        self._clock = clock
        self._task: asyncio.Task[None] | None = None
        self._pass: asyncio.Task[PassReport] | None = None

    def start(self, interval_s: float) -> None:
        """A pass now, then one every `interval_s` (0: only the one now)."""
        self._task = asyncio.ensure_future(self._loop(interval_s))

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def settle(self) -> None:
        """Wait for the pass under way, if any (tests, and `bot` commands that report)."""
        if self._pass is not None:
            await asyncio.gather(self._pass, return_exceptions=True)

    async def _loop(self, interval_s: float) -> None:
        while True:
            self._pass = asyncio.ensure_future(self.run_once())
            try:
                report = await self._pass
                log.info("reconciled: %s", report)
            except Exception:
                log.exception("a reconcile pass failed; the next one tries again")
            if interval_s <= 0:
                return
            await asyncio.sleep(interval_s)

    async def run_once(self) -> PassReport:
        report = PassReport(resumed=await self._intake.resume())
        report.redelivered = await self.sweep()
        await self._inbox.prune()
        for installation_id in await gh_app.installation_ids(self._github):
            gh = self._github.installation(installation_id)
            if _budget_low(gh):
                report.skipped_installations += 1
                log.info("installation %s: API budget low, reconciled later", installation_id)
                continue
            try:
                repos = await gh_app.repositories(gh)
            except Exception:
                log.exception("installation %s: repositories not listed", installation_id)
                continue
            for repo in repos:
                try:
                    await self._reconcile_repo(gh, repo, report)
                except Exception:  # one repository's trouble is not every repository's
                    log.exception("%s: not reconciled; the next pass tries again", repo)
        return report

    # -- missed deliveries -----------------------------------------------------------------

    async def sweep(self) -> int:
        """Ask GitHub to redeliver what never reached the bot; how many it asked for.

        The listing is read newest first, back to a little before where the last sweep
        stopped (SWEEP_OVERLAP: a delivery still in flight then is listed later with an
        earlier time) or 3 days, at most SWEEP_LIMIT items. Looking at a delivery twice is
        harmless: one with a 2xx is skipped, and redeliveries are counted per GUID.
        """
        saved = await self._inbox.cursor(DELIVERIES_CURSOR)
        now = self._clock()
        since = max(
            now - REDELIVERY_WINDOW,
            datetime.fromisoformat(saved) - SWEEP_OVERLAP if saved else now - REDELIVERY_WINDOW,
        )
        attempts: dict[str, list[dict[str, Any]]] = {}
        seen = 0
        async for delivery in gh_app.deliveries(self._github):
            seen += 1
            if _when(delivery) < since or seen > SWEEP_LIMIT:
                break
            attempts.setdefault(str(delivery["guid"]), []).append(delivery)
        redelivered = 0
        for guid, tries in attempts.items():
            if any(_succeeded(t) for t in tries) or not _worth_retrying(tries[0]):
                continue
            if await self._inbox.redeliveries(guid) >= MAX_REDELIVERIES:
                continue
            try:
                await gh_app.redeliver(self._github, int(tries[0]["id"]))
            except Exception as error:  # one refusal (a 422 at the window's edge) is not all
                log.warning("redelivery of %s refused: %r", guid, error)
                continue
            await self._inbox.redelivered(guid)
            redelivered += 1
        await self._inbox.set_cursor(DELIVERIES_CURSOR, now.isoformat())
        if redelivered:
            log.info("asked GitHub to redeliver %d missed deliveries", redelivered)
        return redelivered

    # -- labels ----------------------------------------------------------------------------

    async def _reconcile_repo(
        self, gh: InstallationClient, repo: RepoRef, report: PassReport
    ) -> None:
        await self._lifecycle.ensure(gh, repo)
        for label in self._catalogue.triggers():
            for issue in await gh_issues.list_issues(gh, repo, state="open", labels=label):
                report.enqueued += await self._enqueue(gh, repo, issue, label)
        since = time.time()
        ended: set[int] = set()
        for status_label in (self._labels.running, self._labels.queued):
            for issue in await gh_issues.list_issues(gh, repo, labels=status_label):
                number = int(issue["number"])
                # A run that moved since this pass began owns the label: not stale.
                if number not in ended and not await self._inbox.busy(
                    repo.full_name, number, since - 1.0
                ):
                    ended.add(number)
                    await self._end_stale(gh, repo, number, status_label)
                    report.stale += 1

    async def _enqueue(
        self, gh: InstallationClient, repo: RepoRef, issue: dict[str, Any], label: str
    ) -> int:
        number = int(issue["number"])
        history = await gh_issues.label_history(gh, repo, number)
        event = label_application(history, label.casefold())
        if event is None or not event.get("actor"):
            log.info("%s#%s: %r was applied by a bot or taken off; not run", repo, number, label)
            return 0
        new = 0
        for spec in self._catalogue.by_trigger_label(label):
            if not spec.runnable:
                continue
            request = Request(
                source=Source.RECONCILE,
                command=spec.id,
                args_text="",
                actor=str(event["actor"]["login"]),
                repo=repo,
                issue=number,
                installation_id=gh.installation_id,
                # One label application, one request: a later pass finds the same id.
                delivery_id=f"reconcile:{repo}#{number}:{event['id']}:{spec.id}",
                received_at=self._clock(),
                command_line=f"/{spec.id}",
                issue_labels=frozenset(str(lab["name"]) for lab in issue.get("labels", [])),
                trigger_label=label,
            )
            new += (await self._intake.submit(request))[1]
        return new

    async def _end_stale(
        self, gh: InstallationClient, repo: RepoRef, issue: int, status_label: str
    ) -> None:
        log.warning("%s#%s carries %r for a run that no longer exists", repo, issue, status_label)
        await gh_issues.create_comment(gh, repo, issue, STALE_NOTE)
        await gh_issues.add_labels(gh, repo, issue, [self._labels.failed])
        for label in (self._labels.running, self._labels.queued):
            await gh_issues.remove_label(gh, repo, issue, label)


def _budget_low(gh: InstallationClient) -> bool:
    budget = gh.budget
    return budget is not None and budget[0] < BUDGET_RESERVE * budget[1]


def _when(delivery: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(str(delivery["delivered_at"]).replace("Z", "+00:00")).astimezone(
        UTC
    )


def _succeeded(delivery: dict[str, Any]) -> bool:
    return 200 <= int(delivery.get("status_code") or 0) < 300


def _worth_retrying(delivery: dict[str, Any]) -> bool:
    """No answer, or a server error: the bot was down or could not store it. A 4xx was the
    bot refusing the delivery itself (a bad signature, say); sending it again changes
    nothing."""
    code = int(delivery.get("status_code") or 0)
    return code == 0 or code >= 500
