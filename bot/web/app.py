"""HTTP: the GitHub webhook, the REST command API and external webhooks (bot/web/api.py,
bot/web/external.py), health, readiness and metrics.

The webhook answers every input precisely (invariant 6): a wrong or missing signature is
401, a body that is not a JSON object 400, a payload over GitHub's 25 MB cap 413, a
missing delivery header 400, an event the bot does not handle 200 and nothing done.
"""

from __future__ import annotations

import logging
from typing import Any

from aiohttp import web
from gidgethub import ValidationFailure
from gidgethub.sansio import validate_event

from bot.intake import Intake, PayloadError
from bot.intake.inbox import InboxError
from bot.metrics import Metrics
from bot.web.api import CommandApi
from bot.web.body import load_github_json
from bot.web.external import ExternalWebhooks

log = logging.getLogger(__name__)


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


class WebhookView:
    def __init__(self, intake: Intake, secret: str, metrics: Metrics):
        self._intake = intake
        self._secret = secret
        self._metrics = metrics

    async def post(self, request: web.Request) -> web.Response:
        try:
            body = await request.read()
        except web.HTTPRequestEntityTooLarge:
            self._metrics.inc("webhook_rejected_total", reason="too_large")
            return _error(413, "payload too large: GitHub sends at most 25 MB")
        rejection = self._reject(request.headers, body)
        if rejection is not None:
            self._metrics.inc("webhook_rejected_total", reason=str(rejection.status))
            return rejection
        event = request.headers["X-GitHub-Event"]
        delivery_id = request.headers["X-GitHub-Delivery"]
        try:
            payload = load_github_json(body)
        except ValueError:
            return _error(400, "body is not valid JSON")
        if not isinstance(payload, dict):
            return _error(400, "body is not a JSON object")
        if event == "ping":
            return web.json_response({"status": "pong", "zen": payload.get("zen", "")})
        try:
            receipt = await self._intake.accept(event, payload, delivery_id)
        except PayloadError as error:
            return _error(400, str(error))
        except InboxError as error:
            # Not accepted: GitHub records the delivery as failed, and it can be redelivered.
            log.error("delivery %s not accepted: %s", delivery_id, error)
            return _error(503, "the bot cannot store deliveries right now; redeliver later")
        log.info("delivery %s (%s): %s, %s", delivery_id, event, receipt.status, receipt.detail)
        status = 202 if receipt.status == "accepted" else 200
        return web.json_response(
            {"status": receipt.status, "detail": receipt.detail, "runs": receipt.runs},
            status=status,
        )

    def _reject(self, headers: Any, body: bytes) -> web.Response | None:
        signature = headers.get("X-Hub-Signature-256")
        if not signature:
            return _error(401, "missing X-Hub-Signature-256: is the webhook secret set on GitHub?")
        try:
            validate_event(body, signature=signature, secret=self._secret)
        except ValidationFailure:
            return _error(401, "signature does not match: check WEBHOOK_SECRET")
        for header in ("X-GitHub-Event", "X-GitHub-Delivery"):
            if not headers.get(header):
                return _error(400, f"missing {header} header")
        return None


def create_app(
    *,
    intake: Intake,
    webhook_secret: str,
    webhook_path: str,
    max_payload_bytes: int,
    metrics: Metrics,
    command_api: CommandApi,
    external: ExternalWebhooks,
) -> web.Application:
    app = web.Application(client_max_size=max_payload_bytes)
    webhook = WebhookView(intake, webhook_secret, metrics)
    # First: the API's catch-all for unknown /api/ paths must not take GitHub's webhook.
    app.router.add_post(webhook_path, webhook.post)
    app.router.add_routes(command_api.routes())
    app.router.add_routes(external.routes())

    async def healthz(_: web.Request) -> web.Response:
        return web.json_response({"status": "ok", "in_flight": intake.in_flight})

    async def readyz(_: web.Request) -> web.Response:
        # Everything is built before the app serves, so serving means ready.
        return web.json_response({"status": "ready"})

    async def metrics_view(_: web.Request) -> web.Response:
        text = metrics.render({"runs_in_flight": intake.in_flight})
        return web.Response(text=text, content_type="text/plain", charset="utf-8")

    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics_view)
    return app
