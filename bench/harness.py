"""What the benchmarks share: the GitHub emulator (demo world) and the real bot, both on
loopback ports, as `python bench/<name>.py` runs them.

`serving` runs both in this process, so a benchmark can drive the emulator directly;
`serving_apart` runs the emulator in a process of its own, as GitHub would be, so that a
throughput figure is the bot's and not the emulator's.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp

from bot.app import Bot, build_bot, start_http
from bot.commands.context import Handler
from bot.config import load_settings
from bot.pipeline.registry import HookRegistry
from bot.sandbox import APP_ID, APP_SLUG, seed_demo_world
from bot.testing import GitHubEmulator, KeyPair, generate_key_pair

SECRET = "bench-secret"


def demo_emulator(keys: KeyPair) -> GitHubEmulator:
    emulator = GitHubEmulator(
        app_id=APP_ID, app_slug=APP_SLUG, public_key_pem=keys.public_pem, webhook_secret=SECRET
    )
    seed_demo_world(emulator, datetime.now(UTC))
    return emulator


@dataclass
class Served:
    emulator: GitHubEmulator
    bot: Bot
    bot_url: str

    async def settle(self) -> None:
        await self.emulator.settle()
        await self.bot.intake.drain()


@contextlib.asynccontextmanager
async def serving(
    claude_dir: Path,
    data_dir: Path,
    handlers: Mapping[str, Handler],
    *,
    hooks: HookRegistry | None = None,
    **settings: object,
) -> AsyncIterator[Served]:
    keys = generate_key_pair()
    emulator = demo_emulator(keys)
    api_url = await emulator.start()
    # The reconciler's pass at start would add GitHub calls of its own to the figures.
    settings.setdefault("reconcile", False)
    loaded = load_settings(
        app_id=APP_ID,
        private_key=keys.private_pem,
        webhook_secret=SECRET,
        github_api_url=api_url,
        data_dir=data_dir,
        claude_dir=claude_dir,
        **settings,
    )
    async with aiohttp.ClientSession() as session:
        bot = await build_bot(loaded, session, handlers=handlers, hooks=hooks)
        runner, bot_url = await start_http(bot.web_app, "127.0.0.1", 0)
        emulator.webhook_url = bot_url + loaded.webhook_path
        try:
            yield Served(emulator, bot, bot_url)
        finally:
            await runner.cleanup()
            await emulator.stop()


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


@dataclass
class ServedApart:
    bot: Bot
    bot_url: str


@dataclass
class Child:
    process: asyncio.subprocess.Process
    info: dict[str, Any]  # the JSON line it printed first


@contextlib.asynccontextmanager
async def child(script: str, *args: str, stop_after_s: float = 15.0) -> AsyncIterator[Child]:
    """`python <script> <args>` in a process of its own: it prints one JSON line (what the
    parent needs to know) and serves until its standard input closes."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        script,
        *args,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    assert process.stdin is not None
    assert process.stdout is not None
    try:
        line = await asyncio.wait_for(process.stdout.readline(), 60)
        if not line:
            raise RuntimeError(f"{script} {' '.join(args)} exited before it served (see stderr)")
        yield Child(process, json.loads(line))
    finally:
        process.stdin.close()
        try:
            await asyncio.wait_for(process.wait(), stop_after_s)
        except TimeoutError:
            process.kill()
            await process.wait()


@contextlib.asynccontextmanager
async def serving_apart(
    claude_dir: Path, data_dir: Path, handlers: Mapping[str, Handler], **settings: object
) -> AsyncIterator[ServedApart]:
    async with child(__file__, "--emulator") as emulator:
        info = emulator.info
        settings.setdefault("reconcile", False)
        loaded = load_settings(
            app_id=APP_ID,
            private_key=info["private_key"],
            webhook_secret=info["secret"],
            github_api_url=info["url"],
            data_dir=data_dir,
            claude_dir=claude_dir,
            **settings,
        )
        async with aiohttp.ClientSession() as session:
            bot = await build_bot(loaded, session, handlers=handlers)
            runner, bot_url = await start_http(bot.web_app, "127.0.0.1", 0)
            assert emulator.process.stdin is not None
            emulator.process.stdin.write((bot_url + loaded.webhook_path + "\n").encode())
            await emulator.process.stdin.drain()
            try:
                yield ServedApart(bot, bot_url)
            finally:
                await bot.intake.drain()
                await runner.cleanup()


async def _emulator_process() -> None:
    """The child of `serving_apart`: an emulator until its standard input closes."""
    keys = generate_key_pair()
    emulator = demo_emulator(keys)
    url = await emulator.start()
    print(json.dumps({"url": url, "private_key": keys.private_pem, "secret": SECRET}), flush=True)
    loop = asyncio.get_running_loop()
    emulator.webhook_url = (await loop.run_in_executor(None, sys.stdin.readline)).strip()
    await loop.run_in_executor(None, sys.stdin.read)  # until the parent closes it
    await emulator.stop()


if __name__ == "__main__" and sys.argv[1:] == ["--emulator"]:
    asyncio.run(_emulator_process())
