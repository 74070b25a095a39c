"""The command grammar: which lines of a comment are commands, and how their arguments read.

A pure module (no I/O, nothing from the rest of `bot`), so every rule here is property-tested.

Commands
    A command is a line whose first non-blank character is `/`, followed by a command name
    (`[A-Za-z0-9][A-Za-z0-9_:.-]*`) that is one of the known names (compared case-sensitively),
    then either the end of the line or whitespace and the argument text:

        /generate-report since=30d label="good first issue"

    A comment may carry several commands anywhere, one per line; they are taken in order, up
    to a limit, and the rest are counted as dropped. Line endings may be LF, CRLF or CR; a
    leading byte order mark and trailing whitespace are ignored.

Hidden text (invariant 7: what a person sees as quoted or code never runs)
    - Fenced code blocks: a run of 3+ backticks or tildes opens a fence (a backtick fence's
      info string may not contain a backtick); a line of the same character, at least as
      long, closes it; an unclosed fence runs to the end of the comment. CommonMark allows a
      fence at most 3 spaces deep, but inside a list item that depth is counted from the
      item's content, so a fence opens at any indentation and closes at most 3 columns
      deeper than it opened; when in doubt, text is hidden rather than run.
    - Block quotes: a line whose first non-blank character is `>` (so `> > /cmd` as well).
      Quotes are judged line by line: an unquoted line right after a quote counts, although
      CommonMark would render it inside the quote (a "lazy continuation"), since a person
      who types `/cmd` on a line of its own means it.
    - HTML comments: `<!--` to `-->`, across lines or several on one line; the text around
      them on the same line still counts. An unclosed comment runs to the end. `<!--` inside
      a fence or in an inline code span on its line (`` `<!--` ``) opens nothing, and a fence
      inside a comment opens nothing.
    A command line that carries an HTML comment is read with the comment removed.

Near misses
    A `/word` line whose word is a valid name but not a known one is a near miss when a known
    name is close to it (difflib, case-insensitively, so `/Generate-Report` suggests
    `/generate-report`); the bot answers "did you mean". Anything else that starts with `/`
    (paths, URLs, a lone `/`, unrelated words) is ignored silently.

Arguments (`parse_arguments`, POSIX shell quoting via `shlex`)
    `key=value`, `--key=value`          -> options[key] = "value" (the value may be quoted)
    `--flag`, `--no-flag`               -> options["flag"] = True / False
    `--`                                -> every later token is positional
    anything else                       -> positional
    Option names are `[A-Za-z][A-Za-z0-9_]*` joined by single hyphens. Bad quoting, a
    malformed `--option` or an option given twice raises `ArgumentSyntaxError`.
"""

from __future__ import annotations

import re
import shlex
from collections import Counter
from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass
from difflib import get_close_matches
from types import MappingProxyType

__all__ = [
    "ArgumentSyntaxError",
    "Arguments",
    "CommandLine",
    "NearMiss",
    "Scan",
    "added_commands",
    "parse_arguments",
    "scan",
]

# How alike a typed name and a known one must be (difflib ratio) to suggest the known one.
SUGGESTION_CUTOFF = 0.75

_FENCE = re.compile(r"(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})(?P<info>.*)")
_CLOSING_FENCE = re.compile(r"(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})[ \t]*")
_COMMENT_OR_CODE_SPAN = re.compile(r"<!--|`+")
_COMMAND = re.compile(r"/(?P<name>[A-Za-z0-9][A-Za-z0-9_:.-]*)(?:\s+(?P<args>.*))?")

_OPTION_NAME = r"[A-Za-z][A-Za-z0-9_]*(?:-[A-Za-z0-9_]+)*"
_KEY_VALUE = re.compile(rf"(?P<key>{_OPTION_NAME})=(?P<value>.*)", re.DOTALL)
_NEGATED_FLAG = re.compile(rf"--no-(?P<key>{_OPTION_NAME})")
_LONG_OPTION = re.compile(rf"--(?P<key>{_OPTION_NAME})(?:=(?P<value>.*))?", re.DOTALL)
_END_OF_OPTIONS = "--"


@dataclass(frozen=True)
class CommandLine:
    """One command found in a comment."""

    name: str  # as typed, e.g. "generate-report"
    args_text: str  # the rest of the line, stripped, e.g. 'since=30d label="good first issue"'
    line: str  # the line as typed (without any HTML comment), stripped
    line_number: int  # 1-based


