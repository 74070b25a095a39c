"""The end-to-end harness: the real bot and the GitHub emulator, each on a loopback port."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from bot.app import Bot, build_bot, start_http
from bot.commands.context import Handler
from bot.commands.handlers import HANDLERS
from bot.config import Settings, load_settings
from bot.pipeline.registry import HookRegistry
from bot.sandbox import APP_ID, APP_SLUG, REPO, seed_demo_world
from bot.state import BotState
from bot.testing import Delivery, GitHubEmulator, KeyPair, generate_key_pair

PROJECT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def app_keys() -> KeyPair:
    return generate_key_pair()


@dataclass
class Harness:
    emulator: GitHubEmulator
    bot: Bot
    bot_url: str
    settings: Settings
    session: aiohttp.ClientSession
    runner: web.AppRunner | None
    handlers: Mapping[str, Handler]
    hooks: HookRegistry | None

    @property
    def webhook_url(self) -> str:
        return self.bot_url + self.settings.webhook_path

    async def settle(self) -> None:
        """Wait until the bot and the emulator are both idle (deliveries and runs)."""
        while True:
            await self.bot.reconciler.settle()
            await self.emulator.settle()
            await self.bot.intake.drain()
            if self.bot.intake.in_flight == 0:
                await self.emulator.settle()
                if self.bot.intake.in_flight == 0:
                    return

    async def comment(self, user: str, body: str, *, issue: int = 1) -> Delivery:
        delivery = await self.emulator.comment(REPO, issue, user, body)
        await self.settle()
        return delivery

    async def state(self) -> BotState:
        return await self.bot.store.read()

    async def stop_bot(self) -> None:
        """Stop the bot (gracefully); GitHub's deliveries fail until `start_bot`."""
        if self.runner is not None:
            await self.emulator.settle()
            await self.runner.cleanup()
            self.runner = None

    async def start_bot(self) -> None:
        """Start a new bot process's worth of objects on the same DATA_DIR and port."""
        assert self.runner is None, "stop_bot() first"
        port = int(self.bot_url.rsplit(":", 1)[1])
        self.bot = await build_bot(
            self.settings, self.session, handlers=self.handlers, hooks=self.hooks
        )
        self.runner, _ = await start_http(self.bot.web_app, "127.0.0.1", port)


@contextlib.asynccontextmanager
async def running(
    data_dir: Path,
    keys: KeyPair,
    *,
    claude_dir: Path = PROJECT / ".claude",
    handlers: Mapping[str, Handler] = HANDLERS,
    hooks: HookRegistry | None = None,
    gist_state: bool = False,
    github_rate_limit: int = 5000,
    **settings: object,
) -> AsyncIterator[Harness]:
    """The emulator (demo world) and the bot, both serving on loopback ports.

    With `gist_state`, the bot keeps its state in a gist of the emulator's; `hooks` are
    in-process hooks added after the built-ins; other keywords are settings.
    """
    secret = "test-webhook-secret"
    emulator = GitHubEmulator(
        app_id=APP_ID,
        app_slug=APP_SLUG,
        public_key_pem=keys.public_pem,
        webhook_secret=secret,
        rate_limit=github_rate_limit,
    )
    seed_demo_world(emulator, datetime.now(UTC))
    emulator.set_role(REPO, "visitor", "read")
    api_url = await emulator.start()
    if gist_state:
        settings |= {"state_backend": "gist", "gist_token": emulator.add_user_token("state-owner")}
    # The reconciler's pass at start makes GitHub calls of its own: tests that want it ask.
    settings.setdefault("reconcile", False)
    loaded = load_settings(
        **settings,
        app_id=APP_ID,
        private_key=keys.private_pem,
        webhook_secret=secret,
        github_api_url=api_url,
        data_dir=data_dir,
        claude_dir=claude_dir,
    )
    async with aiohttp.ClientSession() as session:
        bot = await build_bot(loaded, session, handlers=handlers, hooks=hooks)
        runner, bot_url = await start_http(bot.web_app, "127.0.0.1", 0)
        emulator.webhook_url = bot_url + loaded.webhook_path
        harness = Harness(emulator, bot, bot_url, loaded, session, runner, handlers, hooks)
        try:
            yield harness
        finally:
            await emulator.settle()
            if harness.runner is not None:
                await harness.runner.cleanup()
            await emulator.stop()
    # Every request the bot made was one GitHub would accept.
    assert emulator.violations == []


@pytest.fixture
async def harness(tmp_path: Path, app_keys: KeyPair) -> AsyncIterator[Harness]:
    async with running(tmp_path / "data", app_keys) as harness:
        yield harness
