"""An App project folder for end-to-end tests: `.claude/` with commands, hooks and settings."""

from __future__ import annotations

import json
import shutil
from collections.abc import Mapping
from pathlib import Path

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
