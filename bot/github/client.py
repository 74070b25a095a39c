"""One gidgethub client per installation; every GitHub call goes through it.

Each installation gets its own gidgethub `GitHubAPI` with its own ETag cache: gidgethub
keys its cache by URL alone, so a shared cache would serve one installation's response to
another. Calls are counted by method and URL template, the figure behind "calls per command"
(a paginated listing counts once, however many pages it reads).
"""

from __future__ import annotations

import asyncio
import functools
from collections import Counter
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp
from cachetools import LRUCache, TTLCache
from gidgethub import BadRequest
from gidgethub.aiohttp import GitHubAPI
from uritemplate import URITemplate

from bot.domain import RepoRef
from bot.github.auth import AppAuth
from bot.github.resilience import ResilientGitHubAPI

USER_AGENT = "issue-queue-bot"
UrlVars = Mapping[str, str | int]


@functools.lru_cache(maxsize=512)
def _template(url: str) -> URITemplate:
    return URITemplate(url)


def _expanded(url: str, url_vars: UrlVars | None) -> str:
    """`url` with its variables filled in. gidgethub would parse the template again at
    every call, a fifth of what a call costs the bot; the few templates are parsed once."""
    return _template(url).expand(dict(url_vars)) if url_vars else url


class InstallationClient:
    def __init__(self, api: GitHubAPI, token_api: GitHubAPI, auth: AppAuth, installation_id: int):
        self._api = api
        self._token_api = token_api
        self._auth = auth
        self.installation_id = installation_id
        self.calls: Counter[str] = Counter()
        # Identical GETs in flight share one request (and its answer).
        self._reading: dict[tuple[str, tuple[tuple[str, str | int], ...]], asyncio.Future[Any]] = {}

    async def _token(self) -> str:
        return await self._auth.installation_token(self._token_api, self.installation_id)

    @property
    def budget(self) -> tuple[int, int] | None:
        """(requests left, hourly limit) of this installation, as GitHub last said."""
        limit = self._api.rate_limit
        return None if limit is None else (int(limit.remaining), int(limit.limit))

    def _count(self, method: str, url: str) -> None:
        self.calls[f"{method} {url}"] += 1

    async def get(self, url: str, url_vars: UrlVars | None = None) -> Any:
        key = (url, tuple(sorted((url_vars or {}).items())))
        shared = self._reading.get(key)
        if shared is not None:
            return await asyncio.shield(shared)
        self._count("GET", url)
        reading = asyncio.ensure_future(self._get(url, url_vars))
        self._reading[key] = reading
        reading.add_done_callback(lambda _: self._reading.pop(key, None))
        return await asyncio.shield(reading)

    async def _get(self, url: str, url_vars: UrlVars | None) -> Any:
        return await self._api.getitem(_expanded(url, url_vars), oauth_token=await self._token())

    async def get_all(
        self, url: str, url_vars: UrlVars | None = None, *, items: str = "items"
    ) -> list[Any]:
        """Every page of a listing, following GitHub's Link headers; a page that is an
        object holds its list under `items`."""
        token = await self._token()
        self._count("GET", url)
        pages = self._api.getiter(_expanded(url, url_vars), oauth_token=token, iterable_key=items)
        return [item async for item in pages]

    async def post(self, url: str, url_vars: UrlVars | None = None, *, data: Any) -> Any:
        self._count("POST", url)
        return await self._api.post(
            _expanded(url, url_vars), data=data, oauth_token=await self._token()
        )

    async def patch(self, url: str, url_vars: UrlVars | None = None, *, data: Any) -> Any:
        self._count("PATCH", url)
        return await self._api.patch(
            _expanded(url, url_vars), data=data, oauth_token=await self._token()
        )

    async def delete(self, url: str, url_vars: UrlVars | None = None) -> None:
        self._count("DELETE", url)
        await self._api.delete(_expanded(url, url_vars), oauth_token=await self._token())


class GitHub:
    """The App's view of GitHub: hands out one client per installation."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        auth: AppAuth,
        *,
        base_url: str,
        cache_size: int = 500,
        limits: ClientLimits | None = None,
    ) -> None:
        self._session = session
        self._auth = auth
        self._base_url = base_url
        self._cache_size = cache_size
        self._limits = limits or ClientLimits()
        # The App's own calls (tokens, installations) under its JWT: a budget of their own.
        self._token_api = self._api(cache=None)
        self._clients: dict[int, InstallationClient] = {}
        # Which installation serves a repository rarely changes; a removal shows as a 404.
        self._installation_of: TTLCache[str, int] = TTLCache(maxsize=10_000, ttl=600)

    async def installation_id_for(self, repo: RepoRef) -> int | None:
        """The installation that serves `repo`, or None when the App is not installed there."""
        key = repo.full_name.lower()
        found = self._installation_of.get(key)
        if found is not None:
            return found
        try:
            data = await self._token_api.getitem(
                "/repos/{owner}/{repo}/installation",
                {"owner": repo.owner, "repo": repo.name},
                jwt=self._auth.jwt(),
            )
        except BadRequest as error:
            if error.status_code == 404:
                return None
            raise
        self._installation_of[key] = int(data["id"])
        return int(data["id"])

    def app_iter(self, url: str, url_vars: UrlVars | None = None) -> AsyncIterator[Any]:
        """The items of a listing the App reads as itself (its JWT), page after page, read
        only as far as the caller goes."""
        return self._token_api.getiter(url, url_vars or {}, jwt=self._auth.jwt())

    async def app_post(self, url: str, url_vars: UrlVars | None = None, *, data: Any) -> Any:
        return await self._token_api.post(url, url_vars or {}, data=data, jwt=self._auth.jwt())

    def installation(self, installation_id: int) -> InstallationClient:
        client = self._clients.get(installation_id)
        if client is None:
            # One client, cache and budget per installation: no installation ever sees
            # another's cached answer, and one's rate limit never stops another.
            api = self._api(cache=LRUCache(maxsize=self._cache_size))
            client = InstallationClient(api, self._token_api, self._auth, installation_id)
            self._clients[installation_id] = client
        return client

    def _api(self, cache: LRUCache[str, Any] | None) -> ResilientGitHubAPI:
        return ResilientGitHubAPI(
            self._session,
            USER_AGENT,
            base_url=self._base_url,
            cache=cache,
            max_in_flight=self._limits.max_in_flight,
            writes_per_minute=self._limits.writes_per_minute,
            backoff_base_s=self._limits.backoff_base_s,
        )


@dataclass(frozen=True, slots=True)
class ClientLimits:
    """How hard the bot may push one installation (docs: bot/github/resilience.py)."""

    max_in_flight: int = 10
    writes_per_minute: int = 80
    backoff_base_s: float = 0.5
