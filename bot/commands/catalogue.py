"""The command catalogue: Claude Code's `CLAUDE_DIR/commands/**/*.md` files, read for the bot.

Naming follows Claude Code (>= 1.0.45): `commands/frontend/component.md` is the command
`frontend:component`, shown as `(project:frontend)`. The bare basename `component` is also
accepted, as older Claude Code versions and the docs use it, unless another command has that
id (ids win) or several namespaces share the basename (then it is ambiguous: see
`Catalogue.ambiguous`). `README.md` files are documentation, not commands, and are skipped.
`name:` is ignored, as Claude Code ignores it in command files; it stays in `metadata`.

Every Claude Code field is kept as it is in `CommandSpec.metadata`; odd values there never
stop a file from loading. The bot reads these extra fields from the same frontmatter:

```yaml
handler: generate_report        # the Python handler; without it the command is listed, not run
permission: triage              # least role: read|triage|write|maintain|admin (default write)
trigger-labels: [report:requested]  # labels that run it (a list or a comma-separated string)
parameters:
  since: {type: since, default: 30d, description: how far back to look}
  format: {type: string, choices: [markdown, csv], default: markdown}
  limit: integer                # shorthand for {type: integer}
timeout: 120                    # seconds, > 0 (default 60)
rerun-on-edit: false            # re-run when the comment that asked is edited (default false)
concurrency: issue              # issue|repository|global|none (default none)
ordered: false                  # wait for earlier runs on its issue (default true; false for
                                #   commands that only read, which then answer at once)
rate-limit: 5/hour              # runs per user, a token bucket (default: RATE_LIMIT, or none)
breaker-threshold: 5            # failures in a row that pause it (default BREAKER_THRESHOLD)
breaker-cooldown: 300           # seconds paused before a probe (default BREAKER_COOLDOWN_SECONDS)
```

A parameter has a `type` (string, integer, number, boolean, since; default string), and may
have a `default`, `required`, `description` and `choices`. A `since` value is a time window
(`7d`, `12h`, `2w`) or a date (`2026-11-01`); `parse_since` turns it into the window's start.

A file with an invalid bot field is left out and reported in `Catalogue.problems`, with a
reason naming the field; the other commands still load.
"""

from __future__ import annotations

import contextlib
import math
import os
import re
from collections import defaultdict
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from functools import cached_property, partial
from pathlib import Path
from types import MappingProxyType
from typing import Annotated, Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, PlainValidator, ValidationError, create_model

from bot.commands.frontmatter import parse_bool, split_frontmatter
from bot.domain import Permission, RateLimit

__all__ = [
    "Catalogue",
    "CommandSpec",
    "LoadProblem",
    "ParameterError",
    "ParameterSpec",
    "bind_arguments",
    "check_since",
    "load_catalogue",
    "parameters_model",
    "parse_since",
    "usage",
]

ParameterType = Literal["string", "integer", "number", "boolean", "since"]

PARAMETER_TYPES: tuple[ParameterType, ...] = ("string", "integer", "number", "boolean", "since")
CONCURRENCY_SCOPES = ("issue", "repository", "global", "none")
# Changing state on a public repository must not be open to anyone who can comment.
DEFAULT_PERMISSION = Permission.WRITE
DEFAULT_TIMEOUT_S = 60.0

_T = TypeVar("_T")

_PARAMETER_KEYS = ("type", "default", "required", "description", "choices")
_PARAMETER_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")
_NAME_PART = re.compile(r"[^\s:]+")  # a file or folder name that can be typed after a slash
_INTEGER = re.compile(r"[+-]?\d+")
_FIRST_TEXT = re.compile(r"\S.*")
_WINDOW = re.compile(r"([+-]?\d+)([hdw])", re.IGNORECASE)
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_UNITS = {"h": timedelta(hours=1), "d": timedelta(days=1), "w": timedelta(weeks=1)}
_MAX_WINDOW = timedelta(days=3653)  # ten years: anything longer is a typo
_SINCE_FORMS = "a window such as 7d, 12h or 2w, or a date such as 2026-11-01"
_MAX_LABEL_LENGTH = 50  # GitHub's limit on label names


