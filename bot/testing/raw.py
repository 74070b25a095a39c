"""Gist files' `raw_url`s: the full content as text, as gist.githubusercontent.com serves it.

Not part of the REST API: no credential needed (the URL is the secret), no rate limit, not
validated against the description and not recorded in `requests`. The URL names the
revision, so it keeps serving what the file held then.
"""

from __future__ import annotations

import asyncio

from aiohttp import web

from bot.testing.faults import Latency
from bot.testing.gist_render import RAW_PREFIX
from bot.testing.gists import Gists


class RawFiles:
    def __init__(self, gists: Gists, latency: Latency) -> None:
        self._gists = gists
        self._latency = latency

    def routes(self) -> list[web.RouteDef]:
        return [web.get(f"{RAW_PREFIX}/{{gist_id}}/{{version}}/{{filename}}", self.serve)]

    async def serve(self, request: web.Request) -> web.Response:
        # The download is an answer from GitHub like any other, so it is as slow.
        delay = self._latency.draw()
        if delay:
            await asyncio.sleep(delay)
        info = request.match_info
        gist = self._gists.get(info["gist_id"])
        revision = gist.revision(info["version"]) if gist else None
        content = revision.files.get(info["filename"]) if revision else None
        if content is None:
            return web.Response(status=404, text="404: Not Found", content_type="text/plain")
        return web.Response(text=content, content_type="text/plain", charset="utf-8")
