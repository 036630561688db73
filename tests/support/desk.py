"""The runtime below HTTP: a configuration of the tests' own, a store, and a chat to drive.

`Desk` runs turns straight through `Runtime.run_turn` with a recording channel, so tests of
stages, commands and repairs read like the conversation they check, without Teams or the SDK.
"""

from __future__ import annotations

import copy
import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

from dialogs import ChatOpened, Delivery, Event, GuestMessage, Runtime, Wake
from dialogs.delivery import SendResult, Sent
from pipeline.config import Config, load_config
from pipeline.stages import Reply
from storage.base import Outgoing, Store
from storage.export import conversation_export
from storage.sqlite import SqliteStore

CHAT = "a:1desk-chat"
GUEST = {
    "Guest.Id": "29:1megan",
    "Guest.Name": "Megan Bowen",
    "Guest.ChannelId": "msteams",
    "Guest.Locale": "en-US",
}
PROFILE = {"Guest.GivenName": "Megan", "Guest.Email": "megan@contoso.example"}

#: The runtime tests' configuration: a front door that routes to HR or IT, HR that can pass
#: chats on to Legal, Legal that only takes chats from HR.
DESK: dict[str, Any] = {
    "front_door": "helpdesk",
    "max_transfers_per_chat": 3,
    "tenants": [
        {
            "id": "helpdesk",
            "name": "Help Desk",
            "primary_pipeline": "welcome",
            "pipelines": {
                "welcome": {
                    "stages": [
                        {
                            "key": "greet",
                            "type": "message",
                            "text": "Hi ${coalesce(Guest.GivenName, Guest.Name, 'there')}.",
                            "next": "ask",
                        },
                        {
                            "key": "ask",
                            "type": "question",
                            "text": "What do you need help with?",
                            "store_as": "Guest.Question",
                            "next": "route",
                        },
                        {
                            "key": "route",
                            "type": "options",
                            "text": "Which team?",
                            "store_as": "Desk.Team",
                            "choices": [
                                {"title": "IT Support", "value": "it", "next": "transfer"},
                                {"title": "HR", "value": "hr", "next": "transfer"},
                                {"title": "Legal", "value": "legal", "next": "transfer"},
                            ],
                        },
                        {
                            "key": "transfer",
                            "type": "tenant_transfer",
                            "tenant": "${Desk.Team}",
                            "template": "transfer.json",
                            "on_failure": "route",
                            "failure_text": "Sorry, ${Desk.Team} can't take chats now.",
                        },
                    ]
                }
            },
        },
        {
            "id": "it",
            "name": "IT Support",
            "enabled": False,
            "primary_pipeline": "triage",
            "pipelines": {
                "triage": {"stages": [{"key": "bye", "type": "end", "text": "IT here, bye."}]}
            },
        },
        {
            "id": "hr",
            "name": "Human Resources",
            "primary_pipeline": "intake",
            "pipelines": {
                "intake": {
                    "stages": [
                        {
                            "key": "hello",
                            "type": "message",
                            "text": "HR here. You asked: ${Guest.Question}",
                            "next": "detail",
                        },
                        {
                            "key": "detail",
                            "type": "question",
                            "text": "Leave, pay, or something else?",
                            "store_as": "HR.Detail",
                            "next": "next_step",
                        },
                        {
                            "key": "next_step",
                            "type": "options",
                            "text": "Anything else?",
                            "choices": [
                                {"title": "That's all", "next": "bye"},
                                {"title": "A legal question", "next": "to_legal"},
                                {"title": "Back to the Help Desk", "next": "to_helpdesk"},
                            ],
                        },
                        {
                            "key": "to_legal",
                            "type": "tenant_transfer",
                            "tenant": "legal",
                            "template": "transfer.json",
                            "on_failure": "bye",
                        },
                        {
                            "key": "to_helpdesk",
                            "type": "tenant_transfer",
                            "tenant": "helpdesk",
                            "template": "transfer.json",
                            "on_failure": "bye",
                        },
                        {
                            "key": "bye",
                            "type": "end",
                            "text": "Thanks, HR will reply here.",
                            "resolution": "handed to HR",
                        },
                    ]
                }
            },
        },
        {
            "id": "legal",
            "name": "Legal",
            "primary_pipeline": "intake",
            "accepts_transfers_from": ["hr"],
            "pipelines": {
                "intake": {
                    "stages": [
                        {
                            "key": "matter",
                            "type": "question",
                            "text": "Briefly, what is the legal matter?",
                            "store_as": "Legal.Matter",
                            "next": "bye",
                        },
                        {"key": "bye", "type": "end", "text": "Legal will be in touch."},
                    ]
                }
            },
        },
    ],
}


