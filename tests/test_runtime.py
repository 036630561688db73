"""The runtime below HTTP: commands, turns Crossdesk starts itself, what a turn guarantees,
and chats whose position a new configuration no longer has."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from dialogs import Sweeper, Wake
from dialogs.delivery import RetryLater, Undeliverable
from errors import PipelineError
from storage.sqlite import SqliteStore
from tests.support.desk import (
    CHAT,
    DESK,
    Desk,
    desk,
    open_desk,
    reply_of,
    stages,
    tenant,
    texts,
    without_tenant,
    write_config,
)

REPO = Path(__file__).resolve().parent.parent


async def at_hr(tmp_path: Path) -> Desk:
    """A chat transferred to HR, waiting at HR's question."""
    chat = open_desk(tmp_path)
    await chat.open()
    await chat.say("My payslip is wrong")
    await chat.click("HR")
    return chat


# commands


async def test_help_at_a_question_and_at_options(tmp_path: Path) -> None:
    chat = open_desk(tmp_path)
    await chat.open()
    assert texts(await chat.say("help")) == [
        "You're chatting with Help Desk. I'm waiting for your answer to: What do you need"
        " help with? Type 'end chat' at any time to close this chat."
    ]
    await chat.say("Payslip")
    assert texts(await chat.say("Help!")) == [
        "You're chatting with Help Desk. Pick one of the options below, or type its name or"
        " number."
        " Type 'end chat' at any time to close this chat.",
        "[card] Which team?",
    ]
    [session] = (await chat.export())["sessions"]
    assert session["metadata"]["Guest.Question"] == "Payslip", "help is not an answer"


async def test_end_chat_ends_the_session_where_the_chat_is(tmp_path: Path) -> None:
    chat = await at_hr(tmp_path)
    assert texts(await chat.say("End chat.")) == [
        "You ended the chat with Human Resources. Send a message any time to start a new one."
    ]
    hr = (await chat.export())["sessions"][-1]
    assert (hr["tenant"], hr["state"]) == ("hr", "ended")
    assert hr["metadata"]["Session.Status.Resolution"] == "ended by guest"


async def test_a_message_after_the_end_opens_a_new_visit_and_answers_its_first_question(
    tmp_path: Path,
) -> None:
    chat = await at_hr(tmp_path)
    await chat.say("end chat")
    # The front door's question is not asked: the message that opened the chat answers it.
    assert texts(await chat.say("One more thing")) == ["Hi Megan.", "[card] Which team?"]
    sessions = (await chat.export())["sessions"]
    assert [s["tenant"] for s in sessions] == ["helpdesk", "hr", "helpdesk"]
    assert sessions[0]["metadata"]["Guest.IsNew"] is True
    assert sessions[2]["metadata"]["Guest.IsNew"] is False
    assert sessions[2]["metadata"]["Guest.Question"] == "One more thing"


async def test_start_over_begins_again_at_the_front_door(tmp_path: Path) -> None:
    chat = await at_hr(tmp_path)
    assert texts(await chat.say("start over")) == [
        "Let's start over.",
        "Hi Megan.",
        "What do you need help with?",
    ]
    sessions = (await chat.export())["sessions"]
    assert [(s["tenant"], s["state"]) for s in sessions] == [
        ("helpdesk", "transferred"),
        ("hr", "ended"),
        ("helpdesk", "active"),
    ]
    assert sessions[1]["metadata"]["Session.Status.Resolution"] == "started over by guest"
    assert sessions[2]["metadata"]["Guest.Email"] == "megan@contoso.example"
    assert "Guest.Question" not in sessions[2]["metadata"]


async def test_a_reinstall_shows_where_the_chat_stands_once_the_guest_has_spoken(
    tmp_path: Path,
) -> None:
    chat = open_desk(tmp_path)
    await chat.open()
    # Teams sends a second event for the same install: nothing new to show.
    assert await chat.open(reinstalled=True) == []
    await chat.say("Payslip")
    assert texts(await chat.open(reinstalled=True)) == ["[card] Which team?"]
    assert await chat.open() == [], "a member added to an open chat changes nothing"


