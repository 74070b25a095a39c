"""Who may run what: the commenter's permission on the repository.

An actor outside GitHub (an API token, a webhook source) acts with the role the App's
configuration grants it. The payload's author association answers for repository owners at
no cost; anyone else
is looked up with GitHub's collaborator-permission endpoint and cached for a while, so a
busy issue does not spend the API budget on the same question.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from cachetools import TTLCache

from bot.domain import Permission, Request
from bot.github import InstallationClient
from bot.github import issues as gh_issues


class PermissionResolver:
    def __init__(self, ttl_seconds: float, *, timer: Callable[[], float] = time.monotonic):
        self._cache: TTLCache[tuple[int, str, str], Permission] = TTLCache(
            maxsize=10_000, ttl=ttl_seconds, timer=timer
        )

    async def resolve(self, gh: InstallationClient, request: Request) -> Permission:
        if request.granted_permission is not None:
            return request.granted_permission
        if request.actor_association == "OWNER":
            return Permission.ADMIN
        key = (request.installation_id, request.repo.full_name, request.actor.lower())
        cached = self._cache.get(key)
        if cached is not None:
            return cached
        permission = await gh_issues.collaborator_permission(gh, request.repo, request.actor)
        self._cache[key] = permission
        return permission
