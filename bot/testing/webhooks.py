"""Webhook deliveries, signed and sent the way GitHub's Hookshot sends them, and recorded
the way GitHub's deliveries API (`GET /app/hook/deliveries`) lists them."""

from __future__ import annotations

import asyncio
import dataclasses
import hmac
import json
import secrets
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp

# GitHub counts a delivery as failed when the receiver has not answered within 10 s.
DELIVERY_TIMEOUT_SECONDS = 10.0
# `status` of a delivery the receiver answered with a 2xx.
STATUS_OK = "OK"
# The part of a receiver's answer body kept for the deliveries API.
MAX_RESPONSE_BODY_CHARS = 64 * 1024


@dataclass(frozen=True, slots=True)
class Delivery:
    """One attempt to deliver an event, as GitHub records it: a redelivery is a new
    Delivery (a new `api_id`) with the same `id`."""

    # The event's `X-GitHub-Delivery` GUID, kept on redelivery (the deliveries API's `guid`).
    id: str
    event: str
    action: str | None
    # None when no HTTP answer came back (no URL, refused connection, timeout); the
    # deliveries API shows 0 then.
    status_code: int | None
    ok: bool
    duration_ms: float
    payload: dict[str, Any]
    # What went wrong, in more detail than `status`; None for an HTTP answer.
    error: str | None = None
    # The delivery's own id in the deliveries API (`GET /app/hook/deliveries/{api_id}`),
    # increasing in the order attempts complete.
    api_id: int = 0
    # When the attempt started.
    delivered_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    redelivery: bool = False
    # GitHub's short description: "OK" for a 2xx, else e.g. "Invalid HTTP Response: 503",
    # "failed to connect to host", "timed out".
    status: str = STATUS_OK
    # Where it was sent; None when no webhook URL was set.
    url: str | None = None
    installation_id: int | None = None
    repository_id: int | None = None
    request_headers: dict[str, str] = field(default_factory=dict)
    # The receiver's answer; None when there was none.
    response_headers: dict[str, str] | None = None
    response_body: str | None = None

    @property
    def guid(self) -> str:
        """The `X-GitHub-Delivery` value (the same as `id`)."""
        return self.id


def sign(body: bytes, secret: str, digest: str) -> str:
    """The value of `X-Hub-Signature-256` (digest "sha256") or `X-Hub-Signature` ("sha1")."""
    mac = hmac.new(secret.encode("utf-8"), body, digest).hexdigest()
    return f"{digest}={mac}"


@dataclass(slots=True)
class _Answer:
    status_code: int | None = None
    status: str = STATUS_OK
    error: str | None = None
    headers: dict[str, str] | None = None
    body: str | None = None


