"""Sandbox mode: the GitHub emulator in the same process, with a demo installation.

With no App credentials, `bot serve` and `bot try` run against this world, so a new user
sees the bot work end to end without registering an App.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from pydantic import SecretStr

from bot.config import Settings, StateBackend
from bot.testing import GitHubEmulator, generate_key_pair

APP_ID = 1
APP_SLUG = "issue-queue-bot"
INSTALLATION_ID = 1
REPO = "demo/sandbox"
MAINTAINER = "maintainer"
# Issues with a spread of ages, states and labels, so the first report has something to say.
DEMO_ISSUES: tuple[tuple[str, tuple[str, ...], int, int | None], ...] = (
    # title, labels, opened days ago, closed days ago (None: still open)
    ("Try the bot here: comment /generate-report", ("documentation",), 400, None),
    ("Crash when the config file is empty", ("bug",), 90, None),
    ("Support GitHub Enterprise Server", ("enhancement",), 60, None),
    ("Typo in the README", ("documentation", "good first issue"), 45, 40),
    ("Timeouts on large repositories", ("bug",), 20, 3),
    ("Add a dark theme", ("enhancement",), 12, None),
    ("Flaky test in CI", ("bug", "ci"), 6, 2),
    ("Document the label state machine", ("documentation",), 5, None),
    ("Upgrade to Python 3.13", (), 3, 1),
    ("Rate limit errors are not retried", ("bug",), 1, None),
)
SANDBOX_FILE = "sandbox.json"


@dataclass
class SandboxInfo:
    """Where a running sandbox listens, so `bot try` in another terminal can drive it."""

    emulator_url: str
    bot_url: str

    @classmethod
    def load(cls, data_dir: Path) -> SandboxInfo | None:
        try:
            raw = json.loads((data_dir / SANDBOX_FILE).read_text())
            return cls(emulator_url=str(raw["emulator_url"]), bot_url=str(raw["bot_url"]))
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def save(self, data_dir: Path) -> None:
        data_dir.mkdir(parents=True, exist_ok=True)
        payload = {"emulator_url": self.emulator_url, "bot_url": self.bot_url}
        (data_dir / SANDBOX_FILE).write_text(json.dumps(payload))

    @staticmethod
    def clear(data_dir: Path) -> None:
        (data_dir / SANDBOX_FILE).unlink(missing_ok=True)


def seed_demo_world(emulator: GitHubEmulator, now: datetime) -> None:
    emulator.add_installation(INSTALLATION_ID, "demo")
    emulator.add_repo(INSTALLATION_ID, REPO)
    emulator.set_role(REPO, "demo", "admin")
    emulator.set_role(REPO, MAINTAINER, "write")
    emulator.set_role(REPO, "triager", "triage")
    for title, labels, opened, closed in DEMO_ISSUES:
        emulator.add_issue(
            REPO,
            title,
            user="demo",
            labels=labels,
            state="open" if closed is None else "closed",
            created_at=now - timedelta(days=opened),
            closed_at=None if closed is None else now - timedelta(days=closed),
        )


def make_emulator(settings: Settings) -> tuple[GitHubEmulator, Settings]:
    """A seeded emulator, and the settings that point the bot at it."""
    keys = generate_key_pair()
    secret = secrets.token_hex(16)
    emulator = GitHubEmulator(
        app_id=APP_ID, app_slug=APP_SLUG, public_key_pem=keys.public_pem, webhook_secret=secret
    )
    seed_demo_world(emulator, datetime.now(UTC))
    bot_settings = settings.model_copy(
        update={
            # The emulator's world is new at each start; state stays in DATA_DIR.
            "state_backend": StateBackend.FILE,
            "app_id": APP_ID,
            "private_key": SecretStr(keys.private_pem),
            "webhook_secret": SecretStr(secret),
        }
    )
    return emulator, bot_settings
