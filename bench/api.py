"""Benchmark: `POST /api/commands/{name}` for a fast command, at 16 concurrent clients.

The real bot and the GitHub emulator run on loopback, each in a process of its own (as
GitHub is), and the clients in this one, so the figures are the bot's and its CPU is not
shared with the load. Each call runs the whole pipeline
(👀, the status comment, the hooks, the handler, the state update, the final edit, label
and reaction) and answers once the run has ended; `/help` is the fast command. Prints
requests/s and p50/p95/p99 of the answer time, and, in the same run, the same figures at one
client, to show what concurrency costs.

    .venv/bin/python bench/api.py [--calls 400] [--clients 16]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
from harness import child, percentile, serving_apart

from bot.commands.handlers import HANDLERS
from bot.intake.tokens import ApiToken, add_token, hash_token, new_token
from bot.sandbox import REPO

PROJECT = Path(__file__).resolve().parent.parent


async def clients(
    base_url: str, token: str, calls: int, concurrency: int
) -> tuple[list[float], float]:
    """`calls` calls spread over `concurrency` clients: each call's seconds, and the wall time."""
    latencies: list[float] = []
    counter = iter(range(calls))
    headers = {"Authorization": f"Bearer {token}"}

    async def client(session: aiohttp.ClientSession) -> None:
        for index in counter:
            body = {"params": {}, "context": {"repository": REPO, "issue": 1 + index % 10}}
            started = time.perf_counter()
            async with session.post(
                f"{base_url}/api/commands/help", json=body, headers=headers
            ) as response:
                answer = await response.json()
            latencies.append(time.perf_counter() - started)
            if response.status != 200 or not answer["success"]:
                raise RuntimeError(f"unexpected answer {response.status}: {answer}")

    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:
        started = time.perf_counter()
        await asyncio.gather(*(client(session) for _ in range(concurrency)))
        return latencies, time.perf_counter() - started


async def serve() -> None:
    """The child: the bot (and, apart, its emulator) until standard input closes; prints
    its URL and token first, and the number of runs recorded last."""
    with tempfile.TemporaryDirectory() as tmp:
        token = new_token()
        tokens_file = Path(tmp) / "api-tokens.json"
        add_token(tokens_file, ApiToken(name="bench", sha256=hash_token(token), rate_limit="none"))
        async with serving_apart(
            PROJECT / ".claude",
            Path(tmp) / "data",
            HANDLERS,
            rate_limit="none",
            github_writes_per_minute=1_000_000,  # the emulator takes more than GitHub's 80
            api_tokens_file=tokens_file,
            api_wait_seconds=30,
        ) as served:
            print(json.dumps({"url": served.bot_url, "token": token}), flush=True)
            await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
            await served.bot.intake.drain()
            runs = len((await served.bot.store.read()).runs)
    print(json.dumps({"runs": runs}), flush=True)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=400)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        await serve()
        return
    rows = []
    async with child(__file__, "--serve", stop_after_s=120) as bot:
        url, token = bot.info["url"], bot.info["token"]
        await clients(url, token, 20, 4)  # warm up
        for concurrency in (1, args.clients):
            calls = args.calls if concurrency > 1 else max(50, args.calls // 4)
            latencies, wall = await clients(url, token, calls, concurrency)
            rows.append((concurrency, calls, latencies, wall))
        # Closing its standard input stops it: it prints how many runs it recorded.
        assert bot.process.stdin is not None
        assert bot.process.stdout is not None
        bot.process.stdin.close()
        ended = await asyncio.wait_for(bot.process.stdout.readline(), 120)
    runs = json.loads(ended)["runs"] if ended else "?"

    print(f"POST /api/commands/help against the emulator on loopback ({runs} runs recorded)\n")
    print(f"{'clients':>8}{'calls':>8}{'req/s':>10}{'p50':>10}{'p95':>10}{'p99':>10}")
    for concurrency, calls, latencies, wall in rows:
        figures = [percentile(latencies, f) * 1000 for f in (0.5, 0.95, 0.99)]
        print(
            f"{concurrency:>8}{calls:>8}{calls / wall:>10.0f}"
            + "".join(f"{value:>7.1f} ms" for value in figures)
        )


if __name__ == "__main__":
    asyncio.run(main())
