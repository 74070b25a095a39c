"""Reading the Markdown tables the bot writes, for assertions."""

from __future__ import annotations


def rows_under(lines: list[str], header: str) -> list[str]:
    """The body rows of the table whose header row is `header`, up to its first non-row."""
    start = lines.index(header)
    assert lines[start + 1].startswith("| --- |")
    rows = []
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        rows.append(line)
    return rows