@dataclass(frozen=True)
class ParameterSpec:
    name: str
    type: ParameterType
    default: object | None
    required: bool
    description: str
    choices: tuple[str, ...]


@dataclass(frozen=True)
class CommandSpec:
    id: str
    aliases: tuple[str, ...]
    namespace: str | None
    path: Path
    description: str
    argument_hint: str
    body: str
    handler: str | None
    permission: Permission
    trigger_labels: tuple[str, ...]
    parameters: tuple[ParameterSpec, ...]
    timeout_s: float
    rerun_on_edit: bool
    concurrency: str
    # Runs after the earlier runs on its issue, in order (false: at once, beside them).
    ordered: bool
    # Runs per user of this command; None: the App's default (RATE_LIMIT) applies.
    rate_limit: RateLimit | None
    # The circuit breaker: failures in a row that pause it, and for how long; None: defaults.
    breaker_threshold: int | None
    breaker_cooldown_s: float | None
    # The whole frontmatter as read; a read-only view, left out of the hash.
    metadata: Mapping[str, object] = field(hash=False)

    @property
    def runnable(self) -> bool:
        """A command without a handler is a Claude Code prompt: listed, never run by the bot."""
        return self.handler is not None

    @property
    def label(self) -> str:
        """Claude Code's display label: `(project:frontend)`, or `(project)` at the top."""
        return f"(project:{self.namespace})" if self.namespace else "(project)"

    @cached_property
    def _parameters_model(self) -> type[BaseModel]:
        return _build_parameters_model(self)


@dataclass(frozen=True)
class LoadProblem:
    """A file that was left out. `path` is relative to CLAUDE_DIR, as people find it."""

    path: Path
    reason: str

    def __str__(self) -> str:
        return f"{self.path.as_posix()}: {self.reason}"


class ParameterError(ValueError):
    """Arguments that do not fit the command. `usage` is meant to be posted as the answer."""

    def __init__(self, errors: Sequence[str], usage: str) -> None:
        self.errors = list(errors)
        self.usage = usage
        super().__init__("; ".join(self.errors))


class Catalogue:
    """The loaded commands, found by id or alias."""

    def __init__(
        self,
        specs: Iterable[CommandSpec] = (),
        problems: Iterable[LoadProblem] = (),
        ambiguous: Mapping[str, tuple[str, ...]] | None = None,
    ) -> None:
        self._specs = tuple(sorted(specs, key=lambda spec: spec.id))
        self.problems = tuple(problems)
        # Basenames shared by several namespaced commands, to answer "did you mean".
        self.ambiguous: Mapping[str, tuple[str, ...]] = MappingProxyType(dict(ambiguous or {}))
        index = {spec.id: spec for spec in self._specs}
        for spec in self._specs:
            for alias in spec.aliases:
                index.setdefault(alias, spec)
        self._index = index
        self._names = frozenset(index)
        self._runnable_names = frozenset(name for name, spec in index.items() if spec.runnable)
        by_label: dict[str, list[CommandSpec]] = defaultdict(list)
        for spec in self._specs:
            for label in spec.trigger_labels:
                by_label[label.casefold()].append(spec)
        self._by_label = {label: tuple(specs) for label, specs in by_label.items()}

    def get(self, name: str) -> CommandSpec | None:
        return self._index.get(name)

    def names(self) -> frozenset[str]:
        """Every id and alias, for the command grammar."""
        return self._names

    def runnable_names(self) -> frozenset[str]:
        """The ids and aliases of the commands the bot can run: what counts in a comment."""
        return self._runnable_names

    def by_trigger_label(self, label: str) -> tuple[CommandSpec, ...]:
        # GitHub treats label names case-insensitively.
        return self._by_label.get(label.casefold(), ())

    def triggers(self) -> dict[str, str]:
        """Each trigger label of a runnable command, as written, and the command it runs."""
        return {
            label: spec.id for spec in self._specs if spec.runnable for label in spec.trigger_labels
        }

    def __iter__(self) -> Iterator[CommandSpec]:
        return iter(self._specs)

    def __len__(self) -> int:
        return len(self._specs)


