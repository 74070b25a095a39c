"""External webhooks: which services may call the App, how their requests are signed, and
how their events become commands. Pure: configuration, signature checks and mapping.

The mapping lives in `CLAUDE_DIR/webhooks.yml` (docs/external-webhooks.md):

```yaml
sources:
  ci:
    secret_env: CI_WEBHOOK_SECRET   # the secret is read from this variable, never the file
    event_field: type               # where the event name is, in the JSON body
    permission: write               # the role the source's runs act with
    events:
      build.failed:
        command: generate-report
        repository: $.repository    # "$." reads a field of the body; anything else is literal
        issue: $.issue
        params: {label: $.label, since: 7d}
```

A request is signed with HMAC-SHA256 over `<timestamp>.<raw body>`, hex, in the signature
header (default `X-Signature-256`, `sha256=` prefix), with the Unix time in the timestamp
header (default `X-Webhook-Timestamp`); requests more than 5 minutes off are refused.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from bot.domain import Permission

MAPPING_FILE = "webhooks.yml"
# Requests signed longer ago (or further ahead) than this are replays, or badly wrong clocks.
REPLAY_WINDOW_S = 300
_PATH_PREFIX = "$."
_UNIX_TIME = re.compile(r"[0-9]{1,12}")
_ISSUE_NUMBER = re.compile(r"[0-9]{1,10}")
MAX_ISSUE = 2**31 - 1


class MappingError(ValueError):
    """webhooks.yml cannot be used; the message says where and why."""


def _permission(value: object) -> object:
    return Permission.parse(value) if isinstance(value, str) else value


Scalar = str | int | float | bool


class EventMapping(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    command: str
    repository: str
    issue: str | int
    params: dict[str, Scalar] = {}


class Source(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    secret_env: Annotated[str, Field(pattern=r"^[A-Z_][A-Z0-9_]*$")]
    signature_header: str = "X-Signature-256"
    signature_prefix: str = "sha256="
    timestamp_header: str = "X-Webhook-Timestamp"
    delivery_header: str = "X-Webhook-Delivery"
    # Where the event name is: a field of the body, or a header.
    event_field: str | None = None
    event_header: str | None = None
    permission: Annotated[Permission, BeforeValidator(_permission)] = Permission.TRIAGE
    events: dict[str, EventMapping] = {}

    def secret(self) -> bytes | None:
        value = os.environ.get(self.secret_env)
        return value.encode() if value else None


class _MappingFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    sources: dict[Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,39}$")], Source] = {}


def load_sources(claude_dir: Path) -> dict[str, Source]:
    """The sources in `CLAUDE_DIR/webhooks.yml`; none when there is no file."""
    path = claude_dir / MAPPING_FILE
    if not path.exists():
        return {}
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        return _MappingFile.model_validate(document).sources
    except yaml.YAMLError as error:
        raise MappingError(f"{path}: not valid YAML: {error}") from None
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise MappingError(f"{path}: {where}: {first['msg']}") from None


# --- signatures --------------------------------------------------------------------------


def signature(secret: bytes, timestamp: str, body: bytes) -> str:
    signed = timestamp.encode("utf-8", "surrogateescape") + b"." + body
    return hmac.new(secret, signed, hashlib.sha256).hexdigest()


def signed_digest(timestamp: str, body: bytes) -> str:
    """What identifies one signed request: resent with any other header, it is the same."""
    signed = timestamp.encode("utf-8", "surrogateescape") + b"." + body
    return hashlib.sha256(signed).hexdigest()[:32]


def signature_problem(
    source: Source, headers: Mapping[str, str], body: bytes, now: float
) -> str | None:
    """Why the request is not an authentic, fresh one from `source`; None when it is."""
    secret = source.secret()
    if secret is None:
        return f"the App has no secret for this source: set {source.secret_env}"
    given = headers.get(source.signature_header, "")
    timestamp = headers.get(source.timestamp_header, "")
    if not given or not timestamp:
        return f"sign the request: {source.signature_header} and {source.timestamp_header}"
    expected = source.signature_prefix + signature(secret, timestamp, body)
    if not hmac.compare_digest(given.encode("utf-8", "surrogateescape"), expected.encode()):
        return "the signature does not match the body and timestamp"
    if not _UNIX_TIME.fullmatch(timestamp):
        return f"{source.timestamp_header} must be a Unix time in whole seconds"
    if abs(now - int(timestamp)) > REPLAY_WINDOW_S:
        return "the request was signed more than 5 minutes from now; send a fresh one"
    return None


# --- mapping -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MappedCommand:
    command: str
    repository: str
    issue: int
    params: dict[str, Scalar]


class UnmappedField(ValueError):
    """A field the mapping reads is missing or of the wrong kind; `field` names it."""

    def __init__(self, field: str, message: str):
        self.field = field
        super().__init__(f"{field}: {message}")


def event_name(source: Source, headers: Mapping[str, str], body: Mapping[str, Any]) -> str:
    if source.event_header is not None:
        return headers.get(source.event_header, "")
    if source.event_field is not None:
        value = _read(body, source.event_field)
        return value if isinstance(value, str) else ""
    return ""


def map_event(mapping: EventMapping, body: Mapping[str, Any]) -> MappedCommand:
    """The command an event asks for, its values read from the body; raises UnmappedField."""
    repository = _value(mapping.repository, body, "repository")
    issue = _value(mapping.issue, body, "issue")
    if not isinstance(repository, str):
        raise UnmappedField(str(mapping.repository), "expected a repository name, owner/name")
    number = issue if isinstance(issue, int) and not isinstance(issue, bool) else None
    if isinstance(issue, str) and _ISSUE_NUMBER.fullmatch(issue):
        number = int(issue)
    if number is None or not 1 <= number <= MAX_ISSUE:
        raise UnmappedField(str(mapping.issue), "expected an issue number")
    params = {name: _value(value, body, name) for name, value in mapping.params.items()}
    return MappedCommand(mapping.command, repository, number, params)


def _value(spec: Scalar, body: Mapping[str, Any], name: str) -> Scalar:
    if not (isinstance(spec, str) and spec.startswith(_PATH_PREFIX)):
        return spec
    value = _read(body, spec[len(_PATH_PREFIX) :])
    if value is None:
        raise UnmappedField(spec, f"missing from the body (needed for {name})")
    if not isinstance(value, str | int | float | bool):
        raise UnmappedField(spec, f"expected a string, number or boolean (for {name})")
    return value


def _read(body: Mapping[str, Any], path: str) -> Any:
    value: Any = body
    for part in path.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return None
        value = value[part]
    return value
