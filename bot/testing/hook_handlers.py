"""The App webhook's deliveries: list them, look at one, ask for a redelivery (JWT only).

Every attempt the emulator's `WebhookSender` made is a delivery, failed ones included (no
webhook URL, a refused connection, a timeout, a non-2xx answer), as on GitHub's
"Recent Deliveries". The list is newest first and paginated with an opaque `cursor`,
as GitHub does it; a redelivery is sent after the 202 with the same GUID and recorded as
a new delivery with `redelivery: true`.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta

from bot.testing.calls import ApiError, Auth, Call, Reply, Route, link, not_found, per_page
from bot.testing.render import Json, iso
from bot.testing.webhooks import Delivery

# GitHub redelivers only deliveries from the past three days.
REDELIVERY_WINDOW = timedelta(days=3)
_CURSOR_PREFIX = "v1_"
# `status=success` and `status=failure` select by `status_code`, as the description says:
# a delivery that got no answer (status_code 0) is in neither.
_STATUS_CODES = {"success": range(200, 400), "failure": range(400, 600)}


def list_deliveries(call: Call) -> Reply:
    deliveries = sorted(call.ctx.webhooks.deliveries, key=lambda d: d.api_id, reverse=True)
    if "status" in call.params:
        codes = _STATUS_CODES[call.params["status"]]
        deliveries = [d for d in deliveries if (d.status_code or 0) in codes]
    if "cursor" in call.params:
        after = _cursor(call, call.params["cursor"])
        deliveries = [d for d in deliveries if d.api_id < after]
    size = per_page(call)
    page = deliveries[:size]
    headers = {}
    if len(deliveries) > size:
        cursor = f"{_CURSOR_PREFIX}{page[-1].api_id}"
        headers["Link"] = link(call, "cursor", cursor, "next")
    return Reply(200, [item(delivery) for delivery in page], headers)


def get_delivery(call: Call) -> Reply:
    return Reply(200, full(_delivery(call)))


def redeliver(call: Call) -> Reply:
    delivery = _delivery(call)
    if datetime.now(UTC) - delivery.delivered_at > REDELIVERY_WINDOW:
        raise ApiError(
            422,
            "Validation Failed",
            docs_url=call.operation.docs_url,
            errors=[
                {
                    "resource": "HookDelivery",
                    "code": "custom",
                    "message": "Only deliveries from the past 3 days can be redelivered.",
                }
            ],
        )
    call.emit(delivery.event, delivery.payload, guid=delivery.guid, redelivery=True)
    return Reply(202, {})


def item(delivery: Delivery) -> Json:
    """A delivery as the list shows it (`hook-delivery-item`)."""
    return {
        "id": delivery.api_id,
        "guid": delivery.guid,
        "delivered_at": iso(delivery.delivered_at),
        "redelivery": delivery.redelivery,
        "duration": round(delivery.duration_ms / 1000, 2),
        "status": delivery.status,
        "status_code": delivery.status_code or 0,
        "event": delivery.event,
        "action": delivery.action,
        "installation_id": delivery.installation_id,
        "repository_id": delivery.repository_id,
        "throttled_at": None,
    }


def full(delivery: Delivery) -> Json:
    """A delivery with what was sent and what came back (`hook-delivery`)."""
    rendered = item(delivery)
    if delivery.url is not None:
        rendered["url"] = delivery.url
    rendered["request"] = {
        "headers": dict(delivery.request_headers),
        "payload": delivery.payload,
    }
    rendered["response"] = {
        "headers": dict(delivery.response_headers or {}),
        "payload": delivery.response_body,
    }
    return rendered


def _delivery(call: Call) -> Delivery:
    delivery = call.ctx.webhooks.find(call.params["delivery_id"])
    if delivery is None:
        raise not_found()
    return delivery


def _cursor(call: Call, text: str) -> int:
    digits = text.removeprefix(_CURSOR_PREFIX)
    if not text.startswith(_CURSOR_PREFIX) or not (digits.isascii() and digits.isdigit()):
        raise ApiError(400, "Invalid cursor", docs_url=call.operation.docs_url)
    return int(digits)


HOOK_ROUTES: Mapping[str, Route] = {
    "apps/list-webhook-deliveries": Route(list_deliveries, Auth.JWT),
    "apps/get-webhook-delivery": Route(get_delivery, Auth.JWT),
    "apps/redeliver-webhook-delivery": Route(redeliver, Auth.JWT),
}