def load_catalogue(
    commands_dir: Path,
    *,
    default_permissions: Mapping[str, Permission] | None = None,
    known_handlers: Collection[str] | None = None,
) -> Catalogue:
    """Load every command under `commands_dir`; a missing directory is an empty catalogue.

    `default_permissions` maps a command id to the permission it needs when its file
    names none (the file's `permission:` still wins). With `known_handlers`, a command
    naming any other handler is a problem rather than a command that fails when run.
    """
    if not commands_dir.is_dir():
        return Catalogue()
    loader = _Loader(commands_dir, default_permissions or {}, known_handlers)
    specs: list[CommandSpec] = []
    problems: list[LoadProblem] = []
    for path in _command_files(commands_dir, problems):
        try:
            specs.append(loader.load(path))
        except ValueError as error:
            problems.append(LoadProblem(path.relative_to(commands_dir.parent), str(error)))
    specs, ambiguous = _assign_aliases(specs)
    return Catalogue(specs, problems, ambiguous)


def parameters_model(spec: CommandSpec) -> type[BaseModel]:
    """The pydantic model of the command's parameters, built on first use and kept."""
    return spec._parameters_model


def bind_arguments(
    spec: CommandSpec, positional: Sequence[str], options: Mapping[str, str | bool]
) -> dict[str, object]:
    """Map positional tokens onto the parameters in order, add options, and validate.

    Returns every parameter by name (defaults filled in); raises ParameterError.
    """
    names = [param.name for param in spec.parameters]
    errors: list[str] = []
    if len(positional) > len(names):
        errors.append(_too_many_message(names, positional))
    data: dict[str, object] = dict(zip(names, positional, strict=False))
    for name, value in options.items():
        if name in data:
            errors.append(f"{name}: given twice, as an argument and as an option")
        data[name] = value
    model = parameters_model(spec)
    try:
        validated = model.model_validate(data)
    except ValidationError as error:
        errors.extend(_error_messages(error, names))
    if errors:
        raise ParameterError(errors, usage(spec))
    return validated.model_dump(by_alias=True)


def usage(spec: CommandSpec) -> str:
    """`/id <argument hint>` and one line per parameter: type, default, description."""
    hint = spec.argument_hint or " ".join(
        f"<{param.name}>" if param.required else f"[{param.name}]" for param in spec.parameters
    )
    lines = [f"/{spec.id} {hint}".rstrip()]
    lines.extend(f"  {_describe_parameter(param)}" for param in spec.parameters)
    return "\n".join(lines)


def check_since(text: str) -> str:
    """Check a `since` value against today's clock and return it stripped; raises ValueError.

    Arguments are validated when a run starts, so a future date or an absurd window gets a
    usage reply instead of failing inside the handler.
    """
    parse_since(text, datetime.now(UTC))
    return text.strip()


def parse_since(text: str, now: datetime) -> datetime:
    """The start of the window: `7d` is seven days before `now`, a date its midnight UTC.

    A naive `now` is taken as UTC. Raises ValueError for a malformed, empty, longer than ten
    years or future window.
    """
    now = now.astimezone(UTC) if now.tzinfo is not None else now.replace(tzinfo=UTC)
    window = _read_since(text)
    if isinstance(window, timedelta):
        return now - window
    start = datetime.combine(window, time(), UTC)
    if start > now:
        raise ValueError(f"{window.isoformat()} is in the future")
    if now - start > _MAX_WINDOW:
        raise ValueError(f"{window.isoformat()} is more than ten years ago")
    return start


def _read_since(text: str) -> timedelta | date:
    text = text.strip()
    window = _WINDOW.fullmatch(text)
    if window is not None:
        count, unit = int(window[1]), _UNITS[window[2].lower()]
        if count <= 0:
            raise ValueError(f"the window must be longer than zero, got {text!r}")
        if count > _MAX_WINDOW / unit:  # checked before multiplying, which could overflow
            raise ValueError(f"the window must be at most ten years, got {text!r}")
        return count * unit
    if _ISO_DATE.fullmatch(text):
        try:
            return date.fromisoformat(text)
        except ValueError:
            raise ValueError(f"no such date: {text!r}") from None
    raise ValueError(f"expected {_SINCE_FORMS}; got {text!r}")


