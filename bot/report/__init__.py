"""Report: how runs show on their issue (comment, reactions, status label)."""

from bot.report.reporter import Reporter

__all__ = ["Reporter"]
