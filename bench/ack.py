"""Benchmark: how fast the bot acknowledges GitHub webhook deliveries, next to a bare server.

Both servers get the same load, one after the other, in one run: signed `issue_comment`
`created` deliveries (GitHub's real example payload, as the emulator renders it, with the
demo world's repository and installation, and a maintainer's comment on each of its issues
in turn: prose with `/help` on a line of its own, so each delivery is a command the bot
accepts). Rendered, the example alone is about 9 KB, over the 8 KB aimed at, so each comment
is two paragraphs of prose around `/help`: 9.2-9.6 KB in all. Each delivery has a fresh
`X-GitHub-Delivery`; aiohttp sends them over 32 connections after a short warm-up. The
latency of a delivery runs from sending it to reading the whole answer; every answer must
be 2xx.

* bare: an aiohttp server that reads the body, checks the signature with gidgethub's
  `Event.from_http` and answers 200: the floor any Python receiver pays;
* bare + inbox: the bare server, which first writes what the bot writes before its answer
  (the delivery and a job of the same size, in the bot's own `Inbox`: committed and
  fsynced): the floor any receiver that keeps invariant 3 pays, bot logic aside. It says
  at the end what its inbox holds;
* bot: the real bot (DATA_DIR in a temporary directory), the GitHub emulator of the demo
  world in a process of its own, as GitHub is. The bot runs the commands in the
  background while it acknowledges the next deliveries, and the emulator delivers the
  bot's own comments and labels back to it, as GitHub does.

Each server runs in a child process of its own, so the load generator does not share a
process (or, with CPUs to spare, a CPU) with it; everything listens on 127.0.0.1. Prints a
Markdown table (with the CPU time the server and the load generator spent per delivery,
and how busy the machine's CPUs were while the load ran), then the bot's throughput as a
share of the bare server's and whether the targets hold (bot p99 ≤ 10 ms, ≥ 70 % of the
bare throughput), the same share for bare + inbox, then how long the bot took to finish the
runs it had accepted (at most 60 s are waited for).

    .venv/bin/python bench/ack.py [--deliveries 2000] [--connections 32] [--smoke]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import re
import sqlite3
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from time import process_time
from typing import Any

import aiohttp
from aiohttp import web
from gidgethub import BadRequest, ValidationFailure
from gidgethub.sansio import Event
from harness import SECRET, Child, child, percentile

from bot.app import build_bot, start_http
from bot.config import load_settings
from bot.domain import RepoRef, Request, Source
from bot.intake.inbox import Inbox
from bot.pipeline.runner import run_id_for
from bot.sandbox import APP_ID, APP_SLUG, MAINTAINER, REPO, seed_demo_world
from bot.testing import GitHubEmulator, KeyPair, generate_key_pair
from bot.testing.payloads import Payloads, load_examples
from bot.testing.render import Renderer
from bot.testing.webhooks import sign

SCRIPT = Path(__file__).resolve()
PROJECT = SCRIPT.parent.parent
HOST = "127.0.0.1"
EVENT = "issue_comment"
# A comment has an opening, `/help` and at least one more paragraph of prose; more follow
# until the delivery's body reaches this size.
TARGET_BODY_BYTES = 8 * 1024
TARGET_P99_MS = 10.0
TARGET_SHARE = 0.70
# The emulator's hourly budget per installation. GitHub's 5000 would stop the runs after
# a few hundred (each makes about ten calls); the runs are not what is measured here.
EMULATOR_RATE_LIMIT = 10**9
# GitHub gives up on a delivery after 10 s; so does the load generator.
DELIVERY_TIMEOUT = aiohttp.ClientTimeout(total=10)
OPENING = (
    "Thanks for the report. I went through the logs you attached and the failure matches what "
    "we saw last week on the nightly runs: the job starts, reads the configuration, and then "
    "stops without saying why. Before we dig further, let me check which commands this bot "
    "offers here, so that the next steps can be run from this thread instead of by hand."
)
PROSE = (
    "For the record, here is what I tried so far. Running the job again with the same "
    "configuration fails the same way, which rules out a passing network problem. With an "
    "empty configuration it succeeds, so the problem is in one of the sections we added in "
    "the last release. I have not yet bisected which one, and I would rather not guess.",
    "A few things that would help whoever picks this up: the exact version you run, whether "
    "the machine has the cache directory from an older release, and the full output with "
    "verbose logging turned on. Please paste the output as a file rather than in a comment, "
    "since long comments are hard to read on a phone and get cut in notification emails.",
    "If this turns out to be the same issue as the timeouts on large repositories, we should "
    "close one of the two and keep the discussion in a single place. I will link them once "
    "we know more. In the meantime, the workaround is to split the configuration in two and "
    "run the job twice, which is slower but has worked for everyone who reported this.",
)


@dataclass
class Measured:
    server: str
    deliveries: int
    wall_s: float
    latencies_ms: list[float]
    statuses: Counter[int | str] = field(default_factory=Counter)
    # The server process's CPU time (all its threads) while it took the measured load.
    cpu_s: float | None = None
    # The load generator's (this process's) CPU time, and the share of the machine's CPU
    # time that was busy (all processes), over the same span.
    client_cpu_s: float | None = None
    machine_busy: float | None = None

    @property
    def failures(self) -> int:
        return sum(
            n for s, n in self.statuses.items() if not (isinstance(s, int) and 200 <= s < 300)
        )

    @property
    def per_second(self) -> float:
        return self.deliveries / self.wall_s

    def p(self, fraction: float) -> float:
        return percentile(self.latencies_ms, fraction)

    @property
    def cpu_per_delivery_us(self) -> str:
        return self._per_delivery_us(self.cpu_s)

    @property
    def client_cpu_per_delivery_us(self) -> str:
        return self._per_delivery_us(self.client_cpu_s)

    def _per_delivery_us(self, seconds: float | None) -> str:
        return "n/a" if seconds is None else f"{seconds / self.deliveries * 1e6:.0f}"

    @property
    def machine_busy_percent(self) -> str:
        return "n/a" if self.machine_busy is None else f"{self.machine_busy:.0%}"


def cpu_seconds(pid: int) -> float | None:
    """CPU time of process `pid` so far, all its threads, to the nanosecond (Linux's
    /proc/<pid>/task/<thread>/schedstat; /proc/<pid>/stat counts in 10 ms ticks, too coarse
    for a load of a fraction of a second), or None."""
    try:
        tasks = list(Path(f"/proc/{pid}/task").iterdir())
    except OSError:
        return None
    nanoseconds = 0
    for task in tasks:
        try:
            nanoseconds += int((task / "schedstat").read_text().split()[0])
        except OSError:  # the thread ended meanwhile
            continue
        except (ValueError, IndexError):
            return None
    return nanoseconds / 1e9


# /proc/stat counts the machine's CPU time in ticks of 10 ms: over fewer ticks than this, a
# share of busy time is too coarse to print.
MIN_MACHINE_TICKS = 20


def machine_ticks() -> tuple[int, int] | None:
    """(busy, all) CPU ticks of the whole machine so far (Linux's /proc/stat), or None."""
    try:
        line = Path("/proc/stat").read_text().split("\n", 1)[0]
        # user nice system idle iowait irq softirq steal; guest time is counted in user.
        ticks = [int(n) for n in line.split()[1:9]]
    except (OSError, ValueError):
        return None
    idle = ticks[3] + ticks[4]  # idle and iowait
    return sum(ticks) - idle, sum(ticks)


def busy_share(before: tuple[int, int] | None, after: tuple[int, int] | None) -> float | None:
    if before is None or after is None or after[1] - before[1] < MIN_MACHINE_TICKS:
        return None
    return (after[0] - before[0]) / (after[1] - before[1])


# -- the load --------------------------------------------------------------------------


def demo_world(keys: KeyPair) -> GitHubEmulator:
    """harness.demo_emulator, with a rate limit the runs of a benchmark do not reach."""
    emulator = GitHubEmulator(
        app_id=APP_ID,
        app_slug=APP_SLUG,
        public_key_pem=keys.public_pem,
        webhook_secret=SECRET,
        rate_limit=EMULATOR_RATE_LIMIT,
    )
    seed_demo_world(emulator, datetime.now(UTC))
    return emulator


def add_comment_deliveries(emulator: GitHubEmulator) -> dict[int, bytes]:
    """Add the maintainer's `/help` comment to each issue of the demo world; the body of
    each comment's `issue_comment.created` delivery (as the emulator renders it, padded with
    prose to TARGET_BODY_BYTES at least), by comment id."""
    world = emulator.world
    user = world.user(MAINTAINER)
    examples = load_examples()
    render = Renderer(
        api_url="http://127.0.0.1",  # the emulator's own, before it listens
        app_id=APP_ID,
        app_slug=APP_SLUG,
        repository_template=examples["issue_comment.created"]["repository"],
    )
    payloads = Payloads(render, examples)
    bodies = {}
    for issue in world.require_repo(REPO).issues.values():
        comment = world.add_comment(issue, user, "")
        paragraphs = [OPENING, "/help"]
        while True:
            comment.body = "\n\n".join(paragraphs)
            payload = payloads.issue_comment("created", comment, user)
            body = json.dumps(payload, separators=(",", ":")).encode()
            if len(body) >= TARGET_BODY_BYTES and len(paragraphs) > 2:
                break
            paragraphs.append(PROSE[(len(paragraphs) - 2) % len(PROSE)])
        bodies[comment.id] = body
    return bodies


def deliveries_of(bodies: list[bytes], count: int) -> list[tuple[bytes, dict[str, str]]]:
    """`count` deliveries, taking the bodies in turn, with what GitHub sends along: a fresh
    delivery id each, the body's signature."""
    signed = [(body, sign(body, SECRET, "sha256")) for body in bodies]
    deliveries = []
    for index in range(count):
        body, signature = signed[index % len(signed)]
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "GitHub-Hookshot/bench",
            "X-GitHub-Event": EVENT,
            "X-GitHub-Delivery": str(uuid.uuid4()),
            "X-GitHub-Hook-Installation-Target-Type": "integration",
            "X-GitHub-Hook-Installation-Target-ID": str(APP_ID),
            "X-Hub-Signature-256": signature,
        }
        deliveries.append((body, headers))
    return deliveries


