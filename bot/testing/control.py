"""A small HTTP API under `/_emulator/` so another process (`bot try`) can drive a running
emulator. It is neither validated against GitHub's description nor recorded in `requests`.

- `POST /_emulator/comment` with `{"repo", "issue", "user", "body"}`: a person comments;
  answers `{"delivery_id", "status", "ok"}` once the bot has answered the delivery.
- `GET /_emulator/issues/{owner}/{repo}/{number}`: the issue as `IssueView` JSON.
- `GET /_emulator/requests?after=<index>`: `{"requests": [...], "next": <index>}`, the
  GitHub API requests recorded from `after` on, each with its `index`; poll with `next`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aiohttp import web

if TYPE_CHECKING:
    from bot.testing.emulator import GitHubEmulator

PREFIX = "/_emulator"


class ControlApi:
    def __init__(self, emulator: GitHubEmulator) -> None:
        self._emulator = emulator

    def routes(self) -> list[web.RouteDef]:
        return [
            web.post(f"{PREFIX}/comment", self.comment),
            web.get(f"{PREFIX}/issues/{{owner}}/{{repo}}/{{number:\\d+}}", self.issue),
            web.get(f"{PREFIX}/requests", self.requests),
        ]

    async def comment(self, request: web.Request) -> web.Response:
        try:
            data = await request.json()
            repo, issue = str(data["repo"]), int(data["issue"])
            user, body = str(data["user"]), str(data["body"])
        except (ValueError, KeyError, TypeError) as exc:
            return _error(400, f"expected JSON {{repo, issue, user, body}}: {exc}")
        try:
            delivery = await self._emulator.comment(repo, issue, user, body)
        except KeyError as exc:
            return _error(404, str(exc.args[0]))
        except RuntimeError as exc:
            return _error(409, str(exc))
        return web.json_response(
            {"delivery_id": delivery.id, "status": delivery.status_code, "ok": delivery.ok}
        )

    async def issue(self, request: web.Request) -> web.Response:
        info = request.match_info
        try:
            view = self._emulator.issue_view(f"{info['owner']}/{info['repo']}", int(info["number"]))
        except KeyError as exc:
            return _error(404, str(exc.args[0]))
        return web.json_response(view.as_json())

    async def requests(self, request: web.Request) -> web.Response:
        try:
            after = int(request.query.get("after", "0"))
        except ValueError:
            return _error(400, "'after' must be an integer")
        recorded = self._emulator.requests
        items: list[dict[str, Any]] = [
            {"index": index, **recorded[index].as_json()}
            for index in range(max(after, 0), len(recorded))
        ]
        return web.json_response({"requests": items, "next": len(recorded)})


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)
