"""The `bot` command line: serve, try, commands, config, api-token, state."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
import sys
import textwrap
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any

import aiohttp
from pydantic import ValidationError

from bot import logs, sandbox
from bot.app import build_bot, load_commands, make_github, make_store, start_http
from bot.config import ConfigError, Settings, describe_validation_error, load_settings
from bot.intake.tokens import (
    ApiToken,
    TokenFileError,
    add_token,
    hash_token,
    load_tokens,
    new_token,
)
from bot.markdown import count
from bot.pipeline.audit import audit_problems, issue_comments
from bot.state import BotState, FileStore, StateError
from bot.testing import GitHubEmulator


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        settings = load_settings()
        logs.configure(settings.log_level, settings.log_format)
        result: int = args.run(settings, args)
        return result
    except ConfigError as error:
        print(f"bot: configuration error: {error}", file=sys.stderr)
        return 2
    except StateError as error:
        print(f"bot: state error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="bot", description="A GitHub App in which issues are the task queue."
    )
    verbs = parser.add_subparsers(required=True, metavar="VERB")

    serve = verbs.add_parser("serve", help="serve GitHub (or the sandbox, with no credentials)")
    serve.set_defaults(run=_serve)

    try_ = verbs.add_parser(
        "try", help="send a command as a signed comment through the sandbox, show what happened"
    )
    try_.add_argument("line", help='the comment, e.g. "/generate-report since=30d"')
    try_.add_argument("--issue", type=int, default=1, help="issue number (default 1)")
    try_.add_argument("--user", default=sandbox.MAINTAINER, help="who comments")
    try_.add_argument("--repo", default=sandbox.REPO, help="repository (default demo/sandbox)")
    try_.set_defaults(run=_try)

    commands = verbs.add_parser("commands", help="list the commands loaded from CLAUDE_DIR")
    commands.set_defaults(run=_commands)

    config = verbs.add_parser("config", help="check the configuration and show it")
    config.set_defaults(run=_config)

    tokens = verbs.add_parser("api-token", help="manage the REST command API's tokens")
    token_verbs = tokens.add_subparsers(required=True, metavar="ACTION")
    create = token_verbs.add_parser(
        "create", help="make a token: printed once, only its hash is kept in API_TOKENS_FILE"
    )
    create.add_argument("name", help="what the token is for, e.g. ci (letters, digits, . _ -)")
    create.add_argument("--commands", default="*", help="commands it may run, comma-separated")
    create.add_argument(
        "--repositories", default="*", help="owner/name or owner/* it may act on, comma-separated"
    )
    create.add_argument("--permission", default="write", help="the role its calls act with")
    create.add_argument("--rate-limit", default="60/minute", help="its calls, e.g. 100/hour")
    create.set_defaults(run=_token_create)
    token_verbs.add_parser("list", help="the tokens' names and scopes").set_defaults(
        run=_token_list
    )

    state = verbs.add_parser("state", help="show the bot's state")
    state_verbs = state.add_subparsers(required=True, metavar="ACTION")
    state_verbs.add_parser("show", help="print the state as JSON").set_defaults(run=_state_show)
    state_verbs.add_parser(
        "verify", help="check the state's schema, and that it matches the issues' comments"
    ).set_defaults(run=_state_verify)
    return parser


# --- serve -------------------------------------------------------------------------------


@dataclass
class Running:
    settings: Settings
    bot_url: str
    emulator_url: str | None


@contextlib.asynccontextmanager
async def _running(settings: Settings, port: int) -> AsyncIterator[Running]:
    """The bot serving HTTP; in sandbox mode with the emulator beside it."""
    async with aiohttp.ClientSession() as session, contextlib.AsyncExitStack() as stack:
        emulator: GitHubEmulator | None = None
        emulator_url = None
        if settings.sandbox:
            emulator, settings = sandbox.make_emulator(settings)
            emulator_url = await emulator.start("127.0.0.1", 0)
            stack.push_async_callback(emulator.stop)
            settings = settings.model_copy(update={"github_api_url": emulator_url})
        bot = await build_bot(settings, session)
        runner, bot_url = await start_http(bot.web_app, settings.host, port)
        stack.push_async_callback(runner.cleanup)
        if emulator is not None:
            emulator.webhook_url = bot_url + settings.webhook_path
        yield Running(settings, bot_url, emulator_url)


def _serve(settings: Settings, _args: argparse.Namespace) -> int:
    asyncio.run(_serve_until_stopped(settings))
    return 0


async def _serve_until_stopped(settings: Settings) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    async with _running(settings, settings.port) as running:
        if running.emulator_url is not None:
            sandbox.SandboxInfo(running.emulator_url, running.bot_url).save(settings.data_dir)
            print(_sandbox_banner(running), flush=True)
        else:
            print(f"bot: serving GitHub App {settings.app_id} on {running.bot_url}", flush=True)
        try:
            await stop.wait()
        finally:
            sandbox.SandboxInfo.clear(settings.data_dir)
    print("bot: stopped", flush=True)


def _sandbox_banner(running: Running) -> str:
    settings = running.settings
    return textwrap.dedent(f"""\
        bot: sandbox mode (no APP_ID set): the GitHub emulator runs in this process.
          bot       {running.bot_url}{settings.webhook_path}
          emulator  {running.emulator_url}   (GITHUB_API_URL)
          repo      {sandbox.REPO}, {len(sandbox.DEMO_ISSUES)} issues, installation 1
        In another terminal, from this folder:
          .venv/bin/bot try "/generate-report" --issue 1
          .venv/bin/bot try "/help" --issue 1 --user visitor
        Set APP_ID, PRIVATE_KEY_PATH and WEBHOOK_SECRET to serve GitHub instead. Ctrl-C stops.""")


# --- try ---------------------------------------------------------------------------------


def _try(settings: Settings, args: argparse.Namespace) -> int:
    return asyncio.run(_try_async(settings, args))


async def _try_async(settings: Settings, args: argparse.Namespace) -> int:
    async with aiohttp.ClientSession() as http:
        info = sandbox.SandboxInfo.load(settings.data_dir)
        if info is not None and await _reachable(http, info):
            print(f"Using the sandbox running at {info.bot_url}")
            return await _drive(http, info, settings, args)
        # No sandbox running: start one for this command only. Port 0 avoids clashes.
        sandbox_settings = settings.model_copy(
            update={"app_id": None, "private_key": None, "webhook_secret": None}
        )
        async with _running(sandbox_settings, 0) as running:
            assert running.emulator_url is not None
            info = sandbox.SandboxInfo(running.emulator_url, running.bot_url)
            return await _drive(http, info, settings, args)


async def _reachable(http: aiohttp.ClientSession, info: sandbox.SandboxInfo) -> bool:
    try:
        async with http.get(info.bot_url + "/healthz", timeout=aiohttp.ClientTimeout(2)) as r:
            return r.status == 200
    except (aiohttp.ClientError, TimeoutError):
        return False


async def _get_json(http: aiohttp.ClientSession, url: str) -> Any:
    async with http.get(url) as response:
        response.raise_for_status()
        return await response.json()


async def _drive(
    http: aiohttp.ClientSession,
    info: sandbox.SandboxInfo,
    settings: Settings,
    args: argparse.Namespace,
) -> int:
    before = await _get_json(http, f"{info.emulator_url}/_emulator/requests?after=0")
    after = int(before["next"])
    comment = {"repo": args.repo, "issue": args.issue, "user": args.user, "body": args.line}
    async with http.post(f"{info.emulator_url}/_emulator/comment", json=comment) as response:
        if response.status != 200:
            print(f"bot try: the emulator refused: {await response.text()}", file=sys.stderr)
            return 1
        delivered = await response.json()
    print(
        f"Delivered issue_comment {delivered['delivery_id']} as @{args.user} "
        f"on {args.repo}#{args.issue}: HTTP {delivered['status']}"
    )
    await _wait_until_idle(http, info.bot_url)
    calls = (await _get_json(http, f"{info.emulator_url}/_emulator/requests?after={after}"))[
        "requests"
    ]
    print(f"\nThe bot's calls to GitHub ({len(calls)}):")
    for call in calls:
        print(f"  {call['status']}  {call['method']:<6} {call['path']}{_body_hint(call)}")
    owner, name = args.repo.split("/", 1)
    view = await _get_json(
        http, f"{info.emulator_url}/_emulator/issues/{owner}/{name}/{args.issue}"
    )
    _print_issue(view, args)
    state = await FileStore(settings.data_dir / "state.json").read()
    if state.runs:
        last = state.runs[-1]
        hooks = ", ".join(f"{h.name} {h.verdict}" for h in last.hooks) or "none"
        print(
            f"\nState ({settings.data_dir / 'state.json'}): {count(len(state.runs), 'run')} "
            "recorded; "
            f"last: /{last.command} {last.status} (hooks: {hooks})"
        )
    return 0


def _body_hint(call: dict[str, Any]) -> str:
    body = call.get("body")
    if isinstance(body, dict):
        for key in ("content", "labels"):
            if key in body:
                return f"  {key}={body[key]}"
    return ""


async def _wait_until_idle(http: aiohttp.ClientSession, bot_url: str, limit: float = 60) -> None:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        health = await _get_json(http, bot_url + "/healthz")
        if health["in_flight"] == 0:
            return
        await asyncio.sleep(0.05)
    print(f"bot try: still working after {limit:g} s; showing what is there", file=sys.stderr)


def _print_issue(view: dict[str, Any], args: argparse.Namespace) -> None:
    print(f"\n{args.repo}#{args.issue} now:")
    print(f"  labels: {', '.join(view['labels']) or '(none)'}")
    comments = view["comments"]
    mine = [c for c in comments if c["body"] == args.line]
    if mine:
        reactions = ", ".join(r["content"] for r in mine[-1].get("reactions", [])) or "(none)"
        print(f"  reactions on your comment: {reactions}")
    bot_comments = [c for c in comments if c["user"].endswith("[bot]")]
    if bot_comments:
        latest = bot_comments[-1]
        print(f"  the bot's latest comment (#{latest['id']}):\n")
        print(textwrap.indent(latest["body"].rstrip(), "    | ", lambda _line: True))


# --- commands, config, state -------------------------------------------------------------


def _commands(settings: Settings, _args: argparse.Namespace) -> int:
    catalogue = load_commands(settings)
    for spec in catalogue:
        kind = f"handler {spec.handler}, needs {spec.permission}" if spec.runnable else "no handler"
        print(f"/{spec.id:<30} {kind:<40} {spec.description}")
    for problem in catalogue.problems:
        print(f"not loaded: {problem}", file=sys.stderr)
    print(f"{len(catalogue)} commands from {settings.claude_dir / 'commands'}", file=sys.stderr)
    return 1 if catalogue.problems else 0


def _config(settings: Settings, _args: argparse.Namespace) -> int:
    shown = settings.model_dump(mode="json")  # SecretStr fields dump as '**********'
    print(json.dumps(shown, indent=2, default=str))
    if settings.sandbox:
        print("No APP_ID: `bot serve` will run in sandbox mode.", file=sys.stderr)
    else:
        settings.private_key_pem()  # fails with a ConfigError naming the problem
    return 0


def _token_create(settings: Settings, args: argparse.Namespace) -> int:
    token = new_token()
    fields = {
        "name": args.name,
        "sha256": hash_token(token),
        "commands": _listed(args.commands),
        "repositories": _listed(args.repositories),
        "permission": args.permission,
        "rate_limit": args.rate_limit,
    }
    try:
        add_token(settings.tokens_path, ApiToken.model_validate(fields))
    except ValidationError as error:
        raise ConfigError(describe_validation_error(error)) from None
    except TokenFileError as error:
        raise ConfigError(str(error)) from None
    print(token)
    print(
        f"Token {args.name!r} added to {settings.tokens_path}. This is the only time it is "
        "shown: store it now. Restart the bot to use it.",
        file=sys.stderr,
    )
    return 0


def _token_list(settings: Settings, _args: argparse.Namespace) -> int:
    try:
        tokens = load_tokens(settings.tokens_path)
    except TokenFileError as error:
        raise ConfigError(str(error)) from None
    for token in tokens.tokens:
        print(
            f"{token.name:<20} commands {','.join(token.commands):<24} repositories "
            f"{','.join(token.repositories):<24} {token.permission} {token.rate_limit}"
        )
    print(f"{count(len(tokens.tokens), 'token')} in {settings.tokens_path}", file=sys.stderr)
    return 0


def _listed(text: str) -> list[str]:
    return [item.strip() for item in text.split(",") if item.strip()]


def _state_show(settings: Settings, _args: argparse.Namespace) -> int:
    async def read() -> BotState:
        async with aiohttp.ClientSession() as session:
            return await (await make_store(settings, session)).read()

    print(asyncio.run(read()).model_dump_json(indent=2))
    return 0


def _state_verify(settings: Settings, _args: argparse.Namespace) -> int:
    return asyncio.run(_verify(settings))


async def _verify(settings: Settings) -> int:
    async with aiohttp.ClientSession() as session:
        store = await make_store(settings, session)
        state = await store.read()  # StateError: exit 1
        runs, records = count(len(state.runs), "run"), count(len(state.command_data), "record")
        print(f"state: schema valid; {runs}, {records}")
        problems = await store.problems()
        if settings.sandbox:
            print("no App credentials: the issues' status comments were not checked")
        else:
            github = make_github(settings, session)
            problems += audit_problems(state.runs, await issue_comments(github, state.runs))
    for problem in problems:
        print(f"problem: {problem}")
    if problems:
        print(count(len(problems), "problem"))
    else:
        print("no problems" if settings.sandbox else "state and issues agree")
    return 1 if problems else 0