# turns Crossdesk starts itself


async def test_a_wake_shows_the_waiting_stage_again_exactly_once(tmp_path: Path) -> None:
    chat = await at_hr(tmp_path)
    assert texts(await chat.wake("crossdesk:reminder:1")) == ["Leave, pay, or something else?"]
    assert await chat.wake("crossdesk:reminder:1") == []
    hr = (await chat.export())["sessions"][-1]
    assert [e["text"] for e in hr["transcript"]].count("Leave, pay, or something else?") == 2


async def test_a_wake_leaves_a_chat_without_an_active_session_alone(tmp_path: Path) -> None:
    chat = open_desk(tmp_path)
    assert await chat.wake() == []
    assert (await chat.export())["sessions"] == []
    await chat.open()
    await chat.say("end chat")
    assert await chat.wake() == []
    assert [s["state"] for s in (await chat.export())["sessions"]] == ["ended"]


async def test_proactive_turns_run_once_across_instances_sharing_a_store(tmp_path: Path) -> None:
    chat = await at_hr(tmp_path)
    other = Desk(chat.config, SqliteStore(tmp_path / "desk.sqlite3"))
    before = len(chat.sender.sent)
    ran = [
        await desk_.runtime.run_unprompted(CHAT, Wake(), event_id="crossdesk:timer:42")
        for desk_ in (chat, other, chat)
    ]
    assert ran == [True, False, False]
    [reminder] = chat.sender.sent[before:]
    assert other.sender.sent == []
    assert reminder.activity["text"] == "Leave, pay, or something else?"
    # A new message (not a reply) in the chat its stored conversation reference names.
    assert reminder.reply_to is None and "replyToId" not in reminder.activity
    assert reminder.activity["conversation"] == {"id": CHAT}
    assert reminder.activity["serviceUrl"] == "https://smba.example/"
    assert reminder.activity["recipient"] == {"id": "29:1megan", "name": "Megan Bowen"}


# what a turn guarantees


async def test_an_event_runs_once(tmp_path: Path) -> None:
    chat = open_desk(tmp_path)
    await chat.open()
    assert texts(await chat.say("Payslip", event_id="1:same")) == ["[card] Which team?"]
    assert await chat.say("Payslip", event_id="1:same") == []
    [session] = (await chat.export())["sessions"]
    assert [e["text"] for e in session["transcript"] if e["direction"] == "in"] == ["Payslip"]


async def test_replies_the_channel_refuses_for_now_are_retried_in_order_and_sent_once(
    tmp_path: Path,
) -> None:
    chat = open_desk(tmp_path)
    chat.sender.answers = [
        RetryLater("the Bot Connector answered 429", after=1.5),
        RetryLater("the Bot Connector answered 502"),
    ]
    assert texts(await chat.open()) == ["Hi Megan.", "What do you need help with?"]
    assert chat.sender.attempts == 4
    # It waited as long as the channel asked, then backed off.
    assert chat.epoch.slept[0] == 1.5 and 0.5 <= chat.epoch.slept[1] <= 1.0
    [session] = (await chat.export())["sessions"]
    assert [s["stage"] for s in session["flow"]] == ["greet", "ask"]
    async with chat.store.chat_turn(CHAT, None) as turn:
        assert turn is not None and turn.outbox == [], "nothing is left to deliver"