def desk() -> dict[str, Any]:
    """A fresh copy of the runtime tests' configuration, to change for one test."""
    return copy.deepcopy(DESK)


def tenant(config: dict[str, Any], tenant_id: str) -> dict[str, Any]:
    return next(t for t in config["tenants"] if t["id"] == tenant_id)


def without_tenant(config: dict[str, Any], tenant_id: str) -> dict[str, Any]:
    """`config` with one tenant removed, and nothing else naming it (no choice offers it)."""
    config["tenants"] = [t for t in config["tenants"] if t["id"] != tenant_id]
    for other in config["tenants"]:
        if tenant_id in (other.get("accepts_transfers_from") or []):
            other["accepts_transfers_from"].remove(tenant_id)
        for pipeline in other["pipelines"].values():
            for stage in pipeline["stages"]:
                if "choices" in stage:
                    stage["choices"] = [c for c in stage["choices"] if c.get("value") != tenant_id]
    return config


def stages(config: dict[str, Any], tenant_id: str, pipeline: str) -> list[dict[str, Any]]:
    stages: list[dict[str, Any]] = tenant(config, tenant_id)["pipelines"][pipeline]["stages"]
    return stages


def write_config(folder: Path, config: Mapping[str, Any], name: str = "desk.yaml") -> Config:
    path = folder / name
    path.write_text(yaml.safe_dump(dict(config), sort_keys=False), encoding="utf-8")
    return load_config(path)


@dataclass
class RecordingChannel:
    """A `Channel` for one chat: the guest's facts, the chat's reference, the event's id."""

    facts_: Mapping[str, Any] = field(default_factory=lambda: dict(GUEST))
    profile_: Mapping[str, Any] = field(default_factory=lambda: dict(PROFILE))
    reference_: Mapping[str, Any] | None = field(default_factory=lambda: dict(REFERENCE))
    reply_to_: str | None = None

    def facts(self) -> Mapping[str, Any]:
        return self.facts_

    async def profile(self) -> Mapping[str, Any]:
        return self.profile_

    def reference(self) -> Mapping[str, Any] | None:
        return self.reference_

    def reply_to(self) -> str | None:
        return self.reply_to_


REFERENCE = {
    "user": {"id": "29:1megan", "name": "Megan Bowen"},
    "bot": {"id": "28:bot", "name": "Crossdesk"},
    "conversation": {"id": CHAT},
    "channelId": "msteams",
    "serviceUrl": "https://smba.example/",
}


@dataclass
class RecordingSender:
    """A `Sender` that keeps what it was given; `answers` are used first (to fail sends)."""

    sent: list[Outgoing] = field(default_factory=list)
    answers: list[SendResult] = field(default_factory=list)
    attempts: int = 0

    updates: list[tuple[str, Outgoing]] = field(default_factory=list)

    async def send(self, entry: Outgoing, replacing: str | None = None) -> SendResult:
        self.attempts += 1
        if self.answers:
            return self.answers.pop(0)
        if replacing:
            self.updates.append((replacing, entry))
            return Sent(replacing)
        self.sent.append(entry)
        return Sent(f"sent-{len(self.sent)}")


