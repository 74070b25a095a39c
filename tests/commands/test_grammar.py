"""The command grammar: example tables for each rule, then properties over arbitrary text."""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from bot.commands.grammar import (
    Arguments,
    ArgumentSyntaxError,
    CommandLine,
    NearMiss,
    added_commands,
    parse_arguments,
    scan,
)

KNOWN = frozenset({"generate-report", "lgtm", "label:add", "v1.2_run"})

# Enough examples to find the corner cases, few enough to keep the whole file well under 3 s.
FAST = settings(max_examples=60, deadline=None)


def found(body: str, *, limit: int = 10) -> list[tuple[str, str, int]]:
    return [(c.name, c.args_text, c.line_number) for c in scan(body, KNOWN, limit=limit).commands]


# --- Rule 1: what a command line is ---------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        pytest.param("/lgtm", [("lgtm", "", 1)], id="bare"),
        pytest.param(
            '/generate-report since=30d label="good first issue"',
            [("generate-report", 'since=30d label="good first issue"', 1)],
            id="with-arguments",
        ),
        pytest.param("   /lgtm", [("lgtm", "", 1)], id="indented"),
        pytest.param("\t/lgtm", [("lgtm", "", 1)], id="tab-indented"),
        pytest.param("    /lgtm", [("lgtm", "", 1)], id="four-spaces-still-count"),
        pytest.param("Thanks!\n\n/lgtm\nmore text", [("lgtm", "", 3)], id="mid-comment"),
        pytest.param(
            "/lgtm one\ntext\n/generate-report\n/lgtm two",
            [("lgtm", "one", 1), ("generate-report", "", 3), ("lgtm", "two", 4)],
            id="several-in-order",
        ),
        pytest.param("/label:add bug", [("label:add", "bug", 1)], id="colon-in-name"),
        pytest.param("/v1.2_run", [("v1.2_run", "", 1)], id="dot-and-underscore-in-name"),
        pytest.param("/lgtm\tnow", [("lgtm", "now", 1)], id="tab-before-arguments"),
        pytest.param("/lgtm   a   b", [("lgtm", "a   b", 1)], id="inner-spacing-kept"),
        pytest.param("please /lgtm", [], id="not-first-on-line"),
        pytest.param("/lgtm, please", [], id="punctuation-after-name"),
        pytest.param("/lgtmx", [], id="longer-name-is-another-name"),
        pytest.param("/ lgtm", [], id="space-after-slash"),
        pytest.param("", [], id="empty"),
    ],
)
def test_command_lines(body: str, expected: list[tuple[str, str, int]]) -> None:
    assert found(body) == expected


def test_command_line_keeps_the_line_as_typed() -> None:
    (command,) = scan("intro\n  /generate-report since=30d  \n", KNOWN).commands
    assert command == CommandLine(
        name="generate-report",
        args_text="since=30d",
        line="/generate-report since=30d",
        line_number=2,
    )


@pytest.mark.parametrize(
    ("limit", "kept", "dropped"),
    [(10, 10, 2), (12, 12, 0), (20, 12, 0), (1, 1, 11), (0, 0, 12)],
)
def test_limit_keeps_the_first_commands_and_counts_the_rest(
    limit: int, kept: int, dropped: int
) -> None:
    body = "\n".join(f"/lgtm {i}" for i in range(12))
    result = scan(body, KNOWN, limit=limit)
    assert [c.args_text for c in result.commands] == [str(i) for i in range(kept)]
    assert result.dropped == dropped


def test_negative_limit_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="limit"):
        scan("/lgtm", KNOWN, limit=-1)