async def test_a_long_wait_leaves_the_rest_to_the_sweeper_in_order(tmp_path: Path) -> None:
    chat = open_desk(tmp_path)
    chat.sender.answers = [RetryLater("the Bot Connector answered 429", after=30.0)]
    assert await chat.open() == [], "the turn does not wait 30 s"
    [session] = (await chat.export())["sessions"]
    assert session["waiting_at"] == {"pipeline": "welcome", "stage": "ask"}
    sweeper = Sweeper(chat.store, chat.delivery)
    assert await sweeper.sweep() == 0, "not due yet"
    chat.epoch.now += 30
    assert await sweeper.sweep() == 1
    assert [reply_of(e).text for e in chat.sender.sent] == [
        "Hi Megan.",
        "What do you need help with?",
    ]
    assert await sweeper.sweep() == 0


async def test_a_message_the_channel_will_never_take_is_given_up_not_retried(
    tmp_path: Path,
) -> None:
    chat = open_desk(tmp_path)
    chat.sender.answers = [Undeliverable("the Bot Connector answered 403")]
    assert texts(await chat.open()) == ["What do you need help with?"]
    assert chat.sender.attempts == 2
    assert await Sweeper(chat.store, chat.delivery).sweep() == 0


async def test_a_pipeline_that_never_waits_is_stopped_and_nothing_is_stored(
    tmp_path: Path,
) -> None:
    config = desk()
    # A loop `check` lets through (with a warning): it goes round only while IT is disabled.
    welcome = stages(config, "helpdesk", "welcome")
    welcome[0]["next"] = "bounce"
    welcome.append(
        {
            "key": "bounce",
            "type": "tenant_transfer",
            "tenant": "it",
            "template": "transfer.json",
            "on_failure": "greet",
        }
    )
    chat = open_desk(tmp_path, config)
    with pytest.raises(PipelineError, match="entered 100 stages in one turn"):
        await chat.open()
    assert (await chat.export())["sessions"] == []


async def test_set_metadata_computes_keys_from_what_was_collected(tmp_path: Path) -> None:
    config = desk()
    welcome = stages(config, "helpdesk", "welcome")
    welcome[1]["next"] = "remember"
    welcome.insert(
        2,
        {
            "key": "remember",
            "type": "set_metadata",
            "set": {
                "Desk.Summary": "${toUpper(Guest.Question)} from ${Guest.GivenName}",
                "Desk.Length": "${length(Guest.Question)}",
            },
            "next": "route",
        },
    )
    chat = open_desk(tmp_path, config)
    await chat.open()
    assert texts(await chat.say("Payslip")) == ["[card] Which team?"]
    [session] = (await chat.export())["sessions"]
    assert session["metadata"]["Desk.Summary"] == "PAYSLIP from Megan"
    assert session["metadata"]["Desk.Length"] == 7
    assert [s["type"] for s in session["flow"]][-2:] == ["set_metadata", "options"]


# a configuration that changed under a live chat


async def test_a_removed_tenant_sends_its_chats_back_to_the_front_door_with_their_data(
    tmp_path: Path,
) -> None:
    chat = await at_hr(tmp_path)
    config = without_tenant(desk(), "hr")
    restarted = chat.with_config(write_config(tmp_path, config, "without-hr.yaml"))
    assert texts(await restarted.say("Pay")) == [
        "Sorry, Human Resources isn't available here any more, so I've brought you back to"
        " Help Desk.",
        "Hi Megan.",
        "What do you need help with?",
    ]
    sessions = (await restarted.export())["sessions"]
    assert [(s["tenant"], s["state"]) for s in sessions] == [
        ("helpdesk", "transferred"),
        ("hr", "ended"),
        ("helpdesk", "active"),
    ]
    assert sessions[1]["metadata"]["Session.Status.Resolution"] == "tenant no longer available"
    assert sessions[2]["metadata"]["Guest.Question"] == "My payslip is wrong"
    # And it goes on as any chat does.
    assert texts(await restarted.say("Still my payslip")) == ["[card] Which team?"]


