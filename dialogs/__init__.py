"""The per-tenant pipeline runtime: the one owner of a chat's turn (no SDK)."""

from dialogs.runtime import Channel, ChatOpened, Command, Event, GuestMessage, Runtime, Wake

__all__ = ["Channel", "ChatOpened", "Command", "Event", "GuestMessage", "Runtime", "Wake"]