# --- Rule 7: line endings, byte order mark, trailing whitespace -----------------------------


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        pytest.param("a\r\n/lgtm x\r\nb", [("lgtm", "x", 2)], id="crlf"),
        pytest.param("a\r/lgtm x\rb", [("lgtm", "x", 2)], id="cr"),
        pytest.param("\ufeff/lgtm", [("lgtm", "", 1)], id="bom"),
        pytest.param("\ufeff```\r\n/lgtm\r\n```\r\n/lgtm y", [("lgtm", "y", 4)], id="bom-crlf"),
        pytest.param("/lgtm x  \t ", [("lgtm", "x", 1)], id="trailing-whitespace"),
        pytest.param("```   \r\n/lgtm\r\n```  \r\n/lgtm", [("lgtm", "", 4)], id="fence-crlf"),
    ],
)
def test_line_endings(body: str, expected: list[tuple[str, str, int]]) -> None:
    assert found(body) == expected


# --- Rule 2: code fences, quotes and HTML comments hide commands ----------------------------


@pytest.mark.parametrize(
    "body",
    [
        pytest.param("```\n/lgtm\n```", id="backtick-fence"),
        pytest.param("~~~\n/lgtm\n~~~", id="tilde-fence"),
        pytest.param("```sh\n/lgtm\n```", id="fence-with-info"),
        pytest.param("   ```\n/lgtm\n   ```", id="fence-indented-3"),
        pytest.param("```\n/lgtm", id="unclosed-fence"),
        pytest.param("````\n```\n/lgtm\n````", id="shorter-fence-does-not-close"),
        pytest.param("```\n~~~\n/lgtm\n```", id="other-character-does-not-close"),
        pytest.param("```\n``` x\n/lgtm\n```", id="closing-fence-takes-no-info"),
        pytest.param("1. step\n\n    ```\n    /lgtm\n    ```", id="fence-in-list-item"),
        pytest.param("```\n        ```\n/lgtm\n```", id="far-deeper-fence-does-not-close"),
        pytest.param("> /lgtm", id="quote"),
        pytest.param(">/lgtm", id="quote-no-space"),
        pytest.param("  > /lgtm", id="quote-indented"),
        pytest.param("> > /lgtm", id="nested-quote"),
        pytest.param("> ```\n> /lgtm\n> ```", id="fence-in-quote"),
        pytest.param("> <!--\n> -->/lgtm", id="comment-ending-in-quote"),
        pytest.param("<!--\n> -->/lgtm", id="quoted-line-ending-a-comment"),
        pytest.param("<!-- /lgtm -->", id="comment-one-line"),
        pytest.param("<!--\n/lgtm\n-->", id="comment-multi-line"),
        pytest.param("<!-- a --> text <!--\n/lgtm\n-->", id="second-comment-on-line"),
        pytest.param("<!--\n/lgtm", id="unclosed-comment"),
        pytest.param("<!-- ``` -->\n```\n/lgtm", id="fence-after-comment-still-fences"),
        pytest.param("text <!-- `\n/lgtm\n` -->", id="no-code-span-inside-comment"),
    ],
)
def test_hidden_commands_never_count(body: str) -> None:
    result = scan(body, KNOWN)
    assert result.commands == ()
    assert scan(body.replace("lgtm", "LGTM"), KNOWN).near_misses == ()


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        pytest.param("```\ncode\n```\n/lgtm", [("lgtm", "", 4)], id="after-fence"),
        pytest.param("~~~\n```\n~~~\n/lgtm", [("lgtm", "", 4)], id="backticks-in-tilde-fence"),
        pytest.param("````\n```\n````\n/lgtm", [("lgtm", "", 4)], id="longer-fence"),
        pytest.param("```\ncode\n`````\n/lgtm", [("lgtm", "", 4)], id="longer-closing-fence"),
        pytest.param("```foo```\n/lgtm", [("lgtm", "", 2)], id="inline-code-is-no-fence"),
        pytest.param("```\n<!--\n```\n/lgtm", [("lgtm", "", 4)], id="comment-in-fence"),
        pytest.param("<!--\n```\n-->\n/lgtm", [("lgtm", "", 4)], id="fence-in-comment"),
        pytest.param("<!-- a -->\n/lgtm", [("lgtm", "", 2)], id="after-comment"),
        pytest.param("<!-- a --> /lgtm", [("lgtm", "", 1)], id="after-comment-same-line"),
        pytest.param("/lgtm now <!-- not this -->", [("lgtm", "now", 1)], id="comment-in-args"),
        pytest.param("<!-- a --><!-- b -->/lgtm", [("lgtm", "", 1)], id="two-comments-first"),
        pytest.param("<!--\nhidden\n--> /lgtm", [("lgtm", "", 3)], id="after-multiline-comment"),
        pytest.param("<!-->\n/lgtm", [("lgtm", "", 2)], id="empty-comment"),
        pytest.param("<!--->\n/lgtm", [("lgtm", "", 2)], id="empty-comment-dash"),
        pytest.param("Use `<!--` to hide\n/lgtm", [("lgtm", "", 2)], id="comment-in-code-span"),
        pytest.param("``a ` <!--``\n/lgtm", [("lgtm", "", 2)], id="comment-in-double-span"),
        pytest.param("> quote\n\n/lgtm", [("lgtm", "", 3)], id="after-quote"),
        pytest.param("> quote\n/lgtm", [("lgtm", "", 2)], id="right-after-quote"),
        pytest.param("> <!--\n/lgtm", [], id="comment-opened-in-quote-hides"),
    ],
)
def test_visible_commands_count(body: str, expected: list[tuple[str, str, int]]) -> None:
    assert found(body) == expected


