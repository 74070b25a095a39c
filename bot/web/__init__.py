"""Web: the HTTP surface (GitHub webhook, health, metrics)."""

from bot.web.app import create_app

__all__ = ["create_app"]