async def send(
    session: aiohttp.ClientSession, url: str, bodies: list[bytes], count: int, connections: int
) -> tuple[list[float], Counter[int | str], float]:
    """`count` deliveries over `connections` workers: latencies (ms), answers, wall seconds."""
    pending = iter(deliveries_of(bodies, count))
    latencies: list[float] = []
    statuses: Counter[int | str] = Counter()

    async def worker() -> None:
        for body, headers in pending:
            started = time.perf_counter()
            try:
                async with session.post(url, data=body, headers=headers) as response:
                    await response.read()
                statuses[response.status] += 1
            except (aiohttp.ClientError, TimeoutError) as error:
                statuses[type(error).__name__] += 1
            latencies.append((time.perf_counter() - started) * 1000)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(connections)))
    return latencies, statuses, time.perf_counter() - started


async def measure(
    server: Child, name: str, bodies: list[bytes], deliveries: int, warm_up: int, connections: int
) -> Measured:
    url, pid = server.info["url"], server.process.pid
    connector = aiohttp.TCPConnector(limit=connections)
    async with aiohttp.ClientSession(connector=connector, timeout=DELIVERY_TIMEOUT) as session:
        _, warm_statuses, _ = await send(session, url, bodies, warm_up, connections)
        cpu_before, own_before, ticks_before = cpu_seconds(pid), process_time(), machine_ticks()
        latencies, statuses, wall = await send(session, url, bodies, deliveries, connections)
        cpu_after, own_after, ticks_after = cpu_seconds(pid), process_time(), machine_ticks()
    for status, count in warm_statuses.items():
        if not (isinstance(status, int) and 200 <= status < 300):
            statuses[f"{status} (warm-up)"] += count
    return Measured(
        server=name,
        deliveries=deliveries,
        wall_s=wall,
        latencies_ms=latencies,
        statuses=statuses,
        cpu_s=None if cpu_before is None or cpu_after is None else cpu_after - cpu_before,
        client_cpu_s=own_after - own_before,
        machine_busy=busy_share(ticks_before, ticks_after),
    )