# --- Rules 3 and 6: near misses and case ----------------------------------------------------


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        pytest.param("/generate-reprot", [("generate-reprot", "generate-report", 1)], id="typo"),
        pytest.param("/generate_report x", [("generate_report", "generate-report", 1)], id="_"),
        pytest.param("/Generate-Report", [("Generate-Report", "generate-report", 1)], id="case"),
        pytest.param("/LGTM", [("LGTM", "lgtm", 1)], id="short-name-case"),
        pytest.param("hi\n/lgtmm", [("lgtmm", "lgtm", 2)], id="second-line"),
        pytest.param("/usr/bin/env", [], id="path"),
        pytest.param("/lgtm/x", [], id="path-from-known-name"),
        pytest.param("//example.com/lgtm", [], id="protocol-relative-url"),
        pytest.param("https://example.com/lgtm", [], id="url"),
        pytest.param("/", [], id="slash-alone"),
        pytest.param("/deploy", [], id="no-close-match"),
        pytest.param("/-lgtm", [], id="not-a-name"),
        pytest.param("> /generate-reprot", [], id="quoted"),
        pytest.param("```\n/Generate-Report\n```", [], id="fenced"),
        pytest.param("<!-- /LGTM -->", [], id="in-comment"),
    ],
)
def test_near_misses(body: str, expected: list[tuple[str, str, int]]) -> None:
    result = scan(body, KNOWN)
    assert result.commands == ()
    assert [(m.typed, m.suggestion, m.line_number) for m in result.near_misses] == expected


def test_near_misses_are_capped_by_the_limit() -> None:
    result = scan("/LGTM\n" * 5, KNOWN, limit=3)
    assert result.near_misses == tuple(NearMiss("LGTM", "lgtm", n) for n in (1, 2, 3))


def test_names_differing_only_in_case_suggest_one_name() -> None:
    assert scan("/LGTm", {"lgtm", "LGTM"}).near_misses == (NearMiss("LGTm", "LGTM", 1),)