@pytest.mark.parametrize(
    "change",
    ["stage removed", "stage changed type", "pipeline renamed"],
)
async def test_a_changed_pipeline_restarts_the_tenants_chats_keeping_their_data(
    tmp_path: Path, change: str
) -> None:
    chat = await at_hr(tmp_path)
    config = desk()
    hr = tenant(config, "hr")
    intake = hr["pipelines"]["intake"]["stages"]
    if change == "stage removed":
        intake[0]["next"] = "next_step"
        del intake[1]
    elif change == "stage changed type":
        intake[1] = {"key": "detail", "type": "message", "text": "Tell us more.", "next": "bye"}
    else:
        hr["pipelines"] = {"intake-v2": hr["pipelines"]["intake"]}
        hr["primary_pipeline"] = "intake-v2"
    restarted = chat.with_config(write_config(tmp_path, config, "changed.yaml"))
    replies = texts(await restarted.say("Pay"))
    assert replies[:2] == [
        "Sorry, Human Resources changed how its chats go since your last message, so let's"
        " start again from the beginning.",
        "HR here. You asked: My payslip is wrong",
    ]
    sessions = (await restarted.export())["sessions"]
    assert [(s["tenant"], s["state"]) for s in sessions][-1][0] == "hr"
    assert "HR.Detail" not in sessions[1]["metadata"], "the message was not taken as an answer"


async def test_end_chat_and_help_still_work_in_a_stranded_chat(tmp_path: Path) -> None:
    chat = await at_hr(tmp_path)
    config = without_tenant(desk(), "hr")
    restarted = chat.with_config(write_config(tmp_path, config, "without-hr.yaml"))
    assert texts(await restarted.say("end chat")) == [
        "You ended the chat with Human Resources. Send a message any time to start a new one."
    ]
    stranded_again = await at_hr(tmp_path / "again")
    restarted = stranded_again.with_config(write_config(tmp_path, config, "without-hr.yaml"))
    assert texts(await restarted.say("help"))[0].startswith(
        "Sorry, Human Resources isn't available here any more"
    )


def test_check_with_the_store_lists_the_chats_a_new_configuration_would_move(
    tmp_path: Path,
) -> None:
    import asyncio

    async def two_chats() -> None:
        at_hr_chat = await at_hr(tmp_path)
        at_front = Desk(at_hr_chat.config, at_hr_chat.store, "a:1front-chat")
        await at_front.open()
        await at_hr_chat.store.close()

    asyncio.run(two_chats())
    store_path = tmp_path / "desk.sqlite3"
    config = without_tenant(desk(), "hr")
    new_config = tmp_path / "new.yaml"
    new_config.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")

    def check(config_file: Path, store: Path) -> subprocess.CompletedProcess[str]:
        env = {
            **os.environ,
            "CROSSDESK_CONFIG": str(config_file),
            "CROSSDESK_SQLITE_PATH": str(store),
        }
        return subprocess.run(
            [sys.executable, "app.py", "check", "--store"],
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )

    moved = check(new_config, store_path)
    assert moved.returncode == 0, moved.stderr
    lines = moved.stdout.splitlines()
    assert lines[-1].startswith(f"check {new_config}: OK: 0 errors,")
    lines = lines[
        lines.index(f"{store_path}: 1 of 2 live chats would move with this configuration:") :
    ]
    assert f"chat {CHAT} (session " in lines[1]
    assert lines[1].endswith(
        "waits at hr/intake/detail: tenant gone; its next turn moves to the front door 'helpdesk'"
    )

    unchanged = tmp_path / "same.yaml"
    unchanged.write_text(yaml.safe_dump(DESK, sort_keys=False), encoding="utf-8")
    same = check(unchanged, store_path)
    assert f"{store_path}: all 2 live chats can resume where they wait" in same.stdout.splitlines()

    missing = check(unchanged, tmp_path / "no-such.sqlite3")
    assert missing.returncode == 2
    assert "no SQLite store at" in missing.stderr
    assert not (tmp_path / "no-such.sqlite3").exists()