# Loading -------------------------------------------------------------------------------


def _command_files(commands_dir: Path, problems: list[LoadProblem]) -> Iterator[Path]:
    def report(error: OSError) -> None:
        where = Path(error.filename or commands_dir).relative_to(commands_dir.parent)
        problems.append(LoadProblem(where, f"cannot read the folder: {error.strerror}"))

    for folder, subfolders, files in os.walk(commands_dir, onerror=report):
        subfolders.sort()  # a stable order, whatever the file system's
        for name in sorted(files):
            if name.endswith(".md") and name.lower() != "readme.md":
                yield Path(folder, name)


@dataclass(frozen=True)
class _Loader:
    commands_dir: Path
    default_permissions: Mapping[str, Permission]
    known_handlers: Collection[str] | None

    def load(self, path: Path) -> CommandSpec:
        """One command file as a spec; raises ValueError with every reason it is broken."""
        parts = path.relative_to(self.commands_dir).with_suffix("").parts
        if not all(_NAME_PART.fullmatch(part) for part in parts):
            raise ValueError("a command's file and folder names cannot contain spaces or ':'")
        metadata, body = split_frontmatter(_read_text(path))
        command_id = ":".join(parts)
        permission = self.default_permissions.get(command_id, DEFAULT_PERMISSION)
        errors: list[str] = []
        spec = CommandSpec(
            id=command_id,
            aliases=(),
            namespace=":".join(parts[:-1]) or None,
            path=path,
            description=_text(metadata, "description") or _first_line(body),
            argument_hint=_text(metadata, "argument-hint"),
            body=body,
            handler=_field(metadata, "handler", self._parse_handler, None, errors),
            permission=_field(metadata, "permission", _parse_permission, permission, errors),
            trigger_labels=_field(metadata, "trigger-labels", _parse_labels, (), errors),
            parameters=_field(metadata, "parameters", _parse_parameters, (), errors),
            timeout_s=_field(metadata, "timeout", _parse_timeout, DEFAULT_TIMEOUT_S, errors),
            rerun_on_edit=_field(metadata, "rerun-on-edit", parse_bool, False, errors),
            concurrency=_field(metadata, "concurrency", _parse_concurrency, "none", errors),
            ordered=_field(metadata, "ordered", parse_bool, True, errors),
            rate_limit=_field(metadata, "rate-limit", _parse_rate_limit, None, errors),
            breaker_threshold=_field(metadata, "breaker-threshold", _parse_count, None, errors),
            breaker_cooldown_s=_field(metadata, "breaker-cooldown", _parse_timeout, None, errors),
            metadata=MappingProxyType(metadata),
        )
        if errors:
            raise ValueError("; ".join(errors))
        return spec

    def _parse_handler(self, value: object) -> str | None:
        if not isinstance(value, str):
            raise ValueError(f"expected the handler's name, got {value!r}")
        name = value.strip()
        if any(char.isspace() for char in name):
            raise ValueError(f"expected one name without spaces, got {name!r}")
        if name and self.known_handlers is not None and name not in self.known_handlers:
            known = ", ".join(sorted(self.known_handlers)) or "none"
            raise ValueError(f"the bot has no handler {name!r}; it has: {known}")
        return name or None


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ValueError("not UTF-8 text; save the file as UTF-8") from None
    except OSError as error:
        raise ValueError(f"cannot read the file: {error.strerror}") from None


def _assign_aliases(
    specs: list[CommandSpec],
) -> tuple[list[CommandSpec], dict[str, tuple[str, ...]]]:
    """Give each namespaced command its basename as alias, where that names it alone."""
    ids = {spec.id for spec in specs}
    owners: dict[str, list[str]] = defaultdict(list)
    for spec in specs:
        if spec.namespace is not None:
            owners[spec.id.rpartition(":")[2]].append(spec.id)
    free = {base: found for base, found in owners.items() if base not in ids}
    alias_of = {found[0]: base for base, found in free.items() if len(found) == 1}
    ambiguous = {base: tuple(found) for base, found in free.items() if len(found) > 1}
    aliased = [
        replace(spec, aliases=(alias_of[spec.id],)) if spec.id in alias_of else spec
        for spec in specs
    ]
    return aliased, ambiguous