def reply_of(entry: Outgoing) -> Reply:
    """What an outbox entry shows the guest."""
    activity = entry.activity
    cards = [a["content"] for a in activity.get("attachments", [])]
    return Reply(text=activity.get("text"), card=cards[0] if cards else None)


class EpochClock:
    """Epoch seconds that move only when something sleeps on them (delivery waits)."""

    def __init__(self) -> None:
        self.now = 1_800_000_000.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


class Clock:
    """Moves a second at each reading, from a fixed moment."""

    def __init__(self) -> None:
        self.now = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        self.now += timedelta(seconds=1)
        return self.now


class Desk:
    """One chat driven through the runtime; each call returns the replies of its turn."""

    def __init__(
        self,
        config: Config,
        store: Store,
        chat: str = CHAT,
        sender: RecordingSender | None = None,
    ) -> None:
        self.config = config
        self.store = store
        self.chat = chat
        self.sender = sender or RecordingSender()
        self.epoch = EpochClock()
        self.delivery = Delivery(self.sender, clock=self.epoch, sleep=self.epoch.sleep)
        self.runtime = Runtime(config, store, self.delivery, clock=Clock())
        self.channel = RecordingChannel(reference_={**REFERENCE, "conversation": {"id": chat}})
        self._events = itertools.count(1)
        self.last: list[Reply] = []

    def with_config(self, config: Config) -> Desk:
        """The same chat and store after a restart with another configuration."""
        restarted = Desk(config, self.store, self.chat, self.sender)
        restarted.channel = self.channel
        restarted._events = self._events
        return restarted

    async def run(self, event: Event, event_id: str | None = None) -> list[Reply]:
        before = len(self.sender.sent)
        event_id = event_id or f"1:event-{next(self._events)}"
        self.channel.reply_to_ = event_id
        await self.runtime.run_turn(self.chat, event, event_id=event_id, channel=self.channel)
        sent = [reply_of(entry) for entry in self.sender.sent[before:]]
        if sent:
            self.last = sent
        return sent

    async def open(self, *, reinstalled: bool = False) -> list[Reply]:
        return await self.run(ChatOpened(reinstalled=reinstalled))

    async def say(self, text: str, event_id: str | None = None) -> list[Reply]:
        return await self.run(GuestMessage(text=text), event_id)

    async def click(self, title: str, on: Sequence[Reply] | None = None) -> list[Reply]:
        """Click the button `title` of the last options card the guest was shown."""
        return await self.run(GuestMessage(value=button(on or self.last, title)))

    async def wake(self, event_id: str | None = None) -> list[Reply]:
        return await self.run(Wake(), event_id)

    async def export(self) -> dict[str, Any]:
        return await conversation_export(self.store, self.chat)


def texts(replies: Sequence[Reply]) -> list[str]:
    """What the replies say as text (cards show their first text block, marked)."""
    return [
        reply.text
        if reply.card is None
        else f"[card] {reply.card['body'][0].get('text', '')}".rstrip()
        for reply in replies
    ]


def button(replies: Sequence[Reply], title: str) -> dict[str, Any]:
    """The submit data of the button `title` on the last card among `replies`."""
    for reply in reversed(replies):
        for action in (reply.card or {}).get("actions", []):
            if action.get("title") == title:
                return dict(action["data"])
    raise AssertionError(f"no button {title!r} in {texts(replies)}")


def buttons(replies: Sequence[Reply]) -> list[str]:
    """The titles of the buttons on the last card among `replies`."""
    for reply in reversed(replies):
        if reply.card is not None and reply.card.get("actions"):
            return [action["title"] for action in reply.card["actions"]]
    return []


def open_desk(folder: Path, config: Mapping[str, Any] | None = None) -> Desk:
    """A chat on a fresh store in `folder`, with `config` (default: `DESK`)."""
    folder.mkdir(parents=True, exist_ok=True)
    return Desk(write_config(folder, config or DESK), SqliteStore(folder / "desk.sqlite3"))