class WebhookSender:
    """Sends deliveries to the webhook URL and records every attempt in `deliveries`."""

    def __init__(self, *, secret: str, hook_id: int, app_id: int) -> None:
        self._secret = secret
        self._hook_id = hook_id
        self._app_id = app_id
        self._user_agent = f"GitHub-Hookshot/{secrets.token_hex(4)[:7]}"
        self._session: aiohttp.ClientSession | None = None
        self._in_flight: set[asyncio.Task[Delivery]] = set()
        self._last_api_id = 0
        # In the order the attempts completed, which is also `api_id` order.
        self.deliveries: list[Delivery] = []

    async def send(
        self,
        url: str | None,
        event: str,
        payload: dict[str, Any],
        delivery_id: str | None = None,
        *,
        redelivery: bool = False,
    ) -> Delivery:
        """POST the event to `url` and record the attempt; `url` None records a failed one."""
        delivery_id = delivery_id or str(uuid.uuid4())
        body = json.dumps(payload, separators=(",", ":")).encode("utf-8")
        headers = self._headers(event, delivery_id, body)
        delivered_at = datetime.now(UTC)
        started = time.perf_counter()
        answer = (
            _Answer(status="no webhook URL is set", error="webhook_url is not set")
            if url is None
            else await self._post(url, body, headers)
        )
        self._last_api_id += 1
        delivery = Delivery(
            id=delivery_id,
            event=event,
            action=payload.get("action"),
            status_code=answer.status_code,
            ok=answer.status == STATUS_OK,
            duration_ms=(time.perf_counter() - started) * 1000,
            payload=payload,
            error=answer.error,
            api_id=self._last_api_id,
            delivered_at=delivered_at,
            redelivery=redelivery,
            status=answer.status,
            url=url,
            installation_id=_id_of(payload.get("installation")),
            repository_id=_id_of(payload.get("repository")),
            request_headers=headers,
            response_headers=answer.headers,
            response_body=answer.body,
        )
        self.deliveries.append(delivery)
        return delivery

    async def _post(self, url: str, body: bytes, headers: Mapping[str, str]) -> _Answer:
        try:
            # Hookshot does not follow redirects: a 3xx is a failed delivery.
            async with self._client().post(
                url, data=body, headers=headers, allow_redirects=False
            ) as response:
                text = (await response.read()).decode("utf-8", "replace")
                status = response.status
                return _Answer(
                    status_code=status,
                    status=STATUS_OK if 200 <= status < 300 else f"Invalid HTTP Response: {status}",
                    headers=_joined(response.headers),
                    body=text[:MAX_RESPONSE_BODY_CHARS],
                )
        except TimeoutError:
            return _Answer(
                status="timed out", error=f"timed out after {DELIVERY_TIMEOUT_SECONDS:g} s"
            )
        except aiohttp.ClientConnectorError as exc:
            return _Answer(status="failed to connect to host", error=_describe(exc))
        except aiohttp.ServerDisconnectedError as exc:
            return _Answer(status="connection closed without a response", error=_describe(exc))
        except aiohttp.ClientError as exc:
            return _Answer(status="failed to read the response", error=_describe(exc))

    def send_in_background(
        self,
        url: str | None,
        event: str,
        payload: dict[str, Any],
        *,
        after: asyncio.Event,
        delivery_id: str | None = None,
        redelivery: bool = False,
    ) -> None:
        """Send once `after` is set; `settle()` counts the delivery as in flight meanwhile."""
        task = asyncio.get_running_loop().create_task(
            self._send_after(after, url, event, payload, delivery_id, redelivery)
        )
        self._in_flight.add(task)
        task.add_done_callback(self._in_flight.discard)

    async def _send_after(
        self,
        after: asyncio.Event,
        url: str | None,
        event: str,
        payload: dict[str, Any],
        delivery_id: str | None,
        redelivery: bool,
    ) -> Delivery:
        await after.wait()
        return await self.send(url, event, payload, delivery_id, redelivery=redelivery)

    def find(self, api_id: int) -> Delivery | None:
        """The delivery with this `api_id`, if recorded."""
        for delivery in self.deliveries:
            if delivery.api_id == api_id:
                return delivery
        return None

    def backdate(self, by: timedelta) -> None:
        """Move every recorded delivery's `delivered_at` back by `by`."""
        self.deliveries[:] = [
            dataclasses.replace(delivery, delivered_at=delivery.delivered_at - by)
            for delivery in self.deliveries
        ]

    async def settle(self) -> None:
        """Wait until no delivery is in flight, including ones started while waiting."""
        while self._in_flight:
            await asyncio.gather(*self._in_flight)

    async def close(self) -> None:
        await self.settle()
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None:
            timeout = aiohttp.ClientTimeout(total=DELIVERY_TIMEOUT_SECONDS)
            self._session = aiohttp.ClientSession(timeout=timeout)
        return self._session

    def _headers(self, event: str, delivery_id: str, body: bytes) -> dict[str, str]:
        return {
            "Content-Type": "application/json",
            "User-Agent": self._user_agent,
            "X-GitHub-Event": event,
            "X-GitHub-Delivery": delivery_id,
            "X-GitHub-Hook-ID": str(self._hook_id),
            "X-GitHub-Hook-Installation-Target-Type": "integration",
            "X-GitHub-Hook-Installation-Target-ID": str(self._app_id),
            "X-Hub-Signature": sign(body, self._secret, "sha1"),
            "X-Hub-Signature-256": sign(body, self._secret, "sha256"),
        }


def _id_of(thing: Any) -> int | None:
    """The `id` of a payload's `installation` or `repository`, when it names one."""
    if isinstance(thing, Mapping) and isinstance(thing.get("id"), int):
        return int(thing["id"])
    return None


def _joined(headers: Mapping[str, str]) -> dict[str, str]:
    # A multidict's items() yields a repeated header once per value.
    joined: dict[str, str] = {}
    for name, value in headers.items():
        joined[name] = f"{joined[name]}, {value}" if name in joined else value
    return joined


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"
