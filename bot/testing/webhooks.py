"""Webhook deliveries, signed and sent the way GitHub's Hookshot sends them."""

from __future__ import annotations

import asyncio
import hmac
import json
import secrets
import time
import uuid
from dataclasses import dataclass
from typing import Any

import aiohttp

# GitHub counts a delivery as failed when the receiver has not answered within 10 s.
DELIVERY_TIMEOUT_SECONDS = 10.0


@dataclass(frozen=True, slots=True)
class Delivery:
    """One attempt to deliver an event; a redelivery is a new Delivery with the same id."""

    id: str
    event: str
    action: str | None
    # None when no HTTP answer came back (refused connection, timeout).
    status_code: int | None
    ok: bool
    duration_ms: float
    payload: dict[str, Any]
    error: str | None = None


def sign(body: bytes, secret: str, digest: str) -> str:
    """The value of `X-Hub-Signature-256` (digest "sha256") or `X-Hub-Signature` ("sha1")."""
    mac = hmac.new(secret.encode("utf-8"), body, digest).hexdigest()
    return f"{digest}={mac}"


class WebhookSender:
    """Sends deliveries to one webhook URL and records them in `deliveries`."""

    def __init__(self, *, secret: str, hook_id: int, app_id: int) -> None:
        self._secret = secret
        self._hook_id = hook_id
        self._app_id = app_id
        self._user_agent = f"GitHub-Hookshot/{secrets.token_hex(4)[:7]}"
        self._session: aiohttp.ClientSession | None = None
        self._in_flight: set[asyncio.Task[Delivery]] = set()
        self.deliveries: list[Delivery] = []

    async def send(
        self, url: str, event: str, payload: dict[str, Any], delivery_id: str | None = None
    ) -> Delivery:
        delivery_id = delivery_id or str(uuid.uuid4())
        body = json.dumps(payload, separators=(",", ":")).encode("utf-8")
        started = time.perf_counter()
        status: int | None = None
        error: str | None = None
        try:
            async with self._client().post(
                url, data=body, headers=self._headers(event, delivery_id, body)
            ) as response:
                await response.read()
                status = response.status
        except TimeoutError:
            error = f"timed out after {DELIVERY_TIMEOUT_SECONDS:g} s"
        except aiohttp.ClientError as exc:
            error = f"{type(exc).__name__}: {exc}"
        delivery = Delivery(
            id=delivery_id,
            event=event,
            action=payload.get("action"),
            status_code=status,
            ok=status is not None and 200 <= status < 300,
            duration_ms=(time.perf_counter() - started) * 1000,
            payload=payload,
            error=error,
        )
        self.deliveries.append(delivery)
        return delivery

    def send_in_background(
        self, url: str, event: str, payload: dict[str, Any], *, after: asyncio.Event
    ) -> None:
        """Send once `after` is set; `settle()` counts the delivery as in flight meanwhile."""
        task = asyncio.get_running_loop().create_task(self._send_after(after, url, event, payload))
        self._in_flight.add(task)
        task.add_done_callback(self._in_flight.discard)

    async def _send_after(
        self, after: asyncio.Event, url: str, event: str, payload: dict[str, Any]
    ) -> Delivery:
        await after.wait()
        return await self.send(url, event, payload)

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
