"""The per-tenant pipeline runtime: the one owner of a chat's turn, and the delivery of what
turns send (no SDK)."""

from dialogs.conversation import Command
from dialogs.delivery import Delivery, Sender, Sweeper
from dialogs.runtime import (
    AgentAction,
    Channel,
    ChatOpened,
    Event,
    GuestMessage,
    Runtime,
    Wake,
)

__all__ = [
    "AgentAction",
    "Channel",
    "ChatOpened",
    "Command",
    "Delivery",
    "Event",
    "GuestMessage",
    "Runtime",
    "Sender",
    "Sweeper",
    "Wake",
]
