"""The tolerant frontmatter reader, against the shapes real `.claude/commands` files have."""

from __future__ import annotations

import pytest

from bot.commands.frontmatter import parse_bool, split_frontmatter, split_tools

# anthropics/claude-code/.claude/commands/commit-push-pr.md, shortened.
OFFICIAL = """\
---
allowed-tools: Bash(git checkout --branch:*), Bash(git add:*), Bash(gh pr create:*)
description: Commit, push, and open a PR
---
## Context
- Current git status: !`git status`
"""

# disler/claude-code-hooks-mastery/.claude/commands/plan_w_team.md: the hint breaks PyYAML.
PLAN_W_TEAM = """\
---
description: Plan the work with a team of agents
argument-hint: [user prompt] [orchestration prompt]
model: opus
disallowed-tools: Task, EnterPlanMode
hooks:
  Stop:
    - hooks:
        - type: command
          command: >-
            uv run $CLAUDE_PROJECT_DIR/.claude/hooks/validators/validate_new_file.py
---
Plan: $ARGUMENTS
"""

# GSD's .claude/commands/gsd/plan-phase.md.
GSD = """\
---
name: gsd:plan-phase
description: Create detailed phase plan (PLAN.md) with verification loop
argument-hint: "[phase] [--auto] [--research] [--skip-research] [--gaps]"
agent: gsd-planner
allowed-tools:
  - Read
  - Bash
  - Task
  - mcp__context7__*
---
<objective>
Plan the phase. $ARGUMENTS
</objective>
"""


def test_no_frontmatter_is_all_body() -> None:
    text = "# Code Review\n\nReview the code.\n\n$ARGUMENTS\n"
    assert split_frontmatter(text) == ({}, text)


def test_a_fence_never_closed_is_not_frontmatter() -> None:
    text = "---\ndescription: x\nno closing fence\n"
    assert split_frontmatter(text) == ({}, text)


def test_a_rule_later_in_the_file_is_not_frontmatter() -> None:
    text = "Intro\n---\ndescription: x\n---\n"
    assert split_frontmatter(text) == ({}, text)


def test_empty_frontmatter() -> None:
    assert split_frontmatter("---\n---\nbody\n") == ({}, "body\n")


def test_bom_and_crlf() -> None:
    text = "\ufeff---\r\ndescription: Deploy\r\nmodel: haiku\r\n---\r\nRun it.\r\n"
    assert split_frontmatter(text) == ({"description": "Deploy", "model": "haiku"}, "Run it.\n")


def test_fences_may_carry_trailing_spaces() -> None:
    assert split_frontmatter("--- \ndescription: x\n---  \nbody") == ({"description": "x"}, "body")


def test_official_example() -> None:
    metadata, body = split_frontmatter(OFFICIAL)
    assert metadata["description"] == "Commit, push, and open a PR"
    assert split_tools(metadata["allowed-tools"]) == (
        "Bash(git checkout --branch:*)",
        "Bash(git add:*)",
        "Bash(gh pr create:*)",
    )
    assert body.startswith("## Context\n")


def test_bracketed_hint_that_breaks_yaml_keeps_every_other_key() -> None:
    metadata, body = split_frontmatter(PLAN_W_TEAM)
    assert metadata["argument-hint"] == "[user prompt] [orchestration prompt]"
    assert metadata["description"] == "Plan the work with a team of agents"
    assert metadata["model"] == "opus"
    assert split_tools(metadata["disallowed-tools"]) == ("Task", "EnterPlanMode")
    # A nested mapping beside the broken line is still read as YAML.
    assert metadata["hooks"] == {
        "Stop": [
            {
                "hooks": [
                    {
                        "type": "command",
                        "command": "uv run $CLAUDE_PROJECT_DIR/.claude/hooks/validators/"
                        "validate_new_file.py",
                    }
                ]
            }
        ]
    }
    assert body == "Plan: $ARGUMENTS\n"


def test_single_bracketed_hint_is_a_string_not_a_list() -> None:
    metadata, _ = split_frontmatter("---\nargument-hint: [path-to-plan]\n---\n")
    assert metadata == {"argument-hint": "[path-to-plan]"}


def test_hint_with_bars_is_kept_verbatim() -> None:
    text = "---\nargument-hint: add [tagId] | remove [tagId] | list\n---\n"
    assert split_frontmatter(text)[0]["argument-hint"] == "add [tagId] | remove [tagId] | list"


def test_description_with_colons() -> None:
    text = "---\ndescription: Triggers include: X, Y\nmodel: sonnet\n---\nbody"
    assert split_frontmatter(text) == (
        {"description": "Triggers include: X, Y", "model": "sonnet"},
        "body",
    )


