"""An App project folder for end-to-end tests: `.claude/` with commands, hooks and settings."""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Mapping
from pathlib import Path

from bot.intake.external import signature
from bot.intake.tokens import ApiToken, add_token, hash_token, new_token
from tests.conftest import PROJECT


def write_project(
    tmp_path: Path,
    settings: Mapping[str, object],
    scripts: Mapping[str, str],
    *,
    echo_fields: str = "",
) -> Path:
    """`/generate-report`, an `/echo text` command (plus `echo_fields` in its frontmatter),
    the hook `scripts` in `.claude/hooks/`, and `settings.json`; returns the `.claude` path."""
    claude = tmp_path / "project" / ".claude"
    commands, hooks = claude / "commands", claude / "hooks"
    commands.mkdir(parents=True)
    hooks.mkdir()
    shutil.copy(PROJECT / ".claude" / "commands" / "generate-report.md", commands)
    (commands / "echo.md").write_text(
        "---\nhandler: echo\npermission: read\nparameters:\n  text: string\n"
        f"{echo_fields}---\nEcho.\n"
    )
    for name, code in scripts.items():
        (hooks / name).write_text(code)
    (claude / "settings.json").write_text(json.dumps(settings))
    return claude


def api_token(tokens_file: Path, name: str = "ci", **scope: object) -> str:
    """A new REST API token, its hash written to `tokens_file`; returns the token itself."""
    token = new_token()
    add_token(
        tokens_file, ApiToken.model_validate({"name": name, "sha256": hash_token(token), **scope})
    )
    return token


def signed_headers(
    secret: str, body: bytes, *, at: float | None = None, delivery: str | None = None
) -> dict[str, str]:
    """The default headers of a signed external webhook (bot/intake/external.py)."""
    timestamp = str(int(time.time() if at is None else at))
    headers = {
        "Content-Type": "application/json",
        "X-Webhook-Timestamp": timestamp,
        "X-Signature-256": "sha256=" + signature(secret.encode(), timestamp, body),
    }
    if delivery is not None:
        headers["X-Webhook-Delivery"] = delivery
    return headers