def _field(
    metadata: Mapping[str, object],
    key: str,
    parse: Callable[[object], _T],
    default: _T,
    errors: list[str],
) -> _T:
    """Parse one bot field; an empty or missing one is the default, a bad one an error."""
    value = metadata.get(key)
    if value is None:
        return default
    try:
        return parse(value)
    except ValueError as error:
        errors.append(f"{key}: {error}")
        return default


def _text(metadata: Mapping[str, object], key: str) -> str:
    value = metadata.get(key)
    return value.strip() if isinstance(value, str) else ""


def _first_line(body: str) -> str:
    """Claude Code's fallback description: the body's first line, without heading marks."""
    found = _FIRST_TEXT.search(body)
    return found[0].lstrip("#").strip() if found else ""


# Bot fields -----------------------------------------------------------------------------


def _parse_permission(value: object) -> Permission:
    return Permission.parse(str(value))


def _parse_labels(value: object) -> tuple[str, ...]:
    # Label names often hold spaces ("help wanted"), so only commas separate them.
    if isinstance(value, str):
        names = value.split(",")
    elif isinstance(value, list) and all(isinstance(item, str | int) for item in value):
        names = [str(item) for item in value]
    else:
        raise ValueError(f"expected a label name or a list of them, got {value!r}")
    labels = tuple(name.strip() for name in names if name.strip())
    too_long = [label for label in labels if len(label) > _MAX_LABEL_LENGTH]
    if too_long:
        raise ValueError(f"GitHub label names have at most 50 characters: {too_long[0]!r}")
    return labels


def _parse_timeout(value: object) -> float:
    seconds = _to_number(value)
    if seconds <= 0:
        raise ValueError(f"expected a number of seconds greater than 0, got {value!r}")
    return seconds


def _parse_concurrency(value: object) -> str:
    scope = str(value).strip().lower()
    if scope not in CONCURRENCY_SCOPES:
        raise ValueError(f"use one of {', '.join(CONCURRENCY_SCOPES)}; got {value!r}")
    return scope


def _parse_count(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int | str) or not str(value).isdigit():
        raise ValueError(f"expected a whole number of at least 1, got {value!r}")
    if int(value) < 1:
        raise ValueError(f"expected a whole number of at least 1, got {value!r}")
    return int(value)


def _parse_rate_limit(value: object) -> RateLimit:
    return RateLimit.parse(str(value))


def _parse_parameters(value: object) -> tuple[ParameterSpec, ...]:
    if not isinstance(value, dict):
        raise ValueError("expected a mapping of name: type, or name: {type: ..., default: ...}")
    parameters = []
    for name, declaration in value.items():
        try:
            parameters.append(_parse_parameter(str(name), declaration))
        except ValueError as error:
            raise ValueError(f"{name}: {error}") from None
    return tuple(parameters)


def _parse_parameter(name: str, declaration: object) -> ParameterSpec:
    if not _PARAMETER_NAME.fullmatch(name):
        raise ValueError("a parameter name has letters, digits, '-' and '_' only")
    if isinstance(declaration, str):
        declaration = {"type": declaration}
    if not isinstance(declaration, dict):
        raise ValueError(f"expected a type name or a mapping, got {declaration!r}")
    unknown = [str(key) for key in declaration if key not in _PARAMETER_KEYS]
    if unknown:
        raise ValueError(f"unknown key {unknown[0]!r}; use {', '.join(_PARAMETER_KEYS)}")
    kind = _parse_type(declaration.get("type", "string"))
    choices = _parse_choices(kind, declaration.get("choices"))
    required = parse_bool(declaration.get("required", False))
    raw_default = declaration.get("default")
    if required and raw_default is not None:
        raise ValueError("a required parameter cannot have a default")
    default = None if raw_default is None else _check_value(kind, choices, raw_default)
    description = declaration.get("description")
    return ParameterSpec(
        name=name,
        type=kind,
        default=default,
        required=required,
        description="" if description is None else str(description).strip(),
        choices=choices,
    )