def test_diet103_style_description_with_examples_on_one_line() -> None:
    line = (
        "description: Use this agent to review code. Examples: <example>Context: the user "
        "wrote a function. user: 'review it' assistant: 'I will' </example>"
    )
    metadata, _ = split_frontmatter(f"---\nname: code-reviewer\n{line}\ncolor: blue\n---\n")
    assert metadata["description"] == line.removeprefix("description: ")
    assert metadata["name"] == "code-reviewer"
    assert metadata["color"] == "blue"


def test_gsd_frontmatter() -> None:
    metadata, body = split_frontmatter(GSD)
    assert metadata["name"] == "gsd:plan-phase"
    assert metadata["argument-hint"] == "[phase] [--auto] [--research] [--skip-research] [--gaps]"
    assert metadata["agent"] == "gsd-planner"
    assert split_tools(metadata["allowed-tools"]) == ("Read", "Bash", "Task", "mcp__context7__*")
    assert body.startswith("<objective>\n")


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("description: 42", "42"),
        ("description: yes", "yes"),
        ("description: [a, b]", "[a, b]"),
        ("description:", ""),
        ("argument-hint: 2026-11-01", "2026-11-01"),
        ("argument-hint: {a: 1}", "{a: 1}"),
    ],
)
def test_text_keys_are_always_strings_in_the_files_words(line: str, expected: str) -> None:
    assert split_frontmatter(f"---\n{line}\n---\n")[0] == {line.split(":")[0]: expected}


def test_a_block_list_hint_is_joined() -> None:
    metadata, _ = split_frontmatter("---\nargument-hint:\n  - file\n  - mode\n---\n")
    assert metadata["argument-hint"] == "file mode"


def test_unknown_keys_and_types_are_kept() -> None:
    text = "---\ntools: Read, Write\narguments: [file, mode]\ndisable-model-invocation: true\n---\n"
    assert split_frontmatter(text)[0] == {
        "tools": "Read, Write",
        "arguments": ["file", "mode"],
        "disable-model-invocation": True,
    }


def test_fallback_reads_lists_and_continuations_raw() -> None:
    # The first line breaks YAML; every entry below is then read on its own.
    text = """\
---
argument-hint: [a] [b]
# a comment
description: Deploy the thing:
  to production: carefully
allowed-tools:
- Bash(git add:*)
- Read: all: of it
  and more
model: 'haiku'
title:"Weekly"
---
body
"""
    assert split_frontmatter(text) == (
        {
            "argument-hint": "[a] [b]",
            "description": "Deploy the thing: to production: carefully",
            "allowed-tools": ["Bash(git add:*)", "Read: all: of it and more"],
            "model": "haiku",
            "title": "Weekly",
        },
        "body\n",
    )


def test_fallback_on_an_impossible_date() -> None:
    # PyYAML raises ValueError (not YAMLError) for a date that matches its pattern.
    metadata, _ = split_frontmatter("---\ndescription: x\nupdated: 2026-13-01\n---\n")
    assert metadata == {"description": "x", "updated": "2026-13-01"}


def test_a_block_that_is_not_a_mapping() -> None:
    assert split_frontmatter("---\ndescription:Deploy\n---\n")[0] == {"description": "Deploy"}
    assert split_frontmatter("---\njust words\n---\nbody")[0] == {}
    assert split_frontmatter("---\n- a\n- b\n---\nbody")[0] == {}


def test_tab_indented_continuation_belongs_to_its_key() -> None:
    metadata, _ = split_frontmatter("---\ndescription: one\n\ttwo\nmodel: opus\n---\n")
    assert metadata == {"description": "one two", "model": "opus"}


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("Bash(git add:*), Read", ("Bash(git add:*)", "Read")),
        (
            "Bash(git add:*) Bash(git status:*) Read",
            ("Bash(git add:*)", "Bash(git status:*)", "Read"),
        ),
        ("Read,Write,,  Edit", ("Read", "Write", "Edit")),
        ("Bash(echo $(date) now), Grep", ("Bash(echo $(date) now)", "Grep")),
        ("Bash(gh *)", ("Bash(gh *)",)),
        ("mcp__context7__*", ("mcp__context7__*",)),
        (["Read", " Bash(git add:*) ", ""], ("Read", "Bash(git add:*)")),
        (("Read",), ("Read",)),
        ("", ()),
        (None, ()),
        (42, ("42",)),
    ],
)
def test_split_tools(value: object, expected: tuple[str, ...]) -> None:
    assert split_tools(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        *((word, True) for word in ("true", "True", "YES", "on", "1", " yes ")),
        *((word, False) for word in ("false", "No", "OFF", "0")),
        (True, True),
        (False, False),
        (1, True),
        (0, False),
    ],
)
def test_parse_bool(value: object, expected: bool) -> None:
    assert parse_bool(value) is expected


@pytest.mark.parametrize("value", ["maybe", "", "2", 2, None, 1.0, ["yes"]])
def test_parse_bool_rejects(value: object) -> None:
    with pytest.raises(ValueError, match="expected true/false"):
        parse_bool(value)
