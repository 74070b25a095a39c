"""What the App sees as itself: its installations, their repositories, and its webhook
deliveries (which it may ask GitHub to send again)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from bot.domain import RepoRef
from bot.github.client import GitHub, InstallationClient


async def installation_ids(github: GitHub) -> list[int]:
    return [int(item["id"]) for item in await _all(github.app_iter("/app/installations"))]


async def repositories(gh: InstallationClient) -> list[RepoRef]:
    """The repositories an installation can reach."""
    items = await gh.get_all(
        "/installation/repositories{?per_page}", {"per_page": 100}, items="repositories"
    )
    return [RepoRef.parse(str(item["full_name"])) for item in items]


def deliveries(github: GitHub) -> AsyncIterator[dict[str, Any]]:
    """The App's webhook deliveries, newest first, each attempt one item (`id`, `guid`,
    `status`, `status_code`, `redelivery`, `delivered_at`, ...), read page by page."""
    return github.app_iter("/app/hook/deliveries{?per_page}", {"per_page": 100})


async def redeliver(github: GitHub, delivery_id: int) -> None:
    """Ask GitHub to send a delivery again (with its `X-GitHub-Delivery`)."""
    await github.app_post(
        "/app/hook/deliveries/{delivery_id}/attempts", {"delivery_id": delivery_id}, data={}
    )


async def _all(items: AsyncIterator[dict[str, Any]]) -> list[dict[str, Any]]:
    return [item async for item in items]
