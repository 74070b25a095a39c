"""The benchmarks still run (a few iterations; their figures are read by people, not here)."""

from __future__ import annotations

import re
import subprocess
import sys

from tests.conftest import PROJECT


def run_bench(*args: str) -> str:
    done = subprocess.run(
        [sys.executable, *args], cwd=PROJECT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_bench_hooks_runs() -> None:
    out = run_bench("bench/hooks.py", "--commands", "3")
    assert "hooks per command                        6                70" in out
    assert "150 commands loaded, 0 problems" in out


def test_bench_state_runs() -> None:
    out = run_bench("bench/state.py", "--updates", "5", "--latency", "0.001")
    assert "PATCH" in out


def test_bench_calls_runs() -> None:
    out = run_bench("bench/calls.py")
    assert "/generate-report on issue #1" in out
    assert "(3 on the critical path)" in out


def test_bench_ack_runs() -> None:
    out = run_bench("bench/ack.py", "--smoke")
    rows = re.findall(
        r"^\| (bare|bare \+ inbox|bot) \| 40 \| \d+ \| [\d.]+ \| [\d.]+ \| (?:\d+|n/a) "
        r"\| \d+ \| (?:\d+%|n/a) \|$",
        out,
        re.MULTILINE,
    )
    assert rows == ["bare", "bare + inbox", "bot"], out
    assert re.search(r"^bot throughput: \d+% of the bare server's", out, re.MULTILINE), out
    assert re.search(r"^bare \+ inbox: \d+% of the bare server's", out, re.MULTILINE), out
    assert re.search(
        r"^answers: bare 200×40; bare \+ inbox 200×40; bot 20\d×40$", out, re.MULTILINE
    ), out
    # The floor's inbox holds every delivery it answered (warm-up included).
    assert "bare + inbox kept 48 deliveries and 48 jobs of the 48 it was sent" in out, out
    assert "FAILED" not in out


def test_bench_api_runs() -> None:
    out = run_bench("bench/api.py", "--calls", "20", "--clients", "4")
    assert "runs recorded" in out
    assert re.search(r"^\s+4\s+20\s+\d+", out, re.MULTILINE), out
