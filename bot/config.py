"""Configuration: Probot's names, read from the environment and `.env`.

A missing or malformed value fails at start with one line naming it (`ConfigError`).
With no App credentials at all, the bot runs in sandbox mode against the embedded
GitHub emulator (see `Settings.sandbox`).
"""

from __future__ import annotations

import re
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Literal, Self

from pydantic import (
    BaseModel,
    BeforeValidator,
    Field,
    SecretStr,
    ValidationError,
    model_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict, SettingsError

from bot.domain import RateLimit, RunStatus


class ConfigError(Exception):
    """A setting is missing or malformed. The message names it and says what to set."""


class StateBackend(StrEnum):
    FILE = "file"
    GIST = "gist"


class StatusLabels(BaseModel):
    """The label an issue carries for the status of its latest run (LABELS__<STATUS>)."""

    queued: str = "bot:queued"
    running: str = "bot:running"
    succeeded: str = "bot:succeeded"
    failed: str = "bot:failed"
    blocked: str = "bot:blocked"
    refused: str = "bot:refused"
    cancelled: str = "bot:cancelled"

    def for_status(self, status: RunStatus) -> str:
        name: str = getattr(self, status.value)
        return name

    def all(self) -> frozenset[str]:
        return frozenset(self.for_status(status) for status in RunStatus)


def _rate_limit(value: object) -> object:
    return RateLimit.parse(value) if isinstance(value, str) else value


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_file=".env",
        env_file_encoding="utf-8",
        env_nested_delimiter="__",
        extra="ignore",
        case_sensitive=False,
    )

    app_id: int | None = None
    private_key: SecretStr | None = None
    private_key_path: Path | None = None
    webhook_secret: SecretStr | None = None
    github_api_url: str = "https://api.github.com"

    host: str = "127.0.0.1"
    port: Annotated[int, Field(ge=0, le=65535)] = 3000
    webhook_path: str = "/api/github/webhooks"

    state_backend: StateBackend = StateBackend.FILE
    gist_token: SecretStr | None = None
    gist_id: str | None = None
    data_dir: Path = Path(".bot")
    claude_dir: Path = Path(".claude")
    redis_url: str | None = None

    log_level: Literal["debug", "info", "warning", "error"] = "info"
    log_format: Literal["json", "pretty"] = "pretty"

    labels: StatusLabels = StatusLabels()
    # How long a collaborator's permission is trusted before it is asked again.
    permission_cache_seconds: Annotated[float, Field(ge=0)] = 300.0
    # Runs of one command by one user, unless its frontmatter says otherwise (`rate-limit:`).
    # Generous for people; it stops loops (a bot answering a bot) and floods.
    rate_limit: Annotated[RateLimit, NoDecode, BeforeValidator(_rate_limit)] = RateLimit(30, 60.0)
    # How hard the bot may push one installation: requests in flight (GitHub allows 100),
    # content-creating requests a minute (GitHub allows 80; only an emulator takes more),
    # and the first retry's backoff.
    github_max_in_flight: Annotated[int, Field(ge=1, le=100)] = 10
    github_writes_per_minute: Annotated[int, Field(ge=1)] = 80
    github_retry_base_seconds: Annotated[float, Field(gt=0)] = 0.5
    # A command that fails this many times in a row is paused (circuit breaker), for this
    # long before one run probes it; frontmatter may say otherwise per command.
    breaker_threshold: Annotated[int, Field(ge=1)] = 5
    breaker_cooldown_seconds: Annotated[float, Field(gt=0)] = 300.0
    # The REST command API's tokens (hashes only; `bot api-token create` writes them);
    # default DATA_DIR/api-tokens.json. No file: every API call answers 401.
    api_tokens_file: Path | None = None
    # How long POST /api/commands waits for a run before answering 202 with its URL.
    api_wait_seconds: Annotated[float, Field(ge=0, le=60)] = 5.0
    # A run shows the `running` label once it has lasted this long; a quicker one goes
    # straight to its final label (decision 0015). 0: at once.
    running_label_delay_seconds: Annotated[float, Field(ge=0, le=3600)] = 2.0
    # Runs at once, over all issues (the runs of one issue go one after another).
    workers: Annotated[int, Field(ge=1, le=1000)] = 16
    # The reconciler looks for what GitHub shows and the bot missed (failed deliveries,
    # trigger labels, stale running labels): at start, then this often (0: only at start).
    reconcile: bool = True
    reconcile_interval_seconds: Annotated[float, Field(ge=0)] = 300.0
    # Payloads over GitHub's own cap are refused with 413.
    max_payload_bytes: Annotated[int, Field(gt=0)] = 25 * 1024 * 1024

    @model_validator(mode="after")
    def _credentials_complete(self) -> Self:
        given = {
            "APP_ID": self.app_id is not None,
            "PRIVATE_KEY or PRIVATE_KEY_PATH": self.private_key is not None
            or self.private_key_path is not None,
            "WEBHOOK_SECRET": self.webhook_secret is not None,
        }
        if any(given.values()) and not all(given.values()):
            missing = ", ".join(name for name, ok in given.items() if not ok)
            raise ValueError(f"App credentials are incomplete: set {missing}")
        if self.state_backend is StateBackend.GIST and self.gist_token is None:
            raise ValueError("STATE_BACKEND=gist needs GIST_TOKEN (a user token with gist scope)")
        if not self.webhook_path.startswith("/"):
            raise ValueError("WEBHOOK_PATH must start with '/'")
        return self

    @property
    def tokens_path(self) -> Path:
        return self.api_tokens_file or self.data_dir / "api-tokens.json"

    @property
    def sandbox(self) -> bool:
        """No App credentials: serve the embedded emulator instead of GitHub."""
        return self.app_id is None

    def private_key_pem(self) -> str:
        if self.private_key is not None:
            # Hosting platforms often store the PEM with literal "\n" sequences.
            return self.private_key.get_secret_value().replace("\\n", "\n")
        if self.private_key_path is not None:
            try:
                return self.private_key_path.read_text()
            except OSError as error:
                raise ConfigError(
                    f"PRIVATE_KEY_PATH: cannot read {self.private_key_path}: {error.strerror}"
                ) from None
        raise ConfigError("PRIVATE_KEY or PRIVATE_KEY_PATH: not set")


def load_settings(**overrides: object) -> Settings:
    """Read the settings; on error raise ConfigError with one line naming the setting."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as error:
        raise ConfigError(describe_validation_error(error)) from None
    except SettingsError as error:
        # A nested setting given whole (LABELS=x) must be JSON; say which one was not.
        field = re.search(r'field "([^"]+)"', str(error))
        name = field.group(1).upper() if field else "a setting"
        raise ConfigError(
            f"{name}: not valid JSON; set it as JSON or one part at a time ({name}__RUNNING=...)"
        ) from None


def describe_validation_error(error: ValidationError) -> str:
    first = error.errors()[0]
    location = "__".join(str(part) for part in first["loc"]).upper()
    message = first["msg"].removeprefix("Value error, ")
    if not location:
        return message
    if any(word in location for word in ("KEY", "SECRET", "TOKEN")):
        return f"{location}: {message}"  # never echo a secret back
    given = f"{first.get('input')!r}"
    if message.endswith(given):
        return f"{location}: {message}"
    return f"{location}: {message} (got {given})"