# --- Rule 4: arguments ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "positional", "options"),
    [
        pytest.param("", (), {}, id="empty"),
        pytest.param("since=30d label=bug", (), {"since": "30d", "label": "bug"}, id="key=value"),
        pytest.param('title="a b"', (), {"title": "a b"}, id="double-quoted-value"),
        pytest.param("label='good first issue'", (), {"label": "good first issue"}, id="single"),
        pytest.param('"title=a b"', (), {"title": "a b"}, id="quoted-whole-token"),
        pytest.param("key=", (), {"key": ""}, id="empty-value"),
        pytest.param("issue=#12", (), {"issue": "#12"}, id="hash-is-ordinary"),
        pytest.param("a=b=c", (), {"a": "b=c"}, id="first-equals-splits"),
        pytest.param("--dry-run", (), {"dry-run": True}, id="flag"),
        pytest.param("--no-cache", (), {"cache": False}, id="negated-flag"),
        pytest.param("--since=30d", (), {"since": "30d"}, id="long-option"),
        pytest.param("--title='a b'", (), {"title": "a b"}, id="long-option-quoted"),
        pytest.param("--no-cache=1", (), {"no-cache": "1"}, id="negated-name-with-value"),
        pytest.param("one two", ("one", "two"), {}, id="positional"),
        pytest.param("'one two'", ("one two",), {}, id="quoted-positional"),
        pytest.param(r"a\ b", ("a b",), {}, id="escaped-space"),
        pytest.param("-x -5", ("-x", "-5"), {}, id="single-dash-is-positional"),
        pytest.param("=x", ("=x",), {}, id="no-key"),
        pytest.param("https://x.test/?a=b", ("https://x.test/?a=b",), {}, id="url"),
        pytest.param("-- --flag a=b", ("--flag", "a=b"), {}, id="end-of-options"),
        pytest.param("--", (), {}, id="end-of-options-alone"),
        pytest.param(
            'x since=7d --all "y z" --no-bots',
            ("x", "y z"),
            {"since": "7d", "all": True, "bots": False},
            id="mixed",
        ),
    ],
)
def test_parse_arguments(
    text: str, positional: tuple[str, ...], options: dict[str, str | bool]
) -> None:
    assert parse_arguments(text) == Arguments(positional, options)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        pytest.param('title="a b', 'unclosed quote in: title="a b', id="unclosed-double"),
        pytest.param("label='bug", "unclosed quote in: label='bug", id="unclosed-single"),
        pytest.param("x \\", "backslash with nothing after it", id="trailing-backslash"),
        pytest.param("---x", "'---x' is not a valid option", id="three-dashes"),
        pytest.param("--=x", "'--=x' is not a valid option", id="no-option-name"),
        pytest.param("--no-", "'--no-' is not a valid option", id="negated-nothing"),
        pytest.param('"--a b"', "'--a b' is not a valid option", id="space-in-option-name"),
        pytest.param("--x-", "'--x-' is not a valid option", id="trailing-hyphen"),
        pytest.param("label=a label=b", "option 'label' is given more than once", id="twice"),
        pytest.param("--cache --no-cache", "option 'cache' is given more than once", id="both"),
    ],
)
def test_argument_errors_say_what_is_wrong(text: str, message: str) -> None:
    with pytest.raises(ArgumentSyntaxError, match=re.escape(message)) as raised:
        parse_arguments(text)
    assert isinstance(raised.value, ValueError)


# --- Rule 5: edits --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        pytest.param("", "/lgtm", [("lgtm", "")], id="new-command"),
        pytest.param("/lgtm", "/lgtm", [], id="unchanged"),
        pytest.param("/lgtm", "Fixed a typo.\n/lgtm   ", [], id="text-edited-around"),
        pytest.param("/lgtm", "/lgtm\n/lgtm", [("lgtm", "")], id="second-copy"),
        pytest.param("/lgtm a\n/lgtm b", "/lgtm b\n/lgtm a", [], id="reordered"),
        pytest.param(
            "/generate-report since=7d",
            "/generate-report since=30d",
            [("generate-report", "since=30d")],
            id="arguments-changed",
        ),
        pytest.param("```\n/lgtm\n```", "/lgtm", [("lgtm", "")], id="taken-out-of-fence"),
        pytest.param("/lgtm", "> /lgtm", [], id="quoted-now"),
        pytest.param("/lgtm", "", [], id="removed"),
    ],
)
def test_added_commands(old: str, new: str, expected: list[tuple[str, str]]) -> None:
    added = added_commands(old, new, KNOWN)
    assert [(c.name, c.args_text) for c in added] == expected


