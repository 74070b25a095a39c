"""Nothing accepted is lost (invariant 3), with the real bot process killed by SIGKILL.

Each trial sends commands to a `bot serve` process and kills it -9 at a chosen point: just
after a delivery was answered 2xx (its run still queued), while a run is running (hooks or
handler), or once a run is recorded (between its result comment and its label). The test
watches the inbox file (WAL lets a reader look while the bot writes) to kill at that
point, then starts a new process on the same DATA_DIR and port. At the end, every command
whose delivery was answered 2xx has exactly one status comment, showing a final status,
and its issue carries a final status label and no running one.

CI runs 9 trials (3 at each point); `scripts/test -m slow` runs 51.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import random
import socket
import sqlite3
import sys
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import pytest

from bot.sandbox import APP_ID, APP_SLUG, MAINTAINER, REPO, seed_demo_world
from bot.testing import Delivery, GitHubEmulator, KeyPair
from tests.conftest import PROJECT

SECRET = "crash-secret"
KILL_POINTS = ("queued", "running", "recorded")
FINAL_HEADLINES = ("succeeded", "failed", "was blocked", "was refused", "was cancelled")
STATUS_LABELS = {f"bot:{s}" for s in ("succeeded", "failed", "blocked", "refused", "cancelled")}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class BotProcess:
    """`python -m bot serve` on a fixed port and DATA_DIR, started and killed at will."""

    def __init__(self, api_url: str, data_dir: Path, port: int, private_key: str):
        self.url = f"http://127.0.0.1:{port}"
        self._env = {
            **os.environ,
            "APP_ID": str(APP_ID),
            "PRIVATE_KEY": private_key,
            "WEBHOOK_SECRET": SECRET,
            "GITHUB_API_URL": api_url,
            "DATA_DIR": str(data_dir),
            "CLAUDE_DIR": str(PROJECT / ".claude"),
            "PORT": str(port),
            "LOG_LEVEL": "warning",
            "GITHUB_WRITES_PER_MINUTE": "100000",
            # One run at a time, so that the others wait in the queue long enough to be seen.
            "WORKERS": "1",
        }
        self._process: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        self._process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot", "serve", env=self._env, stdout=asyncio.subprocess.DEVNULL
        )
        async with aiohttp.ClientSession() as session:
            for _ in range(300):
                with contextlib.suppress(aiohttp.ClientError):
                    async with session.get(self.url + "/readyz") as answer:
                        if answer.status == 200:
                            return
                if self._process.returncode is not None:
                    raise AssertionError(f"the bot exited with {self._process.returncode}")
                await asyncio.sleep(0.05)
        raise AssertionError("the bot did not get ready in 15 s")

    async def kill(self) -> None:
        assert self._process is not None
        self._process.kill()  # SIGKILL: no shutdown code runs
        await self._process.wait()
        self._process = None

    async def stop(self) -> None:
        if self._process is not None:
            self._process.terminate()
            await self._process.wait()
            self._process = None


@contextlib.asynccontextmanager
async def crash_world(
    tmp_path: Path, keys: KeyPair
) -> AsyncIterator[tuple[GitHubEmulator, BotProcess]]:
    emulator = GitHubEmulator(
        app_id=APP_ID, app_slug=APP_SLUG, public_key_pem=keys.public_pem, webhook_secret=SECRET
    )
    seed_demo_world(emulator, datetime.now(UTC))
    api_url = await emulator.start()
    # Each GitHub answer takes 10-30 ms, so that a run lasts long enough to be cut short.
    emulator.set_latency(0.02, jitter=0.01, seed=5)
    port = free_port()
    bot = BotProcess(api_url, tmp_path / "data", port, keys.private_pem)
    emulator.webhook_url = f"{bot.url}/api/github/webhooks"
    try:
        yield emulator, bot
    finally:
        await bot.stop()
        await emulator.settle()
        await emulator.stop()


def run_id_of(delivery: Delivery) -> str:
    """The run id the bot gives a comment's first command (bot.pipeline.run_id_for)."""
    return hashlib.sha256(f"{delivery.id}:0".encode()).hexdigest()[:16]


async def wait_for_phase(inbox: Path, phase: str) -> bool:
    """Poll the bot's inbox until some job is in `phase`; False after 10 s."""
    deadline = asyncio.get_running_loop().time() + 10.0
    while asyncio.get_running_loop().time() < deadline:
        with contextlib.suppress(sqlite3.Error):
            conn = sqlite3.connect(f"file:{inbox}?mode=ro", uri=True, timeout=0.05)
            try:
                found = conn.execute("SELECT 1 FROM jobs WHERE phase = ? LIMIT 1", (phase,))
                if found.fetchone() is not None:
                    return True
            finally:
                conn.close()
        await asyncio.sleep(0.002)
    return False


async def settle_all(emulator: GitHubEmulator, run_ids: dict[str, int]) -> None:
    """Wait until every run has ended on its issue (30 s at most)."""
    for _ in range(600):
        if all(not problem(emulator, issue, run_id) for run_id, issue in run_ids.items()):
            return
        await asyncio.sleep(0.05)


def problem(emulator: GitHubEmulator, issue: int, run_id: str) -> str:
    """What is wrong with how a run shows on its issue; "" when it ended well."""
    view = emulator.issue_view(REPO, issue)
    mine = [c.body for c in view.comments if f"run:{run_id} -->" in c.body]
    if len(mine) != 1:
        return f"{len(mine)} status comments"
    headline = mine[0].splitlines()[1]
    if not any(word in headline for word in FINAL_HEADLINES):
        return f"comment not final: {headline}"
    labels = set(view.labels)
    if "bot:running" in labels or len(labels & STATUS_LABELS) != 1:
        return f"labels {sorted(labels)}"
    return ""


@pytest.mark.parametrize("trials", [9, pytest.param(51, marks=pytest.mark.slow)])
async def test_every_accepted_command_ends_once_across_kill_9(
    tmp_path: Path, app_keys: KeyPair, trials: int
) -> None:
    rng = random.Random(2026)
    inbox = tmp_path / "data" / "inbox.sqlite3"
    accepted: dict[str, int] = {}  # run id -> issue
    kills: Counter[str] = Counter()
    async with crash_world(tmp_path, app_keys) as (emulator, bot):
        for trial in range(trials):
            point = KILL_POINTS[trial % len(KILL_POINTS)]
            await bot.start()
            issues = [emulator.add_issue(REPO, f"trial {trial}.{n}") for n in range(3)]
            sends = [
                asyncio.create_task(
                    emulator.comment(REPO, issue, MAINTAINER, rng.choice(["/help", "/status"]))
                )
                for issue in issues
            ]
            if await wait_for_phase(inbox, point):
                kills[point] += 1
            await bot.kill()
            for send, issue in zip(sends, issues, strict=True):
                delivery = await send
                if delivery.ok:
                    accepted[run_id_of(delivery)] = issue
        await bot.start()
        await settle_all(emulator, accepted)

        # The kill points were reached, and commands were accepted before the kills.
        assert kills == {point: trials // 3 for point in KILL_POINTS}
        assert len(accepted) >= trials
        problems = {run_id: problem(emulator, issue, run_id) for run_id, issue in accepted.items()}
        assert {run_id: text for run_id, text in problems.items() if text} == {}
        assert emulator.violations == []
