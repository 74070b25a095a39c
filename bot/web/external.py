"""`POST /webhooks/{source}`: signed events from external services, turned into commands by
`CLAUDE_DIR/webhooks.yml` (bot/intake/external.py) and run through the same pipeline.

The answer comes before the run: 202 with the run's id once the event is authentic, fresh,
mapped and its issue found. An event with no mapping is acknowledged (200), logged and
counted, never run. Each delivery id (or, without one, each signed body) is handled once.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from datetime import datetime

from aiohttp import web

from bot.commands.catalogue import Catalogue
from bot.domain import RepoRef, Source
from bot.intake import Intake
from bot.intake.external import Source as ExternalSource
from bot.intake.external import (
    UnmappedField,
    event_name,
    map_event,
    signature_problem,
    signed_digest,
)
from bot.intake.intake import ParameterProblem, TargetError, direct_request
from bot.metrics import Metrics
from bot.web.api import ApiError, read_body, target_error
from bot.web.body import load_json

log = logging.getLogger(__name__)


class ExternalWebhooks:
    def __init__(
        self,
        *,
        intake: Intake,
        catalogue: Catalogue,
        sources: Mapping[str, ExternalSource],
        metrics: Metrics,
        clock: Callable[[], datetime],
        wall_time: Callable[[], float] = time.time,
    ):
        self._intake = intake
        self._catalogue = catalogue
        self._sources = sources
        self._metrics = metrics
        self._clock = clock
        self._wall_time = wall_time

    def routes(self) -> list[web.RouteDef]:
        return [web.post("/webhooks/{source}", self.post)]

    async def post(self, http: web.Request) -> web.Response:
        try:
            return await self._receive(http)
        except ApiError as error:
            self._metrics.inc("external_rejected_total", code=error.code)
            return error.response()

    async def _receive(self, http: web.Request) -> web.Response:
        name = http.match_info["source"]
        source = self._sources.get(name)
        if source is None:
            raise ApiError(404, "unknown_source", f"no external source {name!r} is configured")
        body = await read_body(http)
        problem = signature_problem(source, http.headers, body, self._wall_time())
        if problem is not None:
            raise ApiError(401, "bad_signature", problem)
        try:
            payload = load_json(body)
        except ValueError:
            raise ApiError(400, "bad_json", "the body must be a JSON object") from None
        if not isinstance(payload, dict):
            raise ApiError(400, "bad_json", "the body must be a JSON object")
        # The signed bytes identify a request, whatever unsigned headers come with it: a
        # replay is refused even under a new delivery id. A sender's own delivery id also
        # marks its redeliveries (signed afresh) as the same delivery.
        signed = signed_digest(http.headers[source.timestamp_header], body)
        given_id = http.headers.get(source.delivery_header) or http.headers.get("Idempotency-Key")
        delivery_id = f"external:{name}:" + (given_id or signed)
        event = event_name(source, http.headers, payload)
        mapping = source.events.get(event)
        if mapping is None:
            log.info("external %s: event %r has no mapping; acknowledged, not run", name, event)
            self._metrics.inc("external_events_total", source=name, outcome="unmapped")
            return web.json_response(
                {"status": "ignored", "detail": f"no mapping for event {event!r} of {name}"}
            )
        try:
            mapped = map_event(mapping, payload)
            repo = RepoRef.parse(mapped.repository)
        except UnmappedField as error:
            raise ApiError(422, "invalid_event", str(error), field=error.field) from None
        except ValueError as error:
            raise ApiError(422, "invalid_event", str(error), field="repository") from None
        spec = self._catalogue.get(mapped.command)
        if spec is None or not spec.runnable:
            raise ApiError(
                422, "invalid_event", f"the mapping names /{mapped.command}, which the bot lacks"
            )
        try:
            target = await self._intake.resolve_target(repo, mapped.issue)
        except TargetError as error:
            raise target_error(error) from None
        try:
            request = direct_request(
                source=Source.EXTERNAL,
                command=spec.id,
                params=mapped.params,
                actor=f"webhook:{name}",
                permission=source.permission,
                repo=repo,
                issue=mapped.issue,
                target=target,
                delivery_id=delivery_id,
                received_at=self._clock(),
            )
        except ParameterProblem as error:
            raise ApiError(422, "invalid_event", str(error), field=error.name) from None
        # Claimed only now: a request refused above (say GitHub was down) may be resent.
        run_id, new = await self._intake.submit(
            request, also_known_as=f"external:{name}:signed:{signed}"
        )
        self._metrics.inc(
            "external_events_total", source=name, outcome="run" if new else "duplicate"
        )
        if not new:
            return web.json_response({"status": "duplicate", "runId": run_id})
        return web.json_response({"status": "accepted", "runId": run_id}, status=202)