# -- the servers, each in a child process -------------------------------------------------


async def until_stdin_closes() -> None:
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)


async def serve_bare() -> None:
    await serve_verifying(keep=None, kept=None)


async def serve_durable() -> None:
    """The bare server, and before its answer the bot's durable write: the delivery's id
    and a job like the bot's, in the bot's Inbox (group commit, fsync of the WAL)."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "inbox.sqlite3"
        inbox = Inbox(path)
        await inbox.open()

        async def keep(event: Event) -> None:
            job = job_like_the_bots(event.delivery_id, event.data)
            await inbox.accept([event.delivery_id], [job])

        def kept() -> dict[str, int]:
            with contextlib.closing(sqlite3.connect(path)) as conn:
                return {
                    table: conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
                    for table in ("deliveries", "jobs")
                }

        try:
            await serve_verifying(keep=keep, kept=kept)
        finally:
            await inbox.close()


async def serve_verifying(
    keep: Callable[[Event], Awaitable[None]] | None, kept: Callable[[], dict[str, int]] | None
) -> None:
    """Check each delivery's signature with gidgethub, `keep` it, answer 200. With `kept`,
    GET /kept says what the server kept."""

    async def webhook(request: web.Request) -> web.Response:
        body = await request.read()
        try:
            event = Event.from_http(request.headers, body, secret=SECRET)
        except ValidationFailure:
            return web.Response(status=401)
        except BadRequest as error:
            return web.Response(status=error.status_code)
        if keep is not None:
            await keep(event)
        return web.Response(status=200)

    async def what_was_kept(_: web.Request) -> web.Response:
        assert kept is not None
        return web.json_response(kept())

    app = web.Application()
    app.router.add_post("/webhook", webhook)
    if kept is not None:
        app.router.add_get("/kept", what_was_kept)
    runner, url = await start_http(app, HOST, 0)
    print(json.dumps({"url": url + "/webhook", "base": url}), flush=True)
    await until_stdin_closes()
    await runner.cleanup()


def job_like_the_bots(delivery_id: str, payload: dict[str, Any]) -> tuple[str, Request]:
    """The (run id, request) the bot keeps for a `/help` comment, read from the payload
    without the bot's checks."""
    comment, issue = payload["comment"], payload["issue"]
    request = Request(
        source=Source.COMMENT,
        command="help",
        args_text="",
        actor=comment["user"]["login"],
        repo=RepoRef.parse(payload["repository"]["full_name"]),
        issue=issue["number"],
        installation_id=payload["installation"]["id"],
        delivery_id=delivery_id,
        received_at=datetime.now(UTC),
        command_line="/help",
        actor_association=comment["author_association"],
        comment_id=comment["id"],
        issue_labels=frozenset(label["name"] for label in issue["labels"]),
    )
    return run_id_for(request), request