def test_edit_does_not_promote_a_dropped_command() -> None:
    old = "\n".join(f"/lgtm {i}" for i in range(11))  # the 11th was dropped, never run
    new = old.split("\n", 1)[1]
    assert added_commands(old, new, KNOWN) == ()


def test_added_commands_respect_the_limit() -> None:
    new = "\n".join(f"/lgtm {i}" for i in range(5))
    assert [c.args_text for c in added_commands("", new, KNOWN, limit=2)] == ["0", "1"]


# --- Properties -----------------------------------------------------------------------------

NAMES = sorted(KNOWN)
no_line_break = st.characters(exclude_characters="\r\n")

# Pieces that matter to the grammar, so that random text reaches its corners often.
_INLINE_PIECES = [
    *("/", ">", "`", "~", "<!--", "-->", "<!-->", " ", "\t", "```", "~~~", "\ufeff"),
    *("-", "--", "=", '"', "'", "\\", "#", "\u00a0"),
    *NAMES,
    *(f"/{name}" for name in NAMES),
    *(f"/{name.upper()}" for name in NAMES),
]
inline_text = st.lists(
    st.one_of(st.sampled_from(_INLINE_PIECES), st.text(no_line_break, max_size=4)), max_size=12
).map("".join)
command_line = st.builds(
    lambda indent, name, args: f"{indent}/{name}{args}",
    st.sampled_from(["", " ", "   ", "\t"]),
    st.sampled_from(NAMES),
    st.one_of(st.just(""), inline_text.map(lambda text: " " + text)),
)
# Whole lines that open or close something, so that generated bodies nest and interleave them.
structural_line = st.one_of(
    st.sampled_from(
        [
            *("```", "````", "~~~", "~~~~ info", "   ```sh", "    ```", "``` `x`"),
            *("<!--", "-->", "<!-- x -->", "<!-->", "x <!--", "`<!--`", "> <!--", "> -->"),
            *(">", "> ```", ""),
        ]
    ),
    command_line.map(lambda line: "-->" + line),
)
lines = st.lists(st.one_of(command_line, structural_line, inline_text), max_size=10)
markdownish = st.builds(
    lambda parts, breaks: "".join(p + b for p, b in zip(parts, breaks, strict=False)),
    lines,
    st.lists(st.sampled_from(["\n", "\r\n", "\r"]), min_size=10, max_size=10),
)
bodies = st.one_of(markdownish, st.text())


@FAST
@given(body=bodies, limit=st.integers(0, 12))
def test_scan_never_raises_and_finds_only_known_names(body: str, limit: int) -> None:
    result = scan(body, KNOWN, limit=limit)
    assert all(command.name in KNOWN for command in result.commands)
    assert all(miss.typed not in KNOWN for miss in result.near_misses)
    assert all(miss.suggestion in KNOWN for miss in result.near_misses)
    assert len(result.near_misses) <= limit


def _longest_run(char: str, text: str) -> int:
    return max((len(run) for run in re.findall(f"{re.escape(char)}+", text)), default=0)


def _fenced(char: str, *, closed: bool) -> Callable[[list[str]], str]:
    def wrap(inner_lines: list[str]) -> str:
        inner = "\n".join(inner_lines)
        # Longer than any run inside, so that no inner line closes the fence.
        fence = char * max(3, _longest_run(char, inner) + 1)
        return f"{fence}text\n{inner}" + (f"\n  {fence}" if closed else "")

    return wrap


def _quoted(inner_lines: list[str]) -> str:
    markers = [">", "> ", "  > ", "> > "]
    return "\n".join(markers[i % 4] + line for i, line in enumerate(inner_lines))


def _commented(*, closed: bool) -> Callable[[list[str]], str]:
    def wrap(inner_lines: list[str]) -> str:
        inner = "\n".join(inner_lines)
        while "-->" in inner:
            inner = inner.replace("-->", "")
        return f"note: <!--\n{inner}" + ("\n-->" if closed else "")

    return wrap


