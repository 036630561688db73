"""What a chat left in the store, read the way an admin reads it: the sessions export.

HTTP-level tests read stored sessions, flow, transcripts and transfers only through
`storage.export.conversation_export` (the JSON of `python app.py sessions`), never through the
store's Python API, so they keep their meaning when the store behind it changes.
"""

from __future__ import annotations

import json
from typing import Any, Protocol, runtime_checkable

from storage.base import Store
from storage.export import conversation_export
from tests.support.replies import ADAPTIVE_CARD, Card


@runtime_checkable
class ServesAStore(Protocol):
    """A running bot (tests.conftest.RunningBot) and the store it writes to."""

    @property
    def store(self) -> Store: ...


async def chat_export(bot: ServesAStore | Store, conversation_id: str) -> dict[str, Any]:
    """Everything stored about one chat, as `python app.py sessions` prints it, read from a
    running bot's store (or a store opened on the same data, e.g. another instance's):

    {"conversation", "sessions": [{id, tenant, state, started, ended, metadata,
      flow: [{stage, type, pipeline, at}], transcript: [{direction, at, text, attachments,
      value}]}], "transfers": [{from, to, fromTenant, toTenant, at}]}, sessions in order.
    """
    store = bot.store if isinstance(bot, ServesAStore) else bot
    return await conversation_export(store, conversation_id)


class Transcript(list[tuple[str, str]]):
    """A session's transcript as (direction, what) lines, in order: direction "in" or "out";
    what is the text, "card: <title>" for an Adaptive Card, or "value: <json>" for a click
    (`Replies.lines()` shows what the bot sent the same way)."""

    @classmethod
    def of(cls, session: dict[str, Any]) -> Transcript:
        """The transcript of one session of an export."""
        lines = cls()
        for entry in session["transcript"]:
            shown = [entry["text"]] if entry["text"] is not None else []
            shown += [
                f"card: {Card(a['content']).title}"
                for a in entry["attachments"]
                if a.get("contentType") == ADAPTIVE_CARD
            ]
            if entry["value"] is not None:
                shown.append(f"value: {json.dumps(entry['value'], sort_keys=True)}")
            lines += [(entry["direction"], what) for what in shown]
        return lines

    def said(self, direction: str) -> list[str]:
        """What went one way ("in": the guest's, "out": the bot's), in order."""
        return [what for way, what in self if way == direction]

    def index_of(self, direction: str, what: str) -> int:
        """Where a line first is, to assert order: `t.index_of("in", a) < t.index_of(...)`."""
        if (direction, what) not in self:
            listed = "\n".join(f"  {way}: {said!r}" for way, said in self) or "  (nothing)"
            raise AssertionError(f"no {direction!r} line {what!r}; the transcript:\n{listed}")
        return self.index((direction, what))