async def serve_emulator() -> None:
    """The bot child's GitHub: the demo world and the comment the deliveries are about."""
    keys = generate_key_pair()
    emulator = demo_world(keys)
    comment_ids = list(add_comment_deliveries(emulator))
    url = await emulator.start()
    print(
        json.dumps({"url": url, "private_key": keys.private_pem, "comment_ids": comment_ids}),
        flush=True,
    )
    loop = asyncio.get_running_loop()
    emulator.webhook_url = (await loop.run_in_executor(None, sys.stdin.readline)).strip()
    await until_stdin_closes()
    await emulator.stop()


class BriefLogs(logging.Filter):
    """The bot child's log, on its standard error: the first records of each message, on
    one line each; the rest are counted (runs that break, break by the thousand)."""

    SHOWN = 3

    def __init__(self) -> None:
        super().__init__()
        self.seen: Counter[str] = Counter()

    def filter(self, record: logging.LogRecord) -> bool:
        key = str(record.msg)
        self.seen[key] += 1
        if record.exc_info and record.exc_info[1] is not None:
            record.msg = f"{record.msg} ({record.exc_info[1]!r})"
        record.exc_info = None
        record.exc_text = None
        return self.seen[key] <= self.SHOWN

    def summary(self) -> str | None:
        hidden = sum(max(0, n - self.SHOWN) for n in self.seen.values())
        return f"bot: {hidden} more log records like those above" if hidden else None


