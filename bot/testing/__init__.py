"""A GitHub emulator for testing GitHub Apps over real HTTP.

`GitHubEmulator` serves the REST endpoints a bot uses (validated against GitHub's OpenAPI
description) and sends signed webhook deliveries, so the bot under test is the same code
users run, pointed at `GITHUB_API_URL=<emulator.url>`. See `bot/testing/emulator.py`.
"""

from bot.testing.auth import KeyPair, generate_key_pair
from bot.testing.dispatch import RecordedRequest
from bot.testing.emulator import GitHubEmulator
from bot.testing.faults import Faults
from bot.testing.gists import GistError
from bot.testing.views import CommentView, IssueEventView, IssueView, ReactionView
from bot.testing.webhooks import Delivery
from bot.testing.world import ROLES, Association

__all__ = [
    "ROLES",
    "Association",
    "CommentView",
    "Delivery",
    "Faults",
    "GistError",
    "GitHubEmulator",
    "IssueEventView",
    "IssueView",
    "KeyPair",
    "ReactionView",
    "RecordedRequest",
    "generate_key_pair",
]
