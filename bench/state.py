"""Benchmark: 100 concurrent state updates to a Gist with 100 ms latency per API call.

Runs the bot's GistStore (serialized writers, group commit, verified writes) and, in the
same run, a naive store that reads, modifies and writes the gist once per update (one at a
time, so it loses nothing either). Prints PATCHes and wall time for both.

    .venv/bin/python bench/state.py [--updates 100] [--latency 0.1]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from collections.abc import Awaitable, Callable

import aiohttp
from cachetools import LRUCache
from gidgethub.aiohttp import GitHubAPI

from bot.state import BotState, with_command_data
from bot.state.gist import COMMAND_DATA_FILE, GistStore, find_or_create_gist, serialize
from bot.testing import GitHubEmulator, generate_key_pair

Update = Callable[[BotState], BotState]


def adding(key: str) -> Update:
    return lambda state: with_command_data(state, key, {"key": key})


async def naive_update(api: GitHubAPI, gist_id: str, token: str, fn: Update) -> None:
    """Read the whole gist, apply, write it back: one GET and one PATCH per update."""
    gist = await api.getitem("/gists/{id}", {"id": gist_id}, oauth_token=token)
    data = json.loads(gist["files"][COMMAND_DATA_FILE]["content"])
    state = fn(BotState(command_data=data))
    body = {"files": {COMMAND_DATA_FILE: {"content": serialize(state)[COMMAND_DATA_FILE]}}}
    await api.patch("/gists/{id}", {"id": gist_id}, data=body, oauth_token=token)


async def measure(
    emulator: GitHubEmulator, run: Callable[[], Awaitable[None]]
) -> tuple[int, float, int]:
    before = len(emulator.requests)
    started = time.perf_counter()
    await run()
    elapsed = time.perf_counter() - started
    requests = emulator.requests[before:]
    return sum(r.method == "PATCH" for r in requests), elapsed, len(requests)


async def main(updates: int, latency: float) -> None:
    keys = generate_key_pair()
    emulator = GitHubEmulator(
        app_id=1, app_slug="bench", public_key_pem=keys.public_pem, webhook_secret="s"
    )
    token = emulator.add_user_token("bench")
    await emulator.start()
    try:
        async with aiohttp.ClientSession() as session:
            api = GitHubAPI(session, "bench", cache=LRUCache(64), base_url=emulator.url)
            store = GistStore(api, session, await find_or_create_gist(api, token), token=token)
            files = {name: {"content": text} for name, text in serialize(BotState()).items()}
            created = await api.post("/gists", data={"files": files}, oauth_token=token)
            naive_id = str(created["id"])
            emulator.set_latency(latency)
            lock = asyncio.Lock()

            async def ours() -> None:
                await asyncio.gather(*(store.update(adding(f"k{i}")) for i in range(updates)))

            async def naive() -> None:
                async def one(i: int) -> None:
                    async with lock:
                        await naive_update(api, naive_id, token, adding(f"k{i}"))

                await asyncio.gather(*(one(i) for i in range(updates)))

            results = {"GistStore": await measure(emulator, ours)}
            results["naive read-modify-write"] = await measure(emulator, naive)
            emulator.set_latency(0)
            kept = {
                "GistStore": len((await store.read()).command_data),
                "naive read-modify-write": len(
                    json.loads(emulator.gist_view(naive_id)[COMMAND_DATA_FILE])
                ),
            }
    finally:
        await emulator.stop()
    print(f"{updates} concurrent updates, {latency * 1000:.0f} ms per API call")
    print(f"{'':26} {'PATCHes':>8} {'requests':>9} {'wall s':>8} {'kept':>6}")
    for name, (patches, seconds, requests) in results.items():
        print(f"{name:26} {patches:8d} {requests:9d} {seconds:8.2f} {kept[name]:6d}")
    ratio = results["naive read-modify-write"][1] / results["GistStore"][1]
    print(f"GistStore is {ratio:.1f}x faster")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--updates", type=int, default=100)
    parser.add_argument("--latency", type=float, default=0.1)
    args = parser.parse_args()
    asyncio.run(main(args.updates, args.latency))
