"""The command line as a new user runs it: real processes, sandbox mode, loopback only."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from bot.intake.tokens import hash_token
from tests.conftest import PROJECT

CREDENTIALS = ("APP_ID", "PRIVATE_KEY", "PRIVATE_KEY_PATH", "WEBHOOK_SECRET", "GITHUB_API_URL")


def sandbox_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in CREDENTIALS}
    env.update(
        DATA_DIR=str(tmp_path / "data"),
        CLAUDE_DIR=str(PROJECT / ".claude"),
        PORT="0",
        LOG_LEVEL="warning",
    )
    return env


def bot(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        cwd=tmp_path,
        env=sandbox_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_try_without_a_running_sandbox(tmp_path: Path) -> None:
    done = bot(tmp_path, "try", "/generate-report", "--issue", "1")

    assert done.returncode == 0, done.stderr
    assert "HTTP 202" in done.stdout
    assert "✅ `/generate-report` succeeded" in done.stdout
    assert "reactions on your comment: eyes, rocket" in done.stdout
    assert "labels: documentation, bot:succeeded" in done.stdout
    assert "last: /generate-report succeeded" in done.stdout

    again = bot(tmp_path, "try", "/generate-report", "--issue", "1")
    assert "Since the last report" in again.stdout  # state persists in DATA_DIR


def test_serve_in_sandbox_then_try_from_another_process(tmp_path: Path) -> None:
    server = subprocess.Popen(
        [sys.executable, "-m", "bot", "serve"],
        cwd=tmp_path,
        env=sandbox_env(tmp_path),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        banner = server.stdout.readline()
        assert banner.startswith("bot: sandbox mode"), banner + server.stderr.read()
        info_file = tmp_path / "data" / "sandbox.json"
        deadline = time.monotonic() + 10
        while not info_file.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        info = json.loads(info_file.read_text())
        assert info["bot_url"].startswith("http://127.0.0.1:")

        done = bot(tmp_path, "try", "/help", "--user", "visitor")
        assert done.returncode == 0, done.stderr
        assert f"Using the sandbox running at {info['bot_url']}" in done.stdout
        assert "`/help` succeeded" in done.stdout
        assert "/generate-report" not in done.stdout.split("`/help` succeeded")[1]
    finally:
        server.send_signal(signal.SIGTERM)
        out, err = server.communicate(timeout=30)
    assert server.returncode == 0, err
    assert "bot: stopped" in out
    assert not (tmp_path / "data" / "sandbox.json").exists()


def test_commands_lists_the_catalogue(tmp_path: Path) -> None:
    done = bot(tmp_path, "commands")

    assert done.returncode == 0, done.stderr
    assert "/generate-report" in done.stdout
    assert "needs write" in done.stdout
    assert "/help" in done.stdout
    assert "needs read" in done.stdout


def test_bad_configuration_is_one_line(tmp_path: Path) -> None:
    env = sandbox_env(tmp_path) | {"PORT": "not-a-port"}
    done = subprocess.run(
        [sys.executable, "-m", "bot", "serve"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )

    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "bot: configuration error: PORT: Input should be a valid integer, "
        "unable to parse string as an integer (got 'not-a-port')"
    ]


def test_state_verify_in_sandbox_checks_the_schema(tmp_path: Path) -> None:
    assert bot(tmp_path, "try", "/help").returncode == 0
    done = bot(tmp_path, "state", "verify")

    assert done.returncode == 0, done.stderr
    assert "state: schema valid; 1 run, 0 records" in done.stdout
    (tmp_path / "data" / "state.json").write_text("{broken")
    broken = bot(tmp_path, "state", "verify")
    assert broken.returncode == 1
    assert broken.stderr.startswith("bot: state error: state file")


def test_api_token_create_prints_the_token_once_and_keeps_its_hash(tmp_path: Path) -> None:
    done = bot(tmp_path, "api-token", "create", "ci", "--repositories", "demo/*")
    assert done.returncode == 0, done.stderr
    token = done.stdout.strip()
    assert token.startswith("iqb_")
    stored = (tmp_path / "data" / "api-tokens.json").read_text()
    assert token not in stored
    (entry,) = json.loads(stored)["tokens"]
    assert entry["sha256"] == hash_token(token)
    assert entry["repositories"] == ["demo/*"]
    assert "only time it is shown" in done.stderr

    again = bot(tmp_path, "api-token", "create", "ci")
    assert again.returncode == 2
    assert again.stderr.strip() == (
        "bot: configuration error: two API tokens share a name; names must be unique"
    )
    listed = bot(tmp_path, "api-token", "list")
    assert listed.stdout.startswith("ci ")
    assert "demo/*" in listed.stdout
    assert token not in listed.stdout
