"""The composition root: builds every layer from the settings and serves HTTP.

This is the one module that knows all the others; each layer below only knows the ones
beneath it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime

import aiohttp
from aiohttp import web
from cachetools import LRUCache
from gidgethub.aiohttp import GitHubAPI

from bot.buckets import TokenBuckets
from bot.commands.catalogue import Catalogue, load_catalogue
from bot.commands.context import Handler
from bot.commands.handlers import HANDLERS
from bot.config import ConfigError, Settings, StateBackend
from bot.github import AppAuth, GitHub
from bot.github.client import USER_AGENT, ClientLimits
from bot.intake import Intake
from bot.intake.external import MappingError, load_sources
from bot.intake.external import Source as ExternalSource
from bot.intake.inbox import Inbox
from bot.intake.lifecycle import Lifecycle
from bot.intake.reconcile import Reconciler
from bot.intake.tokens import ApiTokens, TokenFileError, load_tokens
from bot.metrics import Metrics
from bot.pipeline import PermissionResolver, Pipeline
from bot.pipeline.claude_hooks import HookConfig, load_hook_config
from bot.pipeline.hooks import Limits, register_builtin_hooks
from bot.pipeline.limits import Breakers, ConcurrencyGuard
from bot.pipeline.registry import HookRegistry
from bot.pipeline.runner import utc_now
from bot.pipeline.stages import StageRunner
from bot.report import Reporter
from bot.state import FileStore, Store
from bot.state.gist import GistStore, find_or_create_gist
from bot.web import create_app
from bot.web.api import CommandApi
from bot.web.external import ExternalWebhooks

log = logging.getLogger(__name__)

SHUTDOWN_GRACE_SECONDS = 30


@dataclass
class Bot:
    settings: Settings
    catalogue: Catalogue
    github: GitHub
    store: Store
    intake: Intake
    metrics: Metrics
    web_app: web.Application
    reconciler: Reconciler


def load_commands(settings: Settings, handlers: Mapping[str, Handler] = HANDLERS) -> Catalogue:
    catalogue = load_catalogue(settings.claude_dir / "commands", known_handlers=handlers)
    for problem in catalogue.problems:
        log.warning("command not loaded: %s", problem)
    return catalogue


def load_hooks(settings: Settings) -> HookConfig:
    hooks = load_hook_config(settings.claude_dir)
    for warning in hooks.warnings:
        log.warning("hooks: %s", warning)
    return hooks


def make_limits(settings: Settings) -> Limits:
    return Limits(
        settings.rate_limit,
        TokenBuckets(),
        ConcurrencyGuard(),
        Breakers(),
        settings.breaker_threshold,
        settings.breaker_cooldown_seconds,
    )


def make_stages(
    settings: Settings, limits: Limits, app_hooks: HookRegistry | None = None
) -> StageRunner:
    """The hook stages: the built-in hooks first, then the App's in-process and Claude Code
    hooks."""
    registry = HookRegistry()
    register_builtin_hooks(registry, limits)
    for hook in app_hooks or ():
        registry.add(hook)
    # CLAUDE_PROJECT_DIR: the folder that holds the App's .claude, the hooks' working dir.
    project_dir = settings.claude_dir.resolve().parent
    return StageRunner(registry, load_hooks(settings), project_dir=project_dir)


def load_api_tokens(settings: Settings) -> ApiTokens:
    try:
        tokens = load_tokens(settings.tokens_path)
    except TokenFileError as error:
        raise ConfigError(f"API_TOKENS_FILE: {error}") from None
    log.info("REST API: %d token(s) from %s", len(tokens.tokens), settings.tokens_path)
    return tokens


def load_external_sources(settings: Settings) -> dict[str, ExternalSource]:
    try:
        sources = load_sources(settings.claude_dir)
    except MappingError as error:
        raise ConfigError(f"CLAUDE_DIR: {error}") from None
    for name, source in sources.items():
        if source.secret() is None:
            log.warning(
                "external source %s: %s is not set; its calls answer 401", name, source.secret_env
            )
    return sources


def make_github(settings: Settings, session: aiohttp.ClientSession) -> GitHub:
    if settings.app_id is None:
        raise ConfigError("APP_ID: not set (run `bot serve` without credentials for sandbox)")
    try:
        auth = AppAuth(settings.app_id, settings.private_key_pem())
    except ValueError as error:
        setting = "PRIVATE_KEY" if settings.private_key is not None else "PRIVATE_KEY_PATH"
        raise ConfigError(f"{setting}: {error}") from None
    limits = ClientLimits(
        max_in_flight=settings.github_max_in_flight,
        writes_per_minute=settings.github_writes_per_minute,
        backoff_base_s=settings.github_retry_base_seconds,
    )
    return GitHub(session, auth, base_url=settings.github_api_url, limits=limits)


async def make_store(settings: Settings, session: aiohttp.ClientSession) -> Store:
    if settings.state_backend is StateBackend.FILE:
        return FileStore(settings.data_dir / "state.json")
    if settings.gist_token is None:
        raise ConfigError("GIST_TOKEN: not set (STATE_BACKEND=gist needs a user token)")
    token = settings.gist_token.get_secret_value()
    # Gists take a user token, never the App's: a client of its own, with its own cache.
    api = GitHubAPI(
        session, USER_AGENT, cache=LRUCache(maxsize=64), base_url=settings.github_api_url
    )
    gist_id = settings.gist_id or await find_or_create_gist(api, token)
    log.info("state gist: %s", gist_id)
    return GistStore(api, session, gist_id, token=token)


async def build_bot(
    settings: Settings,
    session: aiohttp.ClientSession,
    *,
    clock: Callable[[], datetime] = utc_now,
    handlers: Mapping[str, Handler] = HANDLERS,
    hooks: HookRegistry | None = None,
) -> Bot:
    """The bot, wired; a test or an embedding program may bring its own `handlers` and
    in-process `hooks`."""
    if settings.webhook_secret is None:
        raise ConfigError("WEBHOOK_SECRET: not set")
    catalogue = load_commands(settings, handlers)
    github = make_github(settings, session)
    store = await make_store(settings, session)
    reporter = Reporter(settings.labels)
    metrics = Metrics()
    limits = make_limits(settings)
    pipeline = Pipeline(
        catalogue=catalogue,
        handlers=handlers,
        store=store,
        reporter=reporter,
        permissions=PermissionResolver(settings.permission_cache_seconds),
        stages=make_stages(settings, limits, hooks),
        breakers=limits.breakers,
        clock=clock,
        running_label_delay=settings.running_label_delay_seconds,
    )
    inbox = Inbox(settings.data_dir / "inbox.sqlite3")
    await inbox.open()
    lifecycle = Lifecycle(github, settings.labels, catalogue)
    intake = Intake(
        catalogue=catalogue,
        pipeline=pipeline,
        reporter=reporter,
        github=github,
        inbox=inbox,
        lifecycle=lifecycle,
        metrics=metrics,
        clock=clock,
        workers=settings.workers,
    )
    command_api = CommandApi(
        intake=intake,
        catalogue=catalogue,
        tokens=load_api_tokens(settings),
        store=store,
        wait_s=settings.api_wait_seconds,
        clock=clock,
    )
    external = ExternalWebhooks(
        intake=intake,
        catalogue=catalogue,
        sources=load_external_sources(settings),
        metrics=metrics,
        clock=clock,
    )
    web_app = create_app(
        intake=intake,
        webhook_secret=settings.webhook_secret.get_secret_value(),
        webhook_path=settings.webhook_path,
        max_payload_bytes=settings.max_payload_bytes,
        metrics=metrics,
        command_api=command_api,
        external=external,
    )

    pipeline.run_control = intake
    reconciler = Reconciler(
        github=github,
        intake=intake,
        inbox=inbox,
        lifecycle=lifecycle,
        catalogue=catalogue,
        labels=settings.labels,
        clock=clock,
    )

    async def resume(_: web.Application) -> None:
        # Before the first delivery is served: what the last process left unfinished.
        await intake.resume()
        if settings.reconcile:
            reconciler.start(settings.reconcile_interval_seconds)

    async def drain(_: web.Application) -> None:
        # Let runs in flight finish and report; past the grace period, stop anyway (what
        # is left stays in the inbox and is taken up at the next start).
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(SHUTDOWN_GRACE_SECONDS):
                await intake.drain()

    async def close_inbox(_: web.Application) -> None:
        await reconciler.stop()
        await inbox.close()

    web_app.on_startup.append(resume)
    web_app.on_shutdown.append(drain)
    web_app.on_cleanup.append(close_inbox)
    return Bot(settings, catalogue, github, store, intake, metrics, web_app, reconciler)


async def start_http(app: web.Application, host: str, port: int) -> tuple[web.AppRunner, str]:
    """Serve `app` (port 0 picks a free one); returns the runner and the base URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.SockSite(runner, sock).start()
    bound_port = sock.getsockname()[1]
    return runner, f"http://{host}:{bound_port}"
