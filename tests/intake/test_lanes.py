"""Workers: a global limit, and the jobs of one issue in order."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from bot.intake.lanes import Lanes


class Recorder:
    def __init__(self) -> None:
        self.started: list[str] = []
        self.running = 0
        self.most = 0
        self.gates: dict[str, asyncio.Event] = {}

    def gate(self, name: str) -> asyncio.Event:
        return self.gates.setdefault(name, asyncio.Event())

    async def work(self, name: str) -> None:
        self.started.append(name)
        self.running += 1
        self.most = max(self.most, self.running)
        try:
            await self.gate(name).wait()
        finally:
            self.running -= 1


async def until(condition: Callable[[], bool]) -> None:
    for _ in range(200):
        if condition():
            return
        await asyncio.sleep(0)
    raise AssertionError("condition never held")


async def test_one_lane_runs_in_order_one_at_a_time() -> None:
    recorder = Recorder()
    lanes: Lanes[str] = Lanes(8, recorder.work)
    for name in ("a", "b", "c"):
        lanes.add(name, name, lane="issue-1")
    lanes.add("x", "x", lane="issue-2")
    await until(lambda: recorder.started == ["a", "x"])
    assert [(key, started) for key, _, started in lanes.entries()] == [
        ("a", True),
        ("b", False),
        ("c", False),
        ("x", True),
    ]
    recorder.gate("a").set()
    await until(lambda: recorder.started == ["a", "x", "b"])
    recorder.gate("b").set()
    recorder.gate("c").set()
    recorder.gate("x").set()
    await lanes.drain()
    assert recorder.started == ["a", "x", "b", "c"]
    assert lanes.pending == 0


async def test_the_global_limit_holds_over_lanes_and_unordered_jobs() -> None:
    recorder = Recorder()
    lanes: Lanes[str] = Lanes(3, recorder.work)
    for n in range(10):
        lanes.add(f"j{n}", f"j{n}", lane=f"issue-{n}" if n % 2 else None)
    await until(lambda: len(recorder.started) == 3)
    for _ in range(50):
        await asyncio.sleep(0)
    assert recorder.running == 3
    for n in range(10):
        recorder.gate(f"j{n}").set()
    await lanes.drain()
    assert recorder.most == 3
    assert sorted(recorder.started) == sorted(f"j{n}" for n in range(10))


async def test_a_key_is_scheduled_once() -> None:
    recorder = Recorder()
    lanes: Lanes[str] = Lanes(2, recorder.work)
    assert lanes.add("a", "a", lane="i")
    assert not lanes.add("a", "a", lane="i")
    recorder.gate("a").set()
    await lanes.drain()
    assert recorder.started == ["a"]


async def test_a_waiting_job_is_dropped_and_a_running_one_cancelled() -> None:
    recorder = Recorder()
    lanes: Lanes[str] = Lanes(4, recorder.work)
    for name in ("a", "b", "c"):
        lanes.add(name, name, lane="issue")
    await until(lambda: recorder.started == ["a"])
    assert lanes.drop("a") is None  # running: not droppable
    assert lanes.drop("b") == "b"
    assert lanes.cancel("a")
    assert not lanes.cancel("c")  # waiting: nothing to cancel
    await until(lambda: recorder.started == ["a", "c"])
    recorder.gate("c").set()
    await lanes.drain()
    assert recorder.started == ["a", "c"]
    assert "b" not in lanes


async def test_a_broken_job_does_not_stop_its_lane() -> None:
    done: list[str] = []

    async def work(name: str) -> None:
        if name == "bad":
            raise RuntimeError("boom")
        done.append(name)

    lanes: Lanes[str] = Lanes(1, work)
    lanes.add("bad", "bad", lane="issue")
    lanes.add("good", "good", lane="issue")
    await lanes.drain()
    assert done == ["good"]


async def test_a_job_dropped_while_it_waits_for_its_turn_never_runs() -> None:
    gate = asyncio.Event()
    ran: list[str] = []

    async def turn() -> None:
        await gate.wait()

    async def work(job: str) -> None:
        ran.append(job)

    lanes: Lanes[str] = Lanes(4, work, turn)
    lanes.add("a", "job-a", lane="issue")
    lanes.add("b", "job-b", lane=None)
    for _ in range(10):
        await asyncio.sleep(0)  # both now wait in their turn
    assert lanes.drop("a") == "job-a"
    assert lanes.drop("b") == "job-b"
    gate.set()
    await lanes.drain()
    assert ran == []


async def test_jobs_waiting_for_a_slot_hold_no_task() -> None:
    recorder = Recorder()
    lanes: Lanes[str] = Lanes(2, recorder.work)
    before = len(asyncio.all_tasks())
    for n in range(100):
        lanes.add(f"j{n}", f"j{n}", lane=f"issue-{n % 7}" if n % 2 else None)
    await until(lambda: len(recorder.started) == 2)
    # Each of the 2 running jobs has its slot's task and its work's task; the other 98 wait
    # as entries.
    assert len(asyncio.all_tasks()) - before == 4
    for n in range(100):
        recorder.gate(f"j{n}").set()
    await lanes.drain()
    assert len(recorder.started) == 100
    assert recorder.most == 2


async def test_dropping_a_lanes_first_job_before_it_has_a_slot_moves_the_lane_on() -> None:
    recorder = Recorder()
    lanes: Lanes[str] = Lanes(1, recorder.work)
    lanes.add("busy", "busy", lane="other")
    for name in ("a", "b", "c"):
        lanes.add(name, name, lane="issue")
    await until(lambda: recorder.started == ["busy"])
    assert lanes.drop("a") == "a"  # first of its lane, waiting for the one slot
    for name in ("busy", "b", "c"):
        recorder.gate(name).set()
    await lanes.drain()
    assert recorder.started == ["busy", "b", "c"]
    assert lanes.pending == 0


async def test_stopping_the_workers_starts_no_waiting_job() -> None:
    # At shutdown the event loop cancels what is left: a job waiting for a slot must not
    # start in a slot freed that way.
    recorder = Recorder()
    lanes: Lanes[str] = Lanes(1, recorder.work)
    before = asyncio.all_tasks()
    lanes.add("a", "a", lane=None)
    lanes.add("b", "b", lane=None)
    await until(lambda: recorder.started == ["a"])

    workers = asyncio.all_tasks() - before - {asyncio.current_task()}
    for task in workers:
        task.cancel()
    await asyncio.gather(*workers, return_exceptions=True)
    for _ in range(10):
        await asyncio.sleep(0)

    assert recorder.started == ["a"]