@dataclass(frozen=True)
class NearMiss:
    """A `/word` line that is not a command but looks like one: answer "did you mean"."""

    typed: str
    suggestion: str
    line_number: int


@dataclass(frozen=True)
class Scan:
    commands: tuple[CommandLine, ...]
    # At most `limit` of them, so one comment cannot make the bot write a long reply.
    near_misses: tuple[NearMiss, ...]
    dropped: int  # commands beyond the limit


@dataclass(frozen=True)
class Arguments:
    positional: tuple[str, ...]
    options: Mapping[str, str | bool]


class ArgumentSyntaxError(ValueError):
    """Argument text that cannot be read; the message tells a person what to fix."""


def scan(body: str, known: Collection[str], *, limit: int = 10) -> Scan:
    """The commands and near misses in a comment body. Never raises on any body.

    `known` holds every name that may be run (aliases included); it is also where near-miss
    suggestions come from, which is why a plain predicate would not do.
    """
    _check_limit(limit)
    commands, near_misses = _read(body, known, near_miss_limit=limit)
    return Scan(tuple(commands[:limit]), tuple(near_misses), max(0, len(commands) - limit))


def added_commands(
    old_body: str, new_body: str, known: Collection[str], *, limit: int = 10
) -> tuple[CommandLine, ...]:
    """The commands in `new_body` that `old_body` did not carry, in order, at most `limit`.

    Commands compare by (name, args_text) as a multiset, so typing a second identical line
    adds one command. Both bodies are compared in full, not just their first `limit`
    commands: otherwise deleting one line would promote a command that was dropped before,
    and an edit would run something the person did not add.
    """
    _check_limit(limit)
    old_commands, _ = _read(old_body, known, near_miss_limit=0)
    new_commands, _ = _read(new_body, known, near_miss_limit=0)
    previous = Counter((c.name, c.args_text) for c in old_commands)
    added: list[CommandLine] = []
    for command in new_commands:
        key = (command.name, command.args_text)
        if previous[key] > 0:
            previous[key] -= 1
        elif len(added) < limit:
            added.append(command)
    return tuple(added)


def parse_arguments(args_text: str) -> Arguments:
    """Read argument text (see the module docstring); raises ArgumentSyntaxError."""
    positional: list[str] = []
    options: dict[str, str | bool] = {}
    tokens = iter(_split(args_text))
    for token in tokens:
        if token == _END_OF_OPTIONS:
            positional.extend(tokens)
            break
        option = _option(token)
        if option is None:
            positional.append(token)
            continue
        key, value = option
        if key in options:
            raise ArgumentSyntaxError(f"option {key!r} is given more than once in: {args_text}")
        options[key] = value
    return Arguments(tuple(positional), MappingProxyType(options))


def _check_limit(limit: int) -> None:
    if limit < 0:
        raise ValueError(f"limit must be 0 or more, got {limit}")


def _read(
    body: str, known: Collection[str], *, near_miss_limit: int
) -> tuple[list[CommandLine], list[NearMiss]]:
    """Every command in `body`, and its first near misses.

    Suggestions stop at the limit because each costs a difflib pass over the known names,
    and a long comment of `/typos` should not cost seconds.
    """
    by_lower: dict[str, str] | None = None  # built at the first near miss: most have none
    commands: list[CommandLine] = []
    near_misses: list[NearMiss] = []
    for line_number, text in _visible_lines(body):
        line = text.strip()
        match = _COMMAND.fullmatch(line)
        if match is None:
            continue
        name = match["name"]
        if name in known:
            commands.append(CommandLine(name, match["args"] or "", line, line_number))
        elif len(near_misses) < near_miss_limit:
            if by_lower is None:
                by_lower = _lowercase_index(known)
            if suggestion := _suggestion(name, by_lower):
                near_misses.append(NearMiss(name, suggestion, line_number))
    return commands, near_misses


def _lowercase_index(known: Collection[str]) -> dict[str, str]:
    """Known names by their lower case, to suggest across case (`/LGTM` -> `lgtm`)."""
    index: dict[str, str] = {}
    # Sorted, so that names differing only in case always suggest the same one.
    for name in sorted(known):
        index.setdefault(name.lower(), name)
    return index


def close_names(typed: str, known: Collection[str], limit: int = 3) -> list[str]:
    """The known names most like `typed`, best first (for "did you mean")."""
    by_lower = _lowercase_index(known)
    matches = get_close_matches(typed.lower(), by_lower, n=limit, cutoff=SUGGESTION_CUTOFF)
    return [by_lower[match] for match in matches]


