"""What an agent types, read as a command or as a message for the guest; which chat it goes to;
who may take a chat now."""

from __future__ import annotations

import pytest

from agents.console import Command, Typed, focus, read, switch
from agents.model import Agent
from agents.roster import AgentState, Roster


@pytest.mark.parametrize(
    ("typed", "read_as"),
    [
        ("available", Typed(Command.AVAILABLE, "")),
        ("Away.", Typed(Command.AWAY, "")),
        ("switch 2", Typed(Command.SWITCH, "2")),
        ("End chat", Typed(Command.END, "")),
        ("note customer prefers email", Typed(Command.NOTE, "customer prefers email")),
        ("transfer hr", Typed(Command.TRANSFER, "hr")),
        ("/help", Typed(Command.HELP, "")),
        # Words that start like a command but are a sentence go to the guest.
        ("away from my desk for two minutes", Typed(None, "away from my desk for two minutes")),
        ("Helpful, thanks!", Typed(None, "Helpful, thanks!")),
        ("  Your payslip is fixed  ", Typed(None, "Your payslip is fixed")),
        ("", Typed(None, "")),
    ],
)
def test_commands_and_messages(typed: str, read_as: Typed) -> None:
    assert read(typed) == read_as


def test_the_chat_in_focus() -> None:
    assert focus(["a:1g1"], None).conversation_id == "a:1g1"
    assert focus(["a:1g1", "a:1g2"], "a:1g2").conversation_id == "a:1g2"
    several = focus(["a:1g1", "a:1g2"], "a:1gone")
    assert several.conversation_id is None and "switch N" in (several.problem or "")
    assert focus([], None).problem == "You're not in a chat with a guest right now."
    assert switch(["a:1g1", "a:1g2"], "2").conversation_id == "a:1g2"
    assert switch(["a:1g1"], "3").problem == "There is no chat 3 (chats: 1 to 1)."
    assert switch([], "1").problem == "There is no chat 1 (chats: none: you hold no chat)."
    assert (switch(["a:1g1"], "two").problem or "").startswith("Type 'switch' and the number")


def state(agent_id: str, **fields: object) -> AgentState:
    agent = Agent(id=agent_id, name=agent_id.title(), upn=f"{agent_id}@x", max_chats=2)
    return AgentState(agent, **fields)  # type: ignore[arg-type]


def test_who_is_offered_a_chat() -> None:
    roster = Roster(
        [
            state("alex", available=True, reachable=True),
            state("adele", available=False, reachable=True),
            state("isaiah", available=True, reachable=False),
            state("megan", available=True, reachable=True, chats=("a:1x", "a:1y")),
            state("lee", available=True, reachable=True, chats=("a:1x", "a:1g")),
        ]
    )
    assert [s.id for s in roster.eligible("a:1g")] == ["alex", "lee"]
    assert [s.id for s in roster.eligible("a:1g", besides=["alex"])] == ["lee"]
    assert roster.anyone and not Roster([state("isaiah", available=True)]).anyone
