"""Pipeline: hooks, handler, state update and report, the only way to run a command."""

from bot.pipeline.permissions import PermissionResolver
from bot.pipeline.runner import Pipeline, run_id_for

__all__ = ["PermissionResolver", "Pipeline", "run_id_for"]
