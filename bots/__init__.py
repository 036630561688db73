"""The Teams activity handler: one bot in front of every tenant's pipeline."""

from bots.teams_bot import CrossdeskBot

__all__ = ["CrossdeskBot"]
