"""Markdown helpers shared by everything that writes comments. A leaf module."""

from __future__ import annotations

import re


def table_cell(text: str) -> str:
    """`text` as one cell of a Markdown table: no line break or `|` may end the cell."""
    return " ".join(text.splitlines()).replace("|", "\\|")


def count(number: int, noun: str) -> str:
    """`count(1, "hook")` -> "1 hook"; `count(2, "hook")` -> "2 hooks"."""
    return f"{number} {noun}" if number == 1 else f"{number} {noun}s"


def code_span(text: str) -> str:
    """`text` as one inline code span on one line, whatever backticks or line breaks it
    holds (CommonMark: a fence longer than any run of backticks inside)."""
    flat = " ".join(text.splitlines())
    longest = max((len(run) for run in re.findall(r"`+", flat)), default=0)
    fence = "`" * (longest + 1)
    padded = f" {flat} " if flat.startswith("`") or flat.endswith("`") else flat
    return f"{fence}{padded}{fence}"
