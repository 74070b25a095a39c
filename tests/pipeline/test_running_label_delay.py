"""When a run shows `running` (bot/pipeline/runner.py, decision 0015)."""

from __future__ import annotations

import asyncio

import pytest

from bot.pipeline.runner import _RunningLabel, _Shown


async def test_a_run_done_before_the_delay_never_shows_it() -> None:
    shown: list[str] = []

    async def show() -> None:
        shown.append("running")

    label = _RunningLabel(show, 0.05)
    await asyncio.sleep(0.01)
    assert await label.settle() is _Shown.NO
    await asyncio.sleep(0.1)
    assert shown == []


async def test_a_move_under_way_is_waited_for() -> None:
    moving = asyncio.Event()
    done: list[str] = []

    async def show() -> None:
        moving.set()
        await asyncio.sleep(0.05)
        done.append("running")

    label = _RunningLabel(show, 0)
    await moving.wait()
    assert await label.settle() is _Shown.YES
    assert done == ["running"]  # the final label can only come after it


async def test_a_move_that_failed_may_have_shown_it(caplog: pytest.LogCaptureFixture) -> None:
    async def show() -> None:
        raise ConnectionError("GitHub went away")

    label = _RunningLabel(show, 0)
    await asyncio.sleep(0.01)
    # It may have reached GitHub, or not: the final move takes off either labels.
    assert await label.settle() is _Shown.MAYBE
    assert "could not be shown" in caplog.text