async def serve_bot() -> None:
    brief = BriefLogs()
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(brief)
    handler.setFormatter(logging.Formatter("bot: %(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=logging.WARNING, handlers=[handler])
    try:
        await _serve_bot()
    finally:
        if (summary := brief.summary()) is not None:
            print(summary, file=sys.stderr)


async def _serve_bot() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        async with child(str(SCRIPT), "--serve", "emulator") as emulator:
            settings = load_settings(
                app_id=APP_ID,
                private_key=emulator.info["private_key"],
                webhook_secret=SECRET,
                github_api_url=emulator.info["url"],
                data_dir=Path(tmp) / "data",
                claude_dir=PROJECT / ".claude",
                rate_limit="none",
                github_writes_per_minute=1_000_000,  # the emulator takes more than GitHub's 80
            )
            async with aiohttp.ClientSession() as session:
                bot = await build_bot(settings, session)
                runner, bot_url = await start_http(bot.web_app, HOST, 0)
                webhook_url = bot_url + settings.webhook_path
                assert emulator.process.stdin is not None
                emulator.process.stdin.write(f"{webhook_url}\n".encode())
                await emulator.process.stdin.drain()
                info = {
                    "url": webhook_url,
                    "base": bot_url,
                    "comment_ids": emulator.info["comment_ids"],
                }
                print(json.dumps(info), flush=True)
                await until_stdin_closes()
                # The parent has waited for the work already; what is left is abandoned.
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(5):
                        await runner.cleanup()


# -- the bot's work after the answers -----------------------------------------------------

_RUNS = re.compile(r'^bot_runs_total\{status="([^"]+)"\} (\d+)$', re.MULTILINE)


async def bot_progress(
    session: aiohttp.ClientSession, base: str
) -> tuple[int | None, Counter[str]]:
    """Work in flight (GET /healthz) and runs ended by status (GET /metrics)."""
    async with session.get(f"{base}/healthz") as response:
        health = await response.json()
    async with session.get(f"{base}/metrics") as response:
        metrics = await response.text()
    in_flight = health.get("in_flight")
    ended = Counter({status: int(count) for status, count in _RUNS.findall(metrics)})
    return (in_flight if isinstance(in_flight, int) else None), ended


async def wait_for_work(base: str, timeout_s: float) -> str:
    """Wait, at most `timeout_s`, until the bot has no work in flight; say how it went."""
    started = time.perf_counter()
    async with aiohttp.ClientSession(timeout=DELIVERY_TIMEOUT) as session:
        while True:
            in_flight, ended = await bot_progress(session, base)
            waited = time.perf_counter() - started
            runs = ", ".join(f"{n} {status}" for status, n in sorted(ended.items())) or "none"
            if in_flight is None:
                return f"the bot does not report its work in flight (runs ended: {runs})"
            if in_flight == 0:
                return f"the bot's work drained {waited:.1f} s after the last answer (runs: {runs})"
            if waited >= timeout_s:
                return (
                    f"the bot still had {in_flight} in flight {waited:.0f} s after the last "
                    f"answer; stopped it (runs ended: {runs})"
                )
            await asyncio.sleep(0.2)


async def what_was_kept(base: str) -> dict[str, int]:
    async with (
        aiohttp.ClientSession(timeout=DELIVERY_TIMEOUT) as session,
        session.get(f"{base}/kept") as response,
    ):
        kept: dict[str, int] = await response.json()
        return kept


# -- the run ---------------------------------------------------------------------------


def table(rows: list[Measured]) -> str:
    lines = [
        "| server | deliveries | req/s | p50 ms | p99 ms | server CPU µs/delivery "
        "| load generator CPU µs/delivery | machine CPU busy |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    lines += [
        f"| {m.server} | {m.deliveries} | {m.per_second:.0f} | {m.p(0.5):.2f} | {m.p(0.99):.2f} "
        f"| {m.cpu_per_delivery_us} | {m.client_cpu_per_delivery_us} | {m.machine_busy_percent} |"
        for m in rows
    ]
    return "\n".join(lines)


def verdict(bare: Measured, durable: Measured, bot: Measured) -> str:
    share = bot.per_second / bare.per_second
    p99 = bot.p(0.99)
    p99_ok = p99 <= TARGET_P99_MS
    share_ok = share >= TARGET_SHARE
    holds = "targets hold" if p99_ok and share_ok else "targets NOT met"
    return (
        f"bot throughput: {share:.0%} of the bare server's; {holds} "
        f"(p99 {p99:.2f} ms {'≤' if p99_ok else '>'} {TARGET_P99_MS:g} ms, "
        f"throughput {share:.0%} {'≥' if share_ok else '<'} {TARGET_SHARE:.0%} of bare)\n"
        f"bare + inbox: {durable.per_second / bare.per_second:.0%} of the bare server's "
        f"throughput (the durable write alone, bot logic aside); the bot: "
        f"{bot.per_second / durable.per_second:.0%} of bare + inbox"
    )


def answers(measured: Measured) -> str:
    return ", ".join(f"{status}×{n}" for status, n in sorted(measured.statuses.items(), key=str))


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--deliveries", type=int, default=2000)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--smoke", action="store_true", help="tiny numbers, for the tests")
    parser.add_argument(
        "--serve", choices=("bare", "durable", "bot", "emulator"), help=argparse.SUPPRESS
    )
    args = parser.parse_args()
    if args.serve is not None:
        servers = {
            "bare": serve_bare,
            "durable": serve_durable,
            "bot": serve_bot,
            "emulator": serve_emulator,
        }
        await servers[args.serve]()
        return
    deliveries, connections, warm_up, drain_s = args.deliveries, args.connections, 100, 60.0
    if args.smoke:
        deliveries, connections, warm_up, drain_s = 40, 4, 8, 20.0

    # The parent's copy of the demo world, seeded as the emulator child seeds its own.
    by_comment = add_comment_deliveries(demo_world(generate_key_pair()))
    bodies = list(by_comment.values())
    async with child(str(SCRIPT), "--serve", "bare") as server:
        bare = await measure(server, "bare", bodies, deliveries, warm_up, connections)
    async with child(str(SCRIPT), "--serve", "durable") as server:
        durable = await measure(server, "bare + inbox", bodies, deliveries, warm_up, connections)
        kept = await what_was_kept(server.info["base"])
    async with child(str(SCRIPT), "--serve", "bot") as server:
        if server.info["comment_ids"] != list(by_comment):
            raise RuntimeError(
                f"the emulator's comments are {server.info['comment_ids']}, not {list(by_comment)}"
            )
        bot = await measure(server, "bot", bodies, deliveries, warm_up, connections)
        drained = await wait_for_work(server.info["base"], drain_s)
    rows = [bare, durable, bot]

    sizes = sorted(len(body) for body in bodies)
    print(
        f"{deliveries} signed issue_comment.created deliveries (after {warm_up} not counted) "
        f"on the {len(bodies)} issues of {REPO}, bodies of {sizes[0]}-{sizes[-1]} bytes; "
        f"{connections} connections, loopback, {os.cpu_count()} CPUs\n"
    )
    print(table(rows))
    print()
    print(verdict(bare=bare, durable=durable, bot=bot))
    print(drained)
    print("answers: " + "; ".join(f"{m.server} {answers(m)}" for m in rows))
    sent = warm_up + deliveries
    print(
        f"bare + inbox kept {kept['deliveries']} deliveries and {kept['jobs']} jobs "
        f"of the {sent} it was sent"
    )
    problems = [
        f"{m.server} answered {m.failures} deliveries with no 2xx ({answers(m)})"
        for m in rows
        if m.failures
    ]
    if kept != {"deliveries": sent, "jobs": sent}:
        problems.append(f"bare + inbox kept {kept}, not {sent} of each")
    if problems:
        for problem in problems:
            print(f"FAILED: {problem}", file=sys.stderr)
        raise SystemExit(1)


if __name__ == "__main__":
    asyncio.run(main())
