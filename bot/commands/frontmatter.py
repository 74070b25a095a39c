"""A tolerant reader for the YAML frontmatter of Claude Code's Markdown files.

Claude Code parses frontmatter leniently and real command files rely on it: PyYAML rejects
`argument-hint: [a] [b]` and `description: Triggers include: X, Y`, and reads
`argument-hint: [x]` as a list. So `split_frontmatter` tries YAML first and, when that fails,
reads the block one top-level key at a time, keeping the raw text of entries YAML cannot
read. `description` and `argument-hint` always come back as strings, in the words of the file.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import yaml

try:
    from yaml import CSafeLoader as _SafeLoader
except ImportError:  # PyYAML built without libyaml: same results, about ten times slower
    from yaml import SafeLoader as _SafeLoader  # type: ignore[assignment]

__all__ = ["parse_bool", "split_frontmatter", "split_tools"]

# Keys whose value Claude Code coerces to a string whatever YAML made of it.
_TEXT_KEYS = frozenset({"description", "argument-hint"})

_CLOSING_FENCE = re.compile(r"^---[ \t]*$", re.MULTILINE)
_TRUE = frozenset({"true", "yes", "on", "1"})
_FALSE = frozenset({"false", "no", "off", "0"})
_TOOL_SEPARATORS = frozenset(", \t\n")
# YAML raises these for blocks it cannot read; ValueError comes from impossible timestamps
# such as `2026-13-01`, which the resolver matches before the date constructor refuses them.
_YAML_FAILURES = (yaml.YAMLError, ValueError)


@dataclass
class _Entry:
    """One top-level key of a frontmatter block and the lines that belong to it."""

    key: str
    inline: str  # the text after the key's colon, stripped
    lines: list[str]  # the key's line, then its continuation lines

    @property
    def continuation(self) -> list[str]:
        return [line.strip() for line in self.lines[1:] if line.strip()]


def split_frontmatter(text: str) -> tuple[dict[str, object], str]:
    """Return (metadata, body); a file without a frontmatter block is `({}, text)`.

    A leading BOM is dropped and CRLF line ends become LF, in the body too, so that
    what follows never has to care.
    """
    text = text.removeprefix("\ufeff")
    if "\r\n" in text:
        text = text.replace("\r\n", "\n")
    first_end = text.find("\n")
    if first_end < 0 or text[:first_end].rstrip() != "---":
        return {}, text
    closing = _CLOSING_FENCE.search(text, first_end + 1)
    if closing is None:
        return {}, text
    block = text[first_end + 1 : closing.start()]
    body = text[closing.end() + 1 :]
    return _parse_block(block), body


def split_tools(value: object) -> tuple[str, ...]:
    """`allowed-tools` / `disallowed-tools` as a tuple of rules.

    A string is split on commas and whitespace outside parentheses, so
    `Bash(git add:*), Read` gives `("Bash(git add:*)", "Read")`; list items are kept whole.
    """
    if value is None:
        return ()
    if isinstance(value, str):
        return _split_outside_parentheses(value)
    if isinstance(value, list | tuple):
        return tuple(text for text in (str(item).strip() for item in value) if text)
    return (str(value),)


def parse_bool(value: object) -> bool:
    """yes/no, on/off, true/false, 1/0 in any case, as Claude Code accepts since 2.1.218."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        word = value.strip().lower()
        if word in _TRUE:
            return True
        if word in _FALSE:
            return False
    raise ValueError(f"expected true/false (or yes/no, on/off, 1/0), got {value!r}")


def _parse_block(block: str) -> dict[str, object]:
    if not block.strip():
        return {}
    try:
        loaded = yaml.load(block, Loader=_SafeLoader)
    except _YAML_FAILURES:
        loaded = None
    if isinstance(loaded, dict):
        metadata = {str(key): value for key, value in loaded.items()}
        odd = [key for key in _TEXT_KEYS if key in metadata and not isinstance(metadata[key], str)]
        if odd:
            entries = {entry.key: entry for entry in _split_entries(block)}
            for key in odd:
                metadata[key] = _as_text(metadata[key], entries.get(key))
        return metadata
    return _parse_entries(block)


def _parse_entries(block: str) -> dict[str, object]:
    """The fallback: each top-level key on its own, so one bad line spoils only its key."""
    metadata: dict[str, object] = {}
    for entry in _split_entries(block):
        value = _entry_value(entry)
        metadata[entry.key] = _as_text(value, entry) if entry.key in _TEXT_KEYS else value
    return metadata


def _entry_value(entry: _Entry) -> object:
    # YAML still reads most entries (nested `hooks:`, block lists) when only a neighbour
    # is malformed; the raw text is the last resort.
    try:
        loaded = yaml.load("\n".join(entry.lines), Loader=_SafeLoader)
    except _YAML_FAILURES:
        loaded = None
    if isinstance(loaded, dict) and len(loaded) == 1:
        return next(iter(loaded.values()))
    return _raw_value(entry)


def _raw_value(entry: _Entry) -> str | list[str]:
    rest = entry.continuation
    if not entry.inline and rest and _is_list_item(rest[0]):
        items: list[str] = []
        for line in rest:
            if _is_list_item(line):
                items.append(_unquote(line[1:].strip()))
            else:  # a wrapped item
                items[-1] = f"{items[-1]} {line}"
        return items
    return " ".join(part for part in (_unquote(entry.inline), *rest) if part)


def _as_text(value: object, entry: _Entry | None) -> str:
    if isinstance(value, str):
        return value
    # `argument-hint: [path-to-plan]` is a YAML list; the file's own words are wanted.
    if entry is not None and entry.inline:
        return _unquote(entry.inline)
    if value is None:
        return ""
    if isinstance(value, list):
        return " ".join(str(item) for item in value)
    return str(value)


def _split_entries(block: str) -> list[_Entry]:
    entries: list[_Entry] = []
    for line in block.split("\n"):
        if line.startswith("#"):
            continue
        key_value = None if line[:1] in ("", " ", "\t", "-") else _split_key_line(line)
        if key_value is not None:
            entries.append(_Entry(key_value[0], key_value[1], [line]))
        elif entries:  # indented text, `- item` lines and stray lines extend the last key
            entries[-1].lines.append(line)
    return entries


def _split_key_line(line: str) -> tuple[str, str] | None:
    """Split on the first `: ` (or a trailing `:`), else on the first `:`."""
    stripped = line.rstrip()
    colon = stripped.find(": ")
    if colon < 0:
        colon = len(stripped) - 1 if stripped.endswith(":") else stripped.find(":")
    if colon <= 0:
        return None
    key = _unquote(stripped[:colon].strip())
    return (key, stripped[colon + 1 :].strip()) if key else None


def _is_list_item(line: str) -> bool:
    return line == "-" or line.startswith("- ")


def _unquote(text: str) -> str:
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        return text[1:-1]
    return text


def _split_outside_parentheses(text: str) -> tuple[str, ...]:
    parts: list[str] = []
    current: list[str] = []
    depth = 0
    for char in text:
        if char in _TOOL_SEPARATORS and depth == 0:
            parts.append("".join(current))
            current = []
            continue
        if char == "(":
            depth += 1
        elif char == ")" and depth > 0:
            depth -= 1
        current.append(char)
    parts.append("".join(current))
    return tuple(part for part in parts if part)
