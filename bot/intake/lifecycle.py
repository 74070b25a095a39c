"""Installation lifecycle: the bot's labels on every repository it works on.

`installation.created` and `installation_repositories.added` create the labels at once;
the reconciler calls `ensure` for every repository once per process as well, so a missed
or crashed installation event is made good (level-triggered). Creating is idempotent: a
label that exists (GitHub's 422) is left as people styled it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from bot.commands.catalogue import Catalogue
from bot.config import StatusLabels
from bot.domain import RepoRef
from bot.github import GitHub, InstallationClient
from bot.github import issues as gh_issues
from bot.report.labels import LabelSpec, bot_labels

log = logging.getLogger(__name__)


class Lifecycle:
    def __init__(self, github: GitHub, labels: StatusLabels, catalogue: Catalogue):
        self._github = github
        self.labels: list[LabelSpec] = bot_labels(labels, catalogue.triggers())
        # Repositories whose labels this process has made sure of.
        self._ready: set[RepoRef] = set()

    async def installed(self, installation_id: int, repos: Iterable[RepoRef]) -> None:
        gh = self._github.installation(installation_id)
        for repo in repos:
            try:
                await self.ensure(gh, repo)
            except Exception:
                log.exception("labels for %s not created; the reconciler tries again", repo)

    async def ensure(self, gh: InstallationClient, repo: RepoRef) -> int:
        """Create the bot's labels `repo` lacks (once per process); how many it created."""
        if repo in self._ready:
            return 0
        present = {name.casefold() for name in await gh_issues.repo_label_names(gh, repo)}
        created = 0
        for label in self.labels:
            if label.name.casefold() not in present:
                created += await gh_issues.create_label(
                    gh, repo, label.name, label.color, label.description
                )
        self._ready.add(repo)
        if created:
            log.info("%s: created %d label(s)", repo, created)
        return created
