"""Records runs on their issue: the status comment, reactions and the status label."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Collection

from cachetools import LRUCache

from bot.config import StatusLabels
from bot.domain import RepoRef, Request, Run, RunStatus, Source
from bot.github import InstallationClient
from bot.github import issues as gh_issues
from bot.report import render
from bot.report.labels import label_change

log = logging.getLogger(__name__)


class Reporter:
    def __init__(self, labels: StatusLabels):
        self.labels = labels
        # The status label this process last put on each issue: another run on the issue
        # (one that does not wait its turn, such as /cancel) may have moved it meanwhile.
        self._shown: LRUCache[tuple[RepoRef, int], str] = LRUCache(maxsize=10_000)

    async def acknowledge(self, gh: InstallationClient, request: Request) -> None:
        """👀 on the comment that asked (on the issue, for a trigger label)."""
        await self._react(gh, request, render.ACKNOWLEDGE_REACTION)

    async def claim(self, gh: InstallationClient, request: Request) -> None:
        """Take the trigger label off the issue (gone already is fine: an earlier attempt of
        this run took it) and show the request as queued."""
        assert request.trigger_label is not None
        await gh_issues.remove_label(gh, request.repo, request.issue, request.trigger_label)
        await gh_issues.add_labels(gh, request.repo, request.issue, [self.labels.queued])

    async def start(self, gh: InstallationClient, run: Run, *, resumed: bool = False) -> None:
        """Post the run's one status comment.

        A `resumed` run may have posted its comment before the bot stopped: that comment
        (found by the run's marker) is edited instead of posting a second one.
        """
        request = run.request
        body = render.status_comment(run)
        marker = render.marker(run.id)
        found = None
        if resumed:
            found = await gh_issues.comment_with(gh, request.repo, request.issue, marker)
        if found is not None:
            await gh_issues.edit_comment(gh, request.repo, found, body)
            run.status_comment_id = found
        else:
            run.status_comment_id = await gh_issues.create_comment(
                gh, request.repo, request.issue, body, marker=marker
            )

    async def show_running(
        self, gh: InstallationClient, request: Request, present: Collection[str]
    ) -> None:
        """Move the issue's status label to `running`."""
        await self._move_label(gh, request, present, RunStatus.RUNNING)

    async def finish(self, gh: InstallationClient, run: Run, present: Collection[str]) -> None:
        """Edit the status comment into the result, react, and move the label."""
        request = run.request
        assert run.status_comment_id is not None, "finish() follows start()"
        try:
            await gh_issues.edit_comment(
                gh, request.repo, run.status_comment_id, render.status_comment(run)
            )
        except gh_issues.Gone:  # someone deleted it; the record in state stands
            log.warning("run %s: its status comment was deleted", run.id)
        # The result is on the issue; the reaction and the label follow it together.
        await asyncio.gather(
            self._react(gh, request, render.FINAL_REACTIONS[run.status]),
            self._move_label(gh, request, present, run.status),
        )

    async def suggest(
        self,
        gh: InstallationClient,
        repo: RepoRef,
        issue: int,
        suggestions: list[tuple[str, str]],
    ) -> None:
        await gh_issues.create_comment(gh, repo, issue, render.did_you_mean(suggestions))

    async def _react(self, gh: InstallationClient, request: Request, content: str) -> None:
        if request.comment_id is not None:
            # The comment that asked may have been deleted since: nothing to react on.
            with contextlib.suppress(gh_issues.Gone):
                await gh_issues.react_to_comment(gh, request.repo, request.comment_id, content)
        elif request.source is Source.LABEL:
            # Someone acted on the issue itself; it is where they will look.
            await gh_issues.react_to_issue(gh, request.repo, request.issue, content)
        # Calls from outside GitHub have nobody on the issue to answer: the status comment
        # and the label record them, and the caller has its own answer.

    async def _move_label(
        self,
        gh: InstallationClient,
        request: Request,
        present: Collection[str],
        status: RunStatus,
    ) -> None:
        """Move the status label from those in `present` (the labels the run knows of)
        and the one this process last put on the issue: another run on the issue may have
        moved it since (one that does not wait its turn, such as /cancel)."""
        key = (request.repo, request.issue)
        present = {*present, self._shown.get(key, "")} - {""}
        change = label_change(present, status, self.labels)
        self._shown[key] = self.labels.for_status(status)
        if change.add:
            await gh_issues.add_labels(gh, request.repo, request.issue, list(change.add))
        for name in change.remove:
            await gh_issues.remove_label(gh, request.repo, request.issue, name)
