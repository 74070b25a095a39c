"""Bearer tokens of the REST command API: stored as SHA-256 hashes, never in clear.

A token is 32 random bytes (`iqb_…`), so a plain SHA-256 is enough to store it: nobody can
guess their way back from the hash. `bot api-token create` prints a new token once and
writes its hash to `API_TOKENS_FILE`:

```json
{"tokens": [{"name": "ci", "sha256": "…", "commands": ["generate-report"],
             "repositories": ["octo-org/*"], "permission": "write", "rate_limit": "60/hour"}]}
```

`commands` and `repositories` scope the token (`*` for all, `owner/*` for an owner's
repositories); `permission` is the role its calls act with; `rate_limit` counts its calls.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    ValidationError,
)

from bot.domain import Permission, RateLimit, RepoRef

TOKEN_PREFIX = "iqb_"


class TokenFileError(ValueError):
    """API_TOKENS_FILE cannot be used; the message says where and why."""


def _permission(value: object) -> object:
    return Permission.parse(value) if isinstance(value, str) else value


def _rate_limit(value: object) -> object:
    return RateLimit.parse(value) if isinstance(value, str) else value


class ApiToken(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", arbitrary_types_allowed=True)

    name: Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]{1,40}$")]
    sha256: Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]
    commands: tuple[str, ...] = ("*",)
    repositories: tuple[str, ...] = ("*",)
    permission: Annotated[Permission, BeforeValidator(_permission), PlainSerializer(str)] = (
        Permission.WRITE
    )
    rate_limit: Annotated[RateLimit, BeforeValidator(_rate_limit), PlainSerializer(str)] = (
        RateLimit(60, 60.0)
    )

    @property
    def actor(self) -> str:
        """How runs name the caller: never a GitHub login, which cannot hold a colon."""
        return f"api:{self.name}"

    def allows_command(self, command_id: str) -> bool:
        return "*" in self.commands or command_id in self.commands

    def allows_repository(self, repo: RepoRef) -> bool:
        full_name = repo.full_name.lower()
        return any(
            scope == "*"
            or scope.lower() == full_name
            or (scope.endswith("/*") and scope[:-2].lower() == repo.owner.lower())
            for scope in self.repositories
        )


class _TokenFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    tokens: list[ApiToken] = []


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    # surrogateescape: a header's undecodable bytes hash like any others (and never match).
    return hashlib.sha256(token.encode("utf-8", "surrogateescape")).hexdigest()


class ApiTokens:
    def __init__(self, tokens: Sequence[ApiToken] = ()):
        names = [token.name for token in tokens]
        if len(set(names)) != len(names):
            raise TokenFileError("two API tokens share a name; names must be unique")
        self._tokens = tuple(tokens)

    @property
    def tokens(self) -> tuple[ApiToken, ...]:
        return self._tokens

    def authenticate(self, presented: str) -> ApiToken | None:
        """The token whose hash matches, compared in constant time against every entry."""
        digest = hash_token(presented).encode()
        found = None
        for token in self._tokens:
            if hmac.compare_digest(digest, token.sha256.encode()):
                found = token
        return found


def load_tokens(path: Path | None) -> ApiTokens:
    """The tokens in `path`; none when there is no file (the API then answers 401)."""
    if path is None or not path.exists():
        return ApiTokens()
    try:
        document = _TokenFile.model_validate_json(path.read_bytes())
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise TokenFileError(f"{path}: {where}: {first['msg']}") from None
    except OSError as error:
        raise TokenFileError(f"{path}: cannot be read: {error.strerror}") from None
    return ApiTokens(document.tokens)


def add_token(path: Path, entry: ApiToken) -> None:
    """Append `entry` to the file (created if absent), refusing a name already used."""
    existing = load_tokens(path)
    tokens = [*existing.tokens, entry]
    ApiTokens(tokens)  # checks the names
    path.parent.mkdir(parents=True, exist_ok=True)
    document = {"tokens": [token.model_dump(mode="json") for token in tokens]}
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps(document, indent=2) + "\n")
    temporary.chmod(0o600)
    temporary.replace(path)
