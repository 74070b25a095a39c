"""The in-process hook registry and the stage runner (in-process and Claude Code hooks)."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import shlex
from datetime import UTC, datetime
from pathlib import Path
from types import MappingProxyType
from typing import Any

import pytest

from bot.commands.catalogue import CommandSpec
from bot.domain import Permission, RepoRef, Request, RunStatus, Source, Verdict
from bot.pipeline.claude_hooks import (
    KNOWN_EVENTS,
    CommandHook,
    HookConfig,
    HookGroup,
    load_hook_config,
)
from bot.pipeline.registry import (
    PRE_STAGES,
    HookInput,
    HookRegistry,
    HookReply,
    PythonHook,
    Stage,
)
from bot.pipeline.stages import StageResult, StageRunner, claude_input, within

NOW = datetime(2026, 11, 2, 9, 30, tzinfo=UTC)
B, P, E = Verdict.BLOCK, Verdict.PASS, Verdict.ERROR
# Long enough never to fire on a slow machine; a sequential runner would hit it.
WAIT_S = 5.0


def make_spec(command_id: str = "deploy") -> CommandSpec:
    return CommandSpec(
        id=command_id,
        aliases=(),
        namespace=None,
        path=Path(f"{command_id}.md"),
        description="Deploy the thing",
        argument_hint="[env]",
        body="",
        handler=command_id.replace("-", "_"),
        permission=Permission.WRITE,
        trigger_labels=(),
        parameters=(),
        timeout_s=60.0,
        rerun_on_edit=False,
        concurrency="none",
        ordered=True,
        rate_limit=None,
        breaker_threshold=None,
        breaker_cooldown_s=None,
        metadata=MappingProxyType({}),
    )


def make_input(
    stage: Stage = Stage.PRE_COMMAND,
    *,
    run_id: str = "run-1",
    command: str = "deploy",
    actor: str = "octo-cat",
    params: dict[str, Any] | None = None,
    status: RunStatus | None = None,
    summary: str = "",
    state_version: str = "",
    now: datetime = NOW,
) -> HookInput:
    request = Request(
        source=Source.COMMENT,
        command=command,
        args_text="env=prod",
        actor=actor,
        repo=RepoRef("octo-org", "widgets"),
        issue=7,
        installation_id=99,
        delivery_id="delivery-1",
        received_at=NOW,
        command_line=f"/{command} env=prod",
    )
    return HookInput(
        stage=stage,
        run_id=run_id,
        request=request,
        spec=make_spec(command),
        permission=Permission.WRITE,
        now=now,
        params=params if params is not None else {},
        status=status,
        summary=summary,
        state_version=state_version,
    )


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def runner(
    registry: HookRegistry,
    project_dir: Path,
    config: HookConfig | None = None,
    **kwargs: Any,
) -> StageRunner:
    return StageRunner(registry, config or HookConfig(), project_dir=project_dir, **kwargs)


def names(result: StageResult) -> list[str]:
    return [o.result.name for o in result.outcomes]


def verdicts(result: StageResult) -> list[Verdict]:
    return [o.result.verdict for o in result.outcomes]


async def passes(hook: HookInput) -> HookReply:
    return HookReply()


def config_of(event: str, *commands: str, matcher: str | None = None) -> HookConfig:
    hooks = tuple(CommandHook(c, 10.0, "settings.json") for c in commands)
    return HookConfig((HookGroup(event, matcher, hooks),))


def counting_command(counter: Path, exit_code: int = 0) -> str:
    """A command hook that appends a line to `counter` on every run."""
    return f"cat > /dev/null; echo ran >> {shlex.quote(str(counter))}; exit {exit_code}"


def lines(path: Path) -> int:
    return len(path.read_text().splitlines()) if path.exists() else 0


# --- Stage -------------------------------------------------------------------------------


def test_stage_values_are_hook_event_names_in_pipeline_order() -> None:
    assert [s.value for s in Stage] == [
        "Authorize",
        "Validate",
        "UserPromptSubmit",
        "PreCommand",
        "PostCommand",
        "StateUpdated",
    ]
    assert tuple(Stage)[:4] == PRE_STAGES
    assert [s for s in Stage if s.matches_command] == [
        Stage.PRE_COMMAND,
        Stage.POST_COMMAND,
        Stage.STATE_UPDATED,
    ]
    # The settings may name every stage except the two that are in-process only.
    assert {s.value for s in Stage} - KNOWN_EVENTS == {"Authorize", "Validate"}


# --- HookRegistry ------------------------------------------------------------------------


def test_decorator_registers_under_the_function_name_or_the_given_name() -> None:
    registry = HookRegistry()

    @registry.hook(Stage.AUTHORIZE)
    async def business_hours(hook: HookInput) -> HookReply:
        return HookReply()

    @registry.hook(Stage.PRE_COMMAND, name="custom-name", matcher="deploy", cache_seconds=30)
    async def other(hook: HookInput) -> HookReply:
        return HookReply()

    assert list(registry) == [
        PythonHook("business_hours", Stage.AUTHORIZE, business_hours),
        PythonHook("custom-name", Stage.PRE_COMMAND, other, "deploy", 30),
    ]
    # The decorator hands the function back unchanged, so it stays callable and testable.
    assert callable(business_hours)
    assert business_hours.__name__ == "business_hours"


def test_duplicate_name_in_a_stage_raises_but_another_stage_is_fine() -> None:
    registry = HookRegistry()
    registry.add(PythonHook("guard", Stage.AUTHORIZE, passes))
    with pytest.raises(ValueError, match="'guard' is already registered"):
        registry.add(PythonHook("guard", Stage.AUTHORIZE, passes, matcher="x"))
    with pytest.raises(ValueError, match="already registered"):
        registry.hook(Stage.AUTHORIZE, name="guard")(passes)
    registry.add(PythonHook("guard", Stage.PRE_COMMAND, passes))
    assert [(h.name, h.stage) for h in registry] == [
        ("guard", Stage.AUTHORIZE),
        ("guard", Stage.PRE_COMMAND),
    ]


@pytest.mark.parametrize("seconds", [0, 0.0, -1, -0.5])
def test_non_positive_cache_seconds_raise(seconds: float) -> None:
    registry = HookRegistry()
    with pytest.raises(ValueError, match="cache_seconds must be greater than 0"):
        registry.add(PythonHook("h", Stage.AUTHORIZE, passes, cache_seconds=seconds))
    with pytest.raises(ValueError, match="cache_seconds"):
        registry.hook(Stage.AUTHORIZE, cache_seconds=seconds)(passes)
    assert list(registry) == []  # nothing half-registered


def test_matching_keeps_registration_order_and_filters_the_stage() -> None:
    registry = HookRegistry()
    for name, stage in [
        ("c", Stage.PRE_COMMAND),
        ("a", Stage.PRE_COMMAND),
        ("x", Stage.POST_COMMAND),
        ("b", Stage.PRE_COMMAND),
    ]:
        registry.add(PythonHook(name, stage, passes))
    assert [h.name for h in registry.matching(Stage.PRE_COMMAND, "deploy")] == ["c", "a", "b"]
    assert [h.name for h in registry.matching(Stage.POST_COMMAND, "deploy")] == ["x"]
    assert registry.matching(Stage.AUTHORIZE, "deploy") == ()


@pytest.mark.parametrize("stage", [s for s in Stage if s.matches_command])
def test_matchers_apply_in_command_stages(stage: Stage) -> None:
    registry = HookRegistry()
    registry.add(PythonHook("exact", stage, passes, matcher="deploy"))
    registry.add(PythonHook("all", stage, passes))
    assert [h.name for h in registry.matching(stage, "deploy")] == ["exact", "all"]
    assert [h.name for h in registry.matching(stage, "generate-report")] == ["all"]


@pytest.mark.parametrize("stage", [s for s in Stage if not s.matches_command])
def test_matchers_are_ignored_in_other_stages(stage: Stage) -> None:
    registry = HookRegistry()
    registry.add(PythonHook("exact", stage, passes, matcher="deploy"))
    registry.add(PythonHook("regex", stage, passes, matcher="^release-"))
    assert [h.name for h in registry.matching(stage, "generate-report")] == ["exact", "regex"]


@pytest.mark.parametrize(
    ("matcher", "command", "expected"),
    [
        ("deploy|release", "deploy", True),
        ("deploy|release", "release", True),
        ("deploy|release", "deploy-now", False),  # exact names, not substrings
        ("deploy, release", "release", True),
        ("deploy", "redeploy", False),
        ("*", "anything", True),
        ("", "anything", True),
        ("^gen.*report$", "generate-report", True),
        ("^gen.*report$", "generate-report-now", False),
        ("report$", "generate-report", True),  # unanchored regex
        ("frontend:.*", "frontend:component", True),
        ("frontend:.*", "backend:component", False),
    ],
)
def test_matcher_forms(matcher: str, command: str, expected: bool) -> None:
    registry = HookRegistry()
    registry.add(PythonHook("h", Stage.PRE_COMMAND, passes, matcher=matcher))
    assert bool(registry.matching(Stage.PRE_COMMAND, command)) is expected


# --- claude_input ------------------------------------------------------------------------


def test_claude_input_carries_the_run(tmp_path: Path) -> None:
    hook = make_input(Stage.PRE_COMMAND, run_id="run-42", params={"env": "prod", "n": 3})
    payload = claude_input(hook, tmp_path)
    assert payload == {
        "session_id": "run-42",
        "transcript_path": "",
        "cwd": str(tmp_path),
        "permission_mode": "default",
        "hook_event_name": "PreCommand",
        "prompt": "/deploy env=prod",
        "command": "deploy",
        "parameters": {"env": "prod", "n": 3},
        "actor": "octo-cat",
        "actor_permission": "write",
        "repository": "octo-org/widgets",
        "issue": 7,
        "source": "comment",
        "delivery_id": "delivery-1",
    }
    json.dumps(payload)  # plain JSON, nothing that needs `default=`


def test_claude_input_result_and_state_version_only_when_set(tmp_path: Path) -> None:
    before = claude_input(make_input(Stage.POST_COMMAND, summary="ignored"), tmp_path)
    assert "result" not in before
    assert "state_version" not in before
    after = claude_input(
        make_input(
            Stage.STATE_UPDATED,
            status=RunStatus.SUCCEEDED,
            summary="Report posted.",
            state_version="v17",
        ),
        tmp_path,
    )
    assert after["hook_event_name"] == "StateUpdated"
    assert after["result"] == {"status": "succeeded", "summary": "Report posted."}
    assert after["state_version"] == "v17"
    failed = claude_input(make_input(Stage.POST_COMMAND, status=RunStatus.FAILED), tmp_path)
    assert failed["result"] == {"status": "failed", "summary": ""}
    assert "state_version" not in failed


def test_claude_input_parameters_are_a_copy(tmp_path: Path) -> None:
    params = {"env": "prod"}
    payload = claude_input(make_input(params=params), tmp_path)
    payload["parameters"]["env"] = "changed"
    assert params == {"env": "prod"}


# --- StageRunner: running ----------------------------------------------------------------


async def test_stage_without_hooks_is_empty(tmp_path: Path) -> None:
    registry = HookRegistry()
    registry.add(PythonHook("elsewhere", Stage.AUTHORIZE, passes))
    config = config_of("PostCommand", "exit 2")
    result = await runner(registry, tmp_path, config).run(Stage.PRE_COMMAND, make_input())
    assert result == StageResult()
    assert result.blockers == ()
    assert result.params is None
    assert result.additional_context == ()
    assert result.releases == ()


async def test_hooks_of_a_stage_run_concurrently(tmp_path: Path) -> None:
    registry = HookRegistry()
    b_ran = asyncio.Event()

    @registry.hook(Stage.PRE_COMMAND)
    async def waits_for_b(hook: HookInput) -> HookReply:
        # Run one after the other, this would time out: b only starts once a is done.
        await asyncio.wait_for(b_ran.wait(), WAIT_S)
        return HookReply(additional_context="a saw b")

    @registry.hook(Stage.PRE_COMMAND)
    async def sets_for_a(hook: HookInput) -> HookReply:
        b_ran.set()
        return HookReply()

    result = await runner(registry, tmp_path).run(Stage.PRE_COMMAND, make_input())
    assert verdicts(result) == [P, P]
    assert result.additional_context == ("a saw b",)


async def test_in_process_and_command_hooks_run_concurrently(tmp_path: Path) -> None:
    marker = tmp_path / "command-ran"
    registry = HookRegistry()

    @registry.hook(Stage.PRE_COMMAND)
    async def waits_for_the_command(hook: HookInput) -> HookReply:
        # In-process hooks are started first; this one finishes only after the command hook.
        for _ in range(int(WAIT_S / 0.01)):
            if marker.exists():
                return HookReply()
            await asyncio.sleep(0.01)
        return HookReply.block("the command hook never ran alongside")

    config = config_of("PreCommand", f"cat > /dev/null; touch {shlex.quote(str(marker))}")
    result = await runner(registry, tmp_path, config).run(Stage.PRE_COMMAND, make_input())
    assert verdicts(result) == [P, P]
    assert names(result)[0] == "waits_for_the_command"


async def test_outcomes_in_registration_then_configuration_order(tmp_path: Path) -> None:
    # Finishing order: command hooks, then third, second, first. Reporting order is fixed.
    marker = tmp_path / "command-ran"
    registry = HookRegistry()
    second_done, third_done = asyncio.Event(), asyncio.Event()
    finished: list[str] = []

    @registry.hook(Stage.PRE_COMMAND, name="first")
    async def first(hook: HookInput) -> HookReply:
        await asyncio.wait_for(second_done.wait(), WAIT_S)
        finished.append("first")
        return HookReply()

    @registry.hook(Stage.PRE_COMMAND, name="second")
    async def second(hook: HookInput) -> HookReply:
        await asyncio.wait_for(third_done.wait(), WAIT_S)
        finished.append("second")
        second_done.set()
        return HookReply.block("second says no")

    @registry.hook(Stage.PRE_COMMAND, name="third")
    async def third(hook: HookInput) -> HookReply:
        for _ in range(int(WAIT_S / 0.01)):
            if marker.exists():
                break
            await asyncio.sleep(0.01)
        finished.append("third")
        third_done.set()
        return HookReply()

    config = config_of(
        "PreCommand",
        f"cat > /dev/null; touch {shlex.quote(str(marker))}",
        "cat > /dev/null; echo late >&2; exit 2",
    )
    result = await runner(registry, tmp_path, config).run(Stage.PRE_COMMAND, make_input())
    assert finished == ["third", "second", "first"]
    assert names(result)[:3] == ["first", "second", "third"]
    assert len(result.outcomes) == 5
    assert verdicts(result) == [P, B, P, P, B]
    assert result.outcomes[4].result.reason == "late"
    assert [o.result.name for o in result.blockers] == ["second", result.outcomes[4].result.name]


async def test_every_blocker_is_reported(tmp_path: Path) -> None:
    registry = HookRegistry()
    registry.add(PythonHook("ok", Stage.AUTHORIZE, passes))

    @registry.hook(Stage.AUTHORIZE, name="permission")
    async def permission(hook: HookInput) -> HookReply:
        return HookReply.block("needs write")

    @registry.hook(Stage.AUTHORIZE, name="rate-limit")
    async def rate_limit(hook: HookInput) -> HookReply:
        return HookReply.block("too often", usage="/deploy [env]")

    result = await runner(registry, tmp_path).run(Stage.AUTHORIZE, make_input(Stage.AUTHORIZE))
    assert [(o.result.name, o.result.reason) for o in result.blockers] == [
        ("permission", "needs write"),
        ("rate-limit", "too often"),
    ]
    assert result.blockers[1].reply.usage == "/deploy [env]"
    assert verdicts(result) == [P, B, B]


async def test_a_hook_that_raises_blocks_and_the_others_still_run(tmp_path: Path) -> None:
    registry = HookRegistry()
    calls: list[str] = []

    @registry.hook(Stage.PRE_COMMAND)
    async def broken(hook: HookInput) -> HookReply:
        raise RuntimeError("database is down")

    @registry.hook(Stage.PRE_COMMAND)
    async def fine(hook: HookInput) -> HookReply:
        calls.append("fine")
        return HookReply()

    result = await runner(registry, tmp_path).run(Stage.PRE_COMMAND, make_input())
    assert verdicts(result) == [B, P]
    assert calls == ["fine"]
    reason = result.outcomes[0].result.reason
    assert "RuntimeError" in reason
    assert "database is down" in reason
    assert result.outcomes[0].reply.reason == reason
    assert [o.result.name for o in result.blockers] == ["broken"]


async def test_a_hook_that_hangs_blocks_and_is_cancelled(tmp_path: Path) -> None:
    registry = HookRegistry()
    cancelled = asyncio.Event()

    @registry.hook(Stage.VALIDATE)
    async def hangs(hook: HookInput) -> HookReply:
        try:
            await asyncio.Event().wait()  # never set
        except asyncio.CancelledError:
            cancelled.set()
            raise
        return HookReply()  # pragma: no cover

    registry.add(PythonHook("fine", Stage.VALIDATE, passes))
    stage_runner = runner(registry, tmp_path, python_timeout_s=0.05)
    result = await stage_runner.run(Stage.VALIDATE, make_input(Stage.VALIDATE))
    assert verdicts(result) == [B, P]
    assert "did not answer within 0.05 s" in result.outcomes[0].result.reason
    assert cancelled.is_set()


async def test_params_context_and_releases_are_collected(tmp_path: Path) -> None:
    registry = HookRegistry()
    released: list[str] = []

    def release_slot() -> None:
        released.append("slot")

    @registry.hook(Stage.PRE_COMMAND)
    async def context(hook: HookInput) -> HookReply:
        return HookReply(additional_context="deploy window is open")

    @registry.hook(Stage.PRE_COMMAND)
    async def no_params(hook: HookInput) -> HookReply:
        return HookReply()

    @registry.hook(Stage.PRE_COMMAND)
    async def binds(hook: HookInput) -> HookReply:
        return HookReply(params={"env": "prod"})

    @registry.hook(Stage.PRE_COMMAND)
    async def binds_later(hook: HookInput) -> HookReply:
        return HookReply(params={"env": "staging"}, additional_context="second context")

    @registry.hook(Stage.PRE_COMMAND)
    async def holds(hook: HookInput) -> HookReply:
        return HookReply(release=release_slot)

    result = await runner(registry, tmp_path).run(Stage.PRE_COMMAND, make_input())
    assert result.params == {"env": "prod"}  # the first hook that bound some
    assert result.additional_context == ("deploy window is open", "second context")
    assert result.releases == (release_slot,)
    assert released == []  # collected, not called
    assert result.blockers == ()


async def test_command_hooks_get_the_claude_input_on_stdin(tmp_path: Path) -> None:
    seen = tmp_path / "stdin.json"
    config = config_of("PostCommand", f"cat > {shlex.quote(str(seen))}", matcher="deploy")
    hook = make_input(Stage.POST_COMMAND, run_id="run-9", status=RunStatus.SUCCEEDED)
    result = await runner(HookRegistry(), tmp_path, config).run(Stage.POST_COMMAND, hook)
    assert verdicts(result) == [P]
    assert json.loads(seen.read_text()) == claude_input(hook, tmp_path)


async def test_command_hook_matchers_test_the_command_id(tmp_path: Path) -> None:
    counter = tmp_path / "count"
    config = config_of("PreCommand", counting_command(counter), matcher="release")
    result = await runner(HookRegistry(), tmp_path, config).run(Stage.PRE_COMMAND, make_input())
    assert result == StageResult()
    assert lines(counter) == 0
    hook = make_input(command="release")
    result = await runner(HookRegistry(), tmp_path, config).run(Stage.PRE_COMMAND, hook)
    assert verdicts(result) == [P]
    assert lines(counter) == 1


async def test_user_prompt_submit_plain_stdout_is_context(tmp_path: Path) -> None:
    config = config_of("UserPromptSubmit", "cat > /dev/null; echo 'use the staging cluster'")
    hook = make_input(Stage.USER_PROMPT_SUBMIT)
    result = await runner(HookRegistry(), tmp_path, config).run(Stage.USER_PROMPT_SUBMIT, hook)
    assert result.additional_context == ("use the staging cluster",)


async def test_command_hook_errors_do_not_block(tmp_path: Path) -> None:
    config = config_of("PreCommand", "cat > /dev/null; echo oops >&2; exit 1")
    result = await runner(HookRegistry(), tmp_path, config).run(Stage.PRE_COMMAND, make_input())
    assert verdicts(result) == [E]
    assert result.blockers == ()
    assert "oops" in result.outcomes[0].result.reason


# --- StageRunner: caching ----------------------------------------------------------------


def counting_registry(
    calls: list[HookInput], cache_seconds: float | None = 60.0, **reply: Any
) -> HookRegistry:
    registry = HookRegistry()

    @registry.hook(Stage.PRE_COMMAND, cache_seconds=cache_seconds)
    async def counted(hook: HookInput) -> HookReply:
        calls.append(hook)
        return HookReply(**reply)

    return registry


async def test_cached_hook_is_called_once_for_identical_inputs(tmp_path: Path) -> None:
    calls: list[HookInput] = []
    stage_runner = runner(counting_registry(calls, reason=""), tmp_path, timer=FakeClock())
    first = await stage_runner.run(Stage.PRE_COMMAND, make_input())
    second = await stage_runner.run(Stage.PRE_COMMAND, make_input())
    assert len(calls) == 1
    assert first.outcomes[0].result.cached is False
    assert second.outcomes[0].result.cached is True
    assert second.outcomes[0].result.duration_ms == 0.0
    assert second.outcomes[0].result.name == "counted"
    assert second.outcomes[0].result.verdict is P


async def test_cached_block_keeps_its_reason(tmp_path: Path) -> None:
    calls: list[HookInput] = []
    registry = counting_registry(calls, verdict=Verdict.BLOCK, reason="not on Fridays")
    stage_runner = runner(registry, tmp_path, timer=FakeClock())
    await stage_runner.run(Stage.PRE_COMMAND, make_input())
    again = await stage_runner.run(Stage.PRE_COMMAND, make_input())
    assert len(calls) == 1
    assert [(o.result.name, o.result.reason, o.result.cached) for o in again.blockers] == [
        ("counted", "not on Fridays", True)
    ]


async def test_uncached_hook_is_called_every_time(tmp_path: Path) -> None:
    calls: list[HookInput] = []
    stage_runner = runner(counting_registry(calls, cache_seconds=None), tmp_path)
    for _ in range(3):
        result = await stage_runner.run(Stage.PRE_COMMAND, make_input())
        assert result.outcomes[0].result.cached is False
    assert len(calls) == 3


async def test_run_id_and_time_are_not_part_of_the_cache_key(tmp_path: Path) -> None:
    calls: list[HookInput] = []
    stage_runner = runner(counting_registry(calls), tmp_path, timer=FakeClock())
    await stage_runner.run(Stage.PRE_COMMAND, make_input(run_id="run-1"))
    later = NOW.replace(hour=17)
    result = await stage_runner.run(Stage.PRE_COMMAND, make_input(run_id="run-2", now=later))
    assert len(calls) == 1
    assert result.outcomes[0].result.cached is True


@pytest.mark.parametrize(
    "other",
    [
        make_input(params={"env": "staging"}),
        make_input(actor="someone-else"),
        make_input(command="release"),
        make_input(status=RunStatus.FAILED),
        make_input(summary="different"),
        dataclasses.replace(make_input(), permission=Permission.ADMIN),
        dataclasses.replace(make_input(), state_version="abc123"),
        dataclasses.replace(
            make_input(),
            request=dataclasses.replace(make_input().request, issue_labels=frozenset({"bug"})),
        ),
        dataclasses.replace(
            make_input(),
            request=dataclasses.replace(make_input().request, actor_association="OWNER"),
        ),
    ],
    ids=[
        "params",
        "actor",
        "command",
        "status",
        "summary",
        "permission",
        "state_version",
        "labels",
        "association",
    ],
)
async def test_a_different_input_calls_the_hook_again(tmp_path: Path, other: HookInput) -> None:
    calls: list[HookInput] = []
    registry = HookRegistry()

    # No matcher, so the hook runs for any command.
    @registry.hook(Stage.PRE_COMMAND, cache_seconds=60)
    async def counted(hook: HookInput) -> HookReply:
        calls.append(hook)
        return HookReply()

    stage_runner = runner(registry, tmp_path, timer=FakeClock())
    await stage_runner.run(Stage.PRE_COMMAND, make_input(params={"env": "prod"}))
    result = await stage_runner.run(Stage.PRE_COMMAND, other)
    assert len(calls) == 2
    assert calls[1] is other
    assert result.outcomes[0].result.cached is False


async def test_same_hook_in_another_stage_is_not_a_cache_hit(tmp_path: Path) -> None:
    calls: list[Stage] = []
    registry = HookRegistry()

    async def counted(hook: HookInput) -> HookReply:
        calls.append(hook.stage)
        return HookReply()

    registry.add(PythonHook("same", Stage.PRE_COMMAND, counted, cache_seconds=60))
    registry.add(PythonHook("same", Stage.POST_COMMAND, counted, cache_seconds=60))
    stage_runner = runner(registry, tmp_path, timer=FakeClock())
    await stage_runner.run(Stage.PRE_COMMAND, make_input(Stage.PRE_COMMAND))
    await stage_runner.run(Stage.POST_COMMAND, make_input(Stage.POST_COMMAND))
    assert calls == [Stage.PRE_COMMAND, Stage.POST_COMMAND]


async def test_cached_answer_expires_after_its_ttl(tmp_path: Path) -> None:
    calls: list[HookInput] = []
    clock = FakeClock()
    stage_runner = runner(counting_registry(calls, cache_seconds=60), tmp_path, timer=clock)
    await stage_runner.run(Stage.PRE_COMMAND, make_input())
    clock.now = 59.0
    hit = await stage_runner.run(Stage.PRE_COMMAND, make_input())
    assert len(calls) == 1
    assert hit.outcomes[0].result.cached is True
    clock.now = 60.0
    miss = await stage_runner.run(Stage.PRE_COMMAND, make_input())
    assert len(calls) == 2
    assert miss.outcomes[0].result.cached is False
    # The fresh answer is cached again, from its own time.
    clock.now = 119.0
    await stage_runner.run(Stage.PRE_COMMAND, make_input())
    assert len(calls) == 2


async def test_reply_with_a_release_is_never_cached(tmp_path: Path) -> None:
    calls: list[HookInput] = []
    released: list[str] = []
    registry = counting_registry(calls, release=lambda: released.append("slot"))
    stage_runner = runner(registry, tmp_path, timer=FakeClock())
    first = await stage_runner.run(Stage.PRE_COMMAND, make_input())
    second = await stage_runner.run(Stage.PRE_COMMAND, make_input())
    assert len(calls) == 2
    assert [r.result.cached for r in (*first.outcomes, *second.outcomes)] == [False, False]
    assert len(second.releases) == 1


async def test_a_hook_that_raised_is_not_cached(tmp_path: Path) -> None:
    calls: list[HookInput] = []
    registry = HookRegistry()

    @registry.hook(Stage.PRE_COMMAND, cache_seconds=300)
    async def flaky(hook: HookInput) -> HookReply:
        calls.append(hook)
        if len(calls) == 1:
            raise ConnectionError("transient")
        return HookReply()

    stage_runner = runner(registry, tmp_path, timer=FakeClock())
    first = await stage_runner.run(Stage.PRE_COMMAND, make_input())
    assert verdicts(first) == [B]
    second = await stage_runner.run(Stage.PRE_COMMAND, make_input())
    assert len(calls) == 2
    assert verdicts(second) == [P]


async def test_a_hook_that_timed_out_is_not_cached(tmp_path: Path) -> None:
    calls: list[HookInput] = []
    registry = HookRegistry()

    @registry.hook(Stage.PRE_COMMAND, cache_seconds=300)
    async def slow_once(hook: HookInput) -> HookReply:
        calls.append(hook)
        if len(calls) == 1:
            await asyncio.Event().wait()  # never set: times out
        return HookReply()

    stage_runner = runner(registry, tmp_path, python_timeout_s=0.05, timer=FakeClock())
    first = await stage_runner.run(Stage.PRE_COMMAND, make_input())
    assert verdicts(first) == [B]
    second = await stage_runner.run(Stage.PRE_COMMAND, make_input())
    assert len(calls) == 2
    assert verdicts(second) == [P]


async def test_a_hook_that_returns_no_reply_blocks(tmp_path: Path) -> None:
    registry = HookRegistry()

    @registry.hook(Stage.PRE_COMMAND)
    async def forgot_to_return(hook: HookInput) -> HookReply:
        return None  # type: ignore[return-value]

    result = await runner(registry, tmp_path).run(Stage.PRE_COMMAND, make_input())
    assert verdicts(result) == [B]
    assert "instead of a HookReply" in result.outcomes[0].result.reason


def test_an_invalid_matcher_is_refused_at_registration() -> None:
    registry = HookRegistry()
    with pytest.raises(ValueError, match="not a valid regex"):
        registry.hook(Stage.PRE_COMMAND, matcher="deploy(")(_pass)


async def _pass(hook: HookInput) -> HookReply:
    return HookReply()


# --- Claude Code command hooks: cacheSeconds ---------------------------------------------


def write_settings(claude_dir: Path, settings: object) -> HookConfig:
    claude_dir.mkdir(exist_ok=True)
    (claude_dir / "settings.json").write_text(json.dumps(settings))
    return load_hook_config(claude_dir)


def pre_command_settings(*commands: str, cache: object = None) -> dict[str, object]:
    settings: dict[str, object] = {
        "hooks": {
            "PreCommand": [
                {
                    "matcher": "deploy",
                    "hooks": [{"type": "command", "command": c} for c in commands],
                }
            ]
        }
    }
    if cache is not None:
        settings["issueQueueBot"] = cache
    return settings


async def test_declared_command_hook_runs_once_for_identical_inputs(tmp_path: Path) -> None:
    cached_counter, plain_counter = tmp_path / "cached", tmp_path / "plain"
    cached_command = counting_command(cached_counter)
    plain_command = counting_command(plain_counter)
    config = write_settings(
        tmp_path / ".claude",
        pre_command_settings(
            cached_command, plain_command, cache={"cacheSeconds": {cached_command: 300}}
        ),
    )
    assert config.warnings == ()
    assert [h.cache_seconds for h in config.matching("PreCommand", "deploy")] == [300.0, None]
    clock = FakeClock()
    stage_runner = runner(HookRegistry(), tmp_path, config, timer=clock)

    first = await stage_runner.run(Stage.PRE_COMMAND, make_input(run_id="run-1"))
    second = await stage_runner.run(Stage.PRE_COMMAND, make_input(run_id="run-2"))
    assert lines(cached_counter) == 1
    assert lines(plain_counter) == 2
    assert [o.result.cached for o in first.outcomes] == [False, False]
    # Configuration order holds even though only the second one ran.
    assert [o.result.cached for o in second.outcomes] == [True, False]
    assert names(second) == names(first)
    assert second.outcomes[0].result.duration_ms == 0.0
    assert verdicts(second) == [P, P]

    await stage_runner.run(Stage.PRE_COMMAND, make_input(actor="someone-else"))
    assert lines(cached_counter) == 2
    clock.now = 301.0
    await stage_runner.run(Stage.PRE_COMMAND, make_input())
    assert lines(cached_counter) == 3


async def test_declared_command_hook_caches_a_block(tmp_path: Path) -> None:
    counter = tmp_path / "count"
    command = f"cat > /dev/null; echo ran >> {shlex.quote(str(counter))}; echo 'frozen' >&2; exit 2"
    config = write_settings(
        tmp_path / ".claude", pre_command_settings(command, cache={"cacheSeconds": {command: 60}})
    )
    stage_runner = runner(HookRegistry(), tmp_path, config, timer=FakeClock())
    await stage_runner.run(Stage.PRE_COMMAND, make_input())
    second = await stage_runner.run(Stage.PRE_COMMAND, make_input())
    assert lines(counter) == 1
    assert [(o.result.reason, o.result.cached) for o in second.blockers] == [("frozen", True)]


async def test_declared_command_hook_that_errors_is_not_cached(tmp_path: Path) -> None:
    counter = tmp_path / "count"
    command = counting_command(counter, exit_code=1)
    config = write_settings(
        tmp_path / ".claude", pre_command_settings(command, cache={"cacheSeconds": {command: 60}})
    )
    assert config.matching("PreCommand", "deploy")[0].cache_seconds == 60.0
    stage_runner = runner(HookRegistry(), tmp_path, config, timer=FakeClock())
    first = await stage_runner.run(Stage.PRE_COMMAND, make_input())
    second = await stage_runner.run(Stage.PRE_COMMAND, make_input())
    assert lines(counter) == 2
    assert verdicts(first) == verdicts(second) == [E]
    assert second.outcomes[0].result.cached is False


@pytest.mark.parametrize(
    ("bot_settings", "warning"),
    [
        (5, "issueQueueBot.cacheSeconds: expected {command: seconds}"),
        ("yes", "issueQueueBot.cacheSeconds: expected {command: seconds}"),
        ({"cacheSeconds": [300]}, "issueQueueBot.cacheSeconds: expected {command: seconds}"),
        ({"cacheSeconds": {"check.sh": 0}}, "needs a positive number of seconds"),
        ({"cacheSeconds": {"check.sh": -5}}, "needs a positive number of seconds"),
        ({"cacheSeconds": {"check.sh": "300"}}, "needs a positive number of seconds"),
        ({"cacheSeconds": {"check.sh": True}}, "needs a positive number of seconds"),
    ],
)
def test_bad_cache_settings_are_warnings(
    tmp_path: Path, bot_settings: object, warning: str
) -> None:
    command = "check.sh"
    config = write_settings(tmp_path, pre_command_settings(command, cache=bot_settings))
    assert len(config.warnings) == 1
    assert config.warnings[0].startswith("settings.json: ")
    assert warning in config.warnings[0]
    # The hooks still load, just without a cache.
    assert config.matching("PreCommand", "deploy") == (CommandHook(command, 60.0, "settings.json"),)


def test_cache_seconds_apply_by_exact_command_and_other_entries_still_load(
    tmp_path: Path,
) -> None:
    settings = pre_command_settings(
        "a.sh",
        "b.sh",
        cache={"cacheSeconds": {"a.sh": 2.5, "b.sh": 0, "unknown.sh": 10, "b.sh ": 9}},
    )
    config = write_settings(tmp_path, settings)
    assert [(h.command, h.cache_seconds) for h in config.matching("PreCommand", "deploy")] == [
        ("a.sh", 2.5),
        ("b.sh", None),
    ]
    assert len(config.warnings) == 1
    assert "'b.sh'" in config.warnings[0]


# -- within: a hook's or handler's code in the run's own task ------------------------------


async def test_within_raises_again_a_cancellation_the_code_swallowed() -> None:
    entered = asyncio.Event()

    async def tidy_up_and_go_on() -> str:
        async with within(10):
            entered.set()
            with contextlib.suppress(asyncio.CancelledError):  # tidies up, would carry on
                await asyncio.Event().wait()
        return "carried on"

    task = asyncio.ensure_future(tidy_up_and_go_on())
    await entered.wait()
    task.cancel()

    with pytest.raises(asyncio.CancelledError):
        await task


async def test_within_times_out_without_cancelling_its_task() -> None:
    with pytest.raises(TimeoutError):
        async with within(0.01):
            await asyncio.Event().wait()

    task = asyncio.current_task()
    assert task is not None
    assert task.cancelling() == 0
