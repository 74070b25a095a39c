"""Benchmark: the GitHub calls each command makes, by endpoint.

Runs `/generate-report` and `/help` once each (and `/generate-report` a second time, when
the ETag cache can answer), as comments on the demo issue, against the emulator, and prints
for each: reads, 304s and writes by endpoint, and the writes on the critical path (those
made before the result is on the issue; the reaction and the label that follow it go out
together).

    .venv/bin/python bench/calls.py
"""

from __future__ import annotations

import asyncio
import re
import tempfile
from collections import Counter
from pathlib import Path

from harness import serving

from bot.commands.handlers import HANDLERS
from bot.sandbox import MAINTAINER, REPO
from bot.testing.dispatch import RecordedRequest

PROJECT = Path(__file__).resolve().parent.parent
RUNS = [("/generate-report", 1), ("/help", 2), ("/generate-report", 3)]


def endpoint(request: RecordedRequest) -> str:
    path = re.sub(r"/\d+", "/{n}", request.path.replace(REPO, "{repo}"))
    path = re.sub(r"/labels/[^/]+$", "/labels/{name}", path)
    return f"{request.method} {path}"


def kind(request: RecordedRequest) -> str:
    if request.path.endswith("/access_tokens"):
        return "token"  # the App's installation token, renewed hourly, not a write to GitHub
    if request.status == 304:
        return "304"
    return "read" if request.method == "GET" else "write"


def critical_writes(requests: list[RecordedRequest]) -> int:
    """Writes up to and including the edit that puts the result on the issue."""
    writes = [r for r in requests if kind(r) == "write"]
    edits = [i for i, r in enumerate(writes) if r.method == "PATCH" and "/comments/" in r.path]
    return edits[-1] + 1 if edits else len(writes)


async def main() -> None:
    tables = []
    with tempfile.TemporaryDirectory() as tmp:
        async with serving(PROJECT / ".claude", Path(tmp) / "data", HANDLERS) as served:
            for line, issue in RUNS:
                before = len(served.emulator.requests)
                await served.emulator.comment(REPO, issue, MAINTAINER, line)
                await served.settle()
                requests = served.emulator.requests[before:]
                tables.append((line, issue, requests))

    for line, issue, requests in tables:
        by_endpoint: Counter[tuple[str, str]] = Counter()
        for request in requests:
            by_endpoint[(endpoint(request), kind(request))] += 1
        totals = Counter(kind(request) for request in requests)
        print(
            f"\n{line} on issue #{issue}: {len(requests)} calls — {totals['read']} reads, "
            f"{totals['304']} 304s, {totals['write']} writes "
            f"({critical_writes(requests)} on the critical path), {totals['token']} token"
        )
        print(f"  {'endpoint':<60}{'kind':>6}{'calls':>7}")
        for (name, category), count in sorted(by_endpoint.items()):
            print(f"  {name:<60}{category:>6}{count:>7}")


if __name__ == "__main__":
    asyncio.run(main())