CLOSED_WRAPPERS = {
    "backtick-fence": _fenced("`", closed=True),
    "tilde-fence": _fenced("~", closed=True),
    "html-comment": _commented(closed=True),
}
WRAPPERS = {
    **CLOSED_WRAPPERS,
    "unclosed-fence": _fenced("~", closed=False),
    "unclosed-html-comment": _commented(closed=False),
    "quote": _quoted,
}


@pytest.mark.parametrize("wrap", WRAPPERS.values(), ids=WRAPPERS.keys())
@FAST
@given(inner=lines)
def test_wrapped_text_never_yields_commands(
    wrap: Callable[[list[str]], str], inner: list[str]
) -> None:
    result = scan(wrap(inner), KNOWN, limit=100)
    assert result.commands == ()
    assert result.near_misses == ()


@pytest.mark.parametrize("wrap", CLOSED_WRAPPERS.values(), ids=CLOSED_WRAPPERS.keys())
@FAST
@given(inner=lines)
def test_a_command_after_a_closed_wrapper_counts(
    wrap: Callable[[list[str]], str], inner: list[str]
) -> None:
    body = wrap(inner) + "\n/lgtm after"
    assert found(body) == [("lgtm", "after", body.count("\n") + 1)]


option_names = st.from_regex(r"[A-Za-z][A-Za-z0-9_]{0,6}(-[A-Za-z0-9_]{1,4}){0,2}", fullmatch=True)


def _option_token(key: str, value: str | bool, long_form: bool) -> str:
    if value is True:
        return f"--{key}"
    if value is False:
        return f"--no-{key}"
    return f"--{key}={value}" if long_form else f"{key}={value}"


def _tokens(positional: list[str], options: dict[str, str | bool], long_form: bool) -> list[str]:
    # `--no-x` means x=False, so a flag named "no-..." cannot be set to True as `--no-...`.
    assume(not any(v is True and k.startswith("no-") for k, v in options.items()))
    return [_option_token(k, v, long_form) for k, v in options.items()] + ["--", *positional]


# Positional tokens that would read as options if they came before "--".
option_like = st.sampled_from(["--", "--x", "--no-x", "a=b", "--a=b", "-"])


@FAST
@given(
    positional=st.lists(st.one_of(st.text(max_size=8), option_like), max_size=4),
    options=st.dictionaries(
        option_names, st.one_of(st.text(max_size=8), st.booleans()), max_size=4
    ),
    long_form=st.booleans(),
)
def test_arguments_round_trip(
    positional: list[str], options: dict[str, str | bool], long_form: bool
) -> None:
    text = shlex.join(_tokens(positional, options, long_form))
    assert parse_arguments(text) == Arguments(tuple(positional), options)


line_text = st.text(no_line_break, max_size=8).filter(lambda text: "<!--" not in text)


@FAST
@given(
    name=st.sampled_from(NAMES),
    positional=st.lists(st.one_of(line_text, option_like), max_size=4),
    options=st.dictionaries(option_names, st.one_of(line_text, st.booleans()), max_size=4),
    long_form=st.booleans(),
)
def test_a_generated_command_line_round_trips(
    name: str, positional: list[str], options: dict[str, str | bool], long_form: bool
) -> None:
    body = f"/{name} {shlex.join(_tokens(positional, options, long_form))}"
    (command,) = scan(body, KNOWN).commands
    assert command.name == name
    assert parse_arguments(command.args_text) == Arguments(tuple(positional), options)


@FAST
@given(body=bodies, limit=st.integers(0, 12))
def test_limit_keeps_a_prefix_and_counts_the_rest(body: str, limit: int) -> None:
    everything = scan(body, KNOWN, limit=10_000).commands
    result = scan(body, KNOWN, limit=limit)
    assert result.commands == everything[:limit]
    assert result.dropped == max(0, len(everything) - limit)


@FAST
@given(body=bodies)
def test_an_unedited_body_adds_nothing(body: str) -> None:
    assert added_commands(body, body, KNOWN) == ()
    assert added_commands("", body, KNOWN) == scan(body, KNOWN).commands
