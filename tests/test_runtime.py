"""The bot and its dialogs through the SDK's TestAdapter: the runtime's own guarantees."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from botbuilder.core.adapters import TestAdapter
from botbuilder.schema import Activity, ActivityTypes, ChannelAccount

from bots.teams import CrossdeskBot
from errors import PipelineError
from pipeline.config import EXAMPLE_CONFIG, load_directory
from storage.sqlite import SqliteStore


def reply_texts(adapter: TestAdapter) -> list[str]:
    texts = []
    while (activity := adapter.get_next_activity()) is not None:
        if activity.attachments:
            texts.append(f"[card] {activity.attachments[0].content['body'][0]['text']}")
        else:
            texts.append(activity.text)
    return texts


def message(text: str | None = None, value: dict[str, Any] | None = None) -> Activity:
    return Activity(type=ActivityTypes.message, text=text, value=value)


class CrashAfterTransfer(SqliteStore):
    """Fails the first dialog-state write after a transfer: the turn dies after the commit."""

    crashed = False

    async def write_state(self, key: str, document: dict[str, Any], etag: str | None) -> str:
        transferred = bool(await self.transfers_of("Convo1"))
        if transferred and not self.crashed:
            self.crashed = True
            raise OSError("the process died here")
        return await super().write_state(key, document, etag)


async def test_a_crash_after_the_transfer_commit_resumes_in_the_receiving_tenant(
    tmp_path: Path,
) -> None:
    store = CrashAfterTransfer(tmp_path / "store.sqlite3")
    bot = CrossdeskBot(load_directory(EXAMPLE_CONFIG), store)
    adapter = TestAdapter(bot.on_turn)
    await adapter.process_activity(
        Activity(type=ActivityTypes.conversation_update, members_added=[ChannelAccount(id="u")]),
        bot.on_turn,
    )
    await adapter.process_activity(message("Payroll question"), bot.on_turn)
    with pytest.raises(OSError, match="the process died here"):
        await adapter.process_activity(message("HR"), bot.on_turn)
    reply_texts(adapter)

    sessions = await store.sessions_of("Convo1")
    assert [(s.tenant_id, s.state.value) for s in sessions] == [
        ("helpdesk", "transferred"),
        ("hr", "active"),
    ]
    # The next message finds the chat bound to HR and runs HR's pipeline from its first stage.
    await adapter.process_activity(message("hello?"), bot.on_turn)
    assert reply_texts(adapter) == [
        'Hi user, this is Human Resources. Help Desk sent you over with your question: "Payroll'
        ' question"',
        "Is this about leave, pay, or something else? Tell us a little more.",
    ]
    await store.close()


async def test_a_pipeline_that_never_waits_is_stopped(tmp_path: Path) -> None:
    config = {
        "front_door": "echo",
        "tenants": [
            {
                "id": "echo",
                "name": "Echo",
                "primary_pipeline": "main",
                "pipelines": {
                    "main": {
                        "stages": [
                            {"key": "ping", "type": "message", "text": "ping", "next": "pong"},
                            {"key": "pong", "type": "message", "text": "pong", "next": "ping"},
                        ]
                    }
                },
            }
        ],
    }
    path = tmp_path / "loop.yaml"
    path.write_text(yaml.safe_dump(config))
    store = SqliteStore(tmp_path / "store.sqlite3")
    bot = CrossdeskBot(load_directory(path), store)
    adapter = TestAdapter(bot.on_turn)
    with pytest.raises(PipelineError, match="entered 100 stages in one turn"):
        await adapter.process_activity(message("hi"), bot.on_turn)
    # The failed turn saved nothing and released its claim: the session was opened, no flow.
    [session] = await store.sessions_of("Convo1")
    assert await store.flow("Convo1", session.id) == []
    assert await store.claim_activity("Convo1", "0") is True
    await store.close()
