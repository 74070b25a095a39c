"""Intake: from a verified delivery to requests for the pipeline."""

from bot.intake.intake import Intake, Receipt
from bot.intake.payloads import PayloadError

__all__ = ["Intake", "PayloadError", "Receipt"]
