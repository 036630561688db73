"""The agent's console: what an agent types in their own chat with the bot, read as commands or
as a message for the guest they answer.

An agent holding several chats answers the one in focus: the chat they accepted or switched to
last. No SDK here; the Teams edge turns the result into turns.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass


class Command(enum.Enum):
    """What an agent can type (also in the app's command list)."""

    AVAILABLE = "available"
    AWAY = "away"
    CHATS = "chats"
    SWITCH = "switch"
    END = "end"
    ESCALATE = "escalate"
    TRANSFER = "transfer"
    NOTE = "note"
    HELP = "help"


#: Commands that act on the chat in focus.
ON_A_CHAT = frozenset({Command.END, Command.ESCALATE, Command.TRANSFER, Command.NOTE})


@dataclass(frozen=True, slots=True)
class Typed:
    """A command and what follows it (`switch 2` → SWITCH, "2"), or plain text (command None)."""

    command: Command | None
    argument: str


def read(text: str | None) -> Typed:
    """What an agent's message is: a command when it starts with one, else text to relay.

    Case and surrounding punctuation do not matter; "end chat" is END. Anything else, however
    short, is a message for the guest.
    """
    words = (text or "").strip().split(maxsplit=1)
    if not words:
        return Typed(None, "")
    head = words[0].casefold().strip(" .!?/")
    rest = words[1].strip() if len(words) > 1 else ""
    for command in Command:
        if head == command.value:
            if command is Command.END and rest.casefold().strip(" .!?") == "chat":
                rest = ""
            if command in (Command.AVAILABLE, Command.AWAY, Command.CHATS, Command.HELP) and rest:
                break  # "away from keyboard for a sec" is a message, not a command
            return Typed(command, rest)
    return Typed(None, (text or "").strip())


@dataclass(frozen=True, slots=True)
class Focus:
    """The chat an agent's message or chat command goes to, or why there is none."""

    conversation_id: str | None
    problem: str | None = None


def focus(chats: Sequence[str], current: str | None) -> Focus:
    """The chat in focus among those the agent holds: the current one if they still hold it,
    the only one, else none (with what to tell the agent)."""
    if current in chats:
        return Focus(current)
    if len(chats) == 1:
        return Focus(chats[0])
    if not chats:
        return Focus(None, "You're not in a chat with a guest right now.")
    return Focus(
        None, "You hold several chats: type 'chats' to see them, 'switch N' to answer one."
    )


def switch(chats: Sequence[str], argument: str) -> Focus:
    """The chat `switch N` names (N as numbered by `chats`, from 1)."""
    if not argument.strip().isdigit():
        return Focus(None, "Type 'switch' and the number 'chats' shows, e.g. 'switch 2'.")
    number = int(argument)
    if not 1 <= number <= len(chats):
        shown = f"1 to {len(chats)}" if chats else "none: you hold no chat"
        return Focus(None, f"There is no chat {number} (chats: {shown}).")
    return Focus(chats[number - 1])


HELP = (
    "You're an agent here. Type 'available' to take chats and 'away' to stop; 'chats' lists"
    " the chats you hold and 'switch N' picks the one you answer. In a chat, what you type goes"
    " to the guest; 'note …' is for colleagues only; 'transfer <team>' hands the chat to another"
    " team, 'escalate' to the next level, 'end' closes it."
)
