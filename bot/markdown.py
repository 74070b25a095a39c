"""Markdown helpers shared by everything that writes comments. A leaf module."""

from __future__ import annotations


def table_cell(text: str) -> str:
    """`text` as one cell of a Markdown table: no line break or `|` may end the cell."""
    return " ".join(text.splitlines()).replace("|", "\\|")


def count(number: int, noun: str) -> str:
    """`count(1, "hook")` -> "1 hook"; `count(2, "hook")` -> "2 hooks"."""
    return f"{number} {noun}" if number == 1 else f"{number} {noun}s"