def _parse_type(value: object) -> ParameterType:
    for kind in PARAMETER_TYPES:
        if value == kind:
            return kind
    raise ValueError(f"unknown type {value!r}; use one of {', '.join(PARAMETER_TYPES)}")


def _parse_choices(kind: ParameterType, value: object) -> tuple[str, ...]:
    if value is None:
        return ()
    if kind == "boolean":
        raise ValueError("a boolean parameter cannot have choices")
    if not isinstance(value, list) or not value:
        raise ValueError(f"choices: expected a list of values, got {value!r}")
    # Kept in their checked form (`01` as `1`) so that membership is a string comparison.
    return tuple(str(_COERCE[kind](choice)) for choice in value)


# Parameter values -----------------------------------------------------------------------


def _to_string(value: object) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, date):  # YAML reads `default: 2026-11-01` as a date
        return value.isoformat()
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    raise ValueError(f"expected text, got {value!r}")


def _to_integer(value: object) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and _INTEGER.fullmatch(value.strip()):
        return int(value)
    raise ValueError(f"expected a whole number, got {value!r}")


def _to_number(value: object) -> float:
    number = math.nan  # stands for "not a number" until proven otherwise
    if isinstance(value, int | float) and not isinstance(value, bool):
        number = float(value)
    elif isinstance(value, str):
        with contextlib.suppress(ValueError):
            number = float(value)
    if not math.isfinite(number):
        raise ValueError(f"expected a number, got {value!r}")
    return number


def _to_since(value: object) -> str:
    return check_since(_to_string(value))


_COERCE: dict[ParameterType, Callable[[object], object]] = {
    "string": _to_string,
    "integer": _to_integer,
    "number": _to_number,
    "boolean": parse_bool,
    "since": _to_since,
}
_PYTHON_TYPES: dict[ParameterType, type] = {
    "string": str,
    "integer": int,
    "number": float,
    "boolean": bool,
    "since": str,
}


def _check_value(kind: ParameterType, choices: tuple[str, ...], value: object) -> object:
    checked = _COERCE[kind](value)
    if choices and str(checked) not in choices:
        raise ValueError(f"expected one of {', '.join(choices)}; got {value!r}")
    return checked


def _build_parameters_model(spec: CommandSpec) -> type[BaseModel]:
    # Fields get neutral names and the parameter's name as alias, so that names such as
    # `dry-run`, `json` or `model_id` cannot clash with Python or with BaseModel.
    fields: dict[str, Any] = {}
    for index, param in enumerate(spec.parameters):
        check = PlainValidator(
            partial(_check_value, param.type, param.choices),
            json_schema_input_type=_PYTHON_TYPES[param.type],
        )
        default = ... if param.required else param.default
        fields[f"p{index}"] = (Annotated[Any, check], Field(default, alias=param.name))
    return create_model(f"Parameters[{spec.id}]", __config__=ConfigDict(extra="forbid"), **fields)


def _error_messages(error: ValidationError, names: Sequence[str]) -> list[str]:
    messages = []
    for problem in error.errors():
        where = ".".join(str(part) for part in problem["loc"])
        if problem["type"] == "missing":
            messages.append(f"{where}: required")
        elif problem["type"] == "extra_forbidden":
            known = f"use one of {', '.join(names)}" if names else "this command takes none"
            messages.append(f"{where}: unknown parameter; {known}")
        else:
            messages.append(f"{where}: {problem['msg'].removeprefix('Value error, ')}")
    return messages


def _too_many_message(names: Sequence[str], positional: Sequence[str]) -> str:
    if not names:
        return f"this command takes no arguments, got {len(positional)}"
    return f"too many arguments: expected at most {len(names)} ({', '.join(names)}), got " + str(
        len(positional)
    )


def _describe_parameter(param: ParameterSpec) -> str:
    facts: list[str] = [param.type]
    if param.choices:
        facts.append(f"one of {', '.join(param.choices)}")
    if param.required:
        facts.append("required")
    elif param.default is not None:
        facts.append(f"default {_show(param.default)}")
    described = f"{param.name} ({', '.join(facts)})"
    return f"{described}: {param.description}" if param.description else described


def _show(value: object) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)