def _suggestion(typed: str, by_lower: Mapping[str, str]) -> str | None:
    matches = get_close_matches(typed.lower(), by_lower, n=1, cutoff=SUGGESTION_CUTOFF)
    return by_lower[matches[0]] if matches else None


def _visible_lines(body: str) -> Iterator[tuple[int, str]]:
    """(line number, text outside HTML comments) for each line outside fenced code."""
    fence: _Fence | None = None
    in_comment = False
    for line_number, raw in enumerate(_lines(body), 1):
        line = raw.rstrip()
        if fence is not None:
            if fence.is_closed_by(line):
                fence = None
            continue
        # A fence opens only at the start of a line that does not begin inside a comment.
        if not in_comment and (fence := _Fence.opened_by(line)) is not None:
            continue
        text, in_comment = _outside_comments(line, in_comment)
        # A quoted line is hidden even where a comment ends on it (`> -->/cmd` is still in
        # the quote), but comments still open and close on it: leaving one open hides more.
        if not line.lstrip().startswith(">"):
            yield line_number, text


def _lines(body: str) -> list[str]:
    """The lines of `body`, whatever its line endings (str methods: this is the hot path of
    every comment delivery, and a regex split costs several times as much)."""
    text = body.removeprefix("\ufeff")
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    return text.split("\n")


@dataclass(frozen=True)
class _Fence:
    char: str
    length: int
    indent: int

    @classmethod
    def opened_by(cls, line: str) -> _Fence | None:
        match = _FENCE.fullmatch(line)
        if match is None:
            return None
        fence = match["fence"]
        # "```foo```" is inline code, not a fence (CommonMark).
        if fence[0] == "`" and "`" in match["info"]:
            return None
        return cls(fence[0], len(fence), _columns(match["indent"]))

    def is_closed_by(self, line: str) -> bool:
        match = _CLOSING_FENCE.fullmatch(line)
        return (
            match is not None
            and match["fence"][0] == self.char
            and len(match["fence"]) >= self.length
            and _columns(match["indent"]) <= self.indent + 3
        )


def _columns(indent: str) -> int:
    return len(indent.expandtabs(4))


def _outside_comments(line: str, in_comment: bool) -> tuple[str, bool]:
    """The text of `line` outside HTML comments, and whether a comment is open at its end."""
    if not in_comment and "<!--" not in line and "`" not in line:
        return line, False  # most lines: plain text
    parts: list[str] = []
    pos = 0
    while True:
        if in_comment:
            end = line.find("-->", pos)
            if end < 0:
                return "".join(parts), True
            pos, in_comment = end + 3, False
            continue
        match = _COMMENT_OR_CODE_SPAN.search(line, pos)
        if match is None:
            parts.append(line[pos:])
            return "".join(parts), False
        if match.group() == "<!--":
            parts.append(line[pos : match.start()])
            # Search for "-->" from just after "<!", so "<!-->" and "<!--->" close themselves.
            pos, in_comment = match.start() + 2, True
        else:
            end = _code_span_end(line, match)
            parts.append(line[pos:end])
            pos = end


def _code_span_end(line: str, opening: re.Match[str]) -> int:
    """Where the code span opened by a backtick run ends; just past the run if it never closes.

    A code span closes at the next run of exactly as many backticks (CommonMark).
    """
    ticks = opening.group()
    closing = re.compile(rf"(?<!`){ticks}(?!`)").search(line, opening.end())
    return closing.end() if closing else opening.end()


def _split(args_text: str) -> list[str]:
    try:
        # comments=False (the default) keeps "#" ordinary, so `issue=#12` means what it says.
        return shlex.split(args_text, posix=True)
    except ValueError as error:
        if "quotation" in str(error):
            raise ArgumentSyntaxError(f"unclosed quote in: {args_text}") from None
        raise ArgumentSyntaxError(
            f"backslash with nothing after it at the end of: {args_text}"
        ) from None


def _option(token: str) -> tuple[str, str | bool] | None:
    """The (name, value) an option token sets, or None for a positional token."""
    if token.startswith("--"):
        if negated := _NEGATED_FLAG.fullmatch(token):
            return negated["key"], False
        if option := _LONG_OPTION.fullmatch(token):
            value = option["value"]
            return option["key"], True if value is None else value
        raise ArgumentSyntaxError(
            f"{token!r} is not a valid option; write --name, --no-name or --name=value"
        )
    if key_value := _KEY_VALUE.fullmatch(token):
        return key_value["key"], key_value["value"]
    return None
