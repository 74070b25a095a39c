"""The GitHub layer: App authentication and one client per installation.

Every call to GitHub goes through `InstallationClient`; nothing above this layer builds
URLs with tokens or talks to gidgethub directly.
"""

from bot.github.auth import AppAuth, app_jwt
from bot.github.client import GitHub, InstallationClient

__all__ = ["AppAuth", "GitHub", "InstallationClient", "app_jwt"]
