"""Agents across two Crossdesk instances sharing a store (one SQLite file; the Cosmos DB test
server), as behind a load balancer: exactly one accept wins, an agent's maximum holds, timers
fire once, and a restarted instance picks up the waiting chats' timers."""

from __future__ import annotations

import asyncio

import pytest

from app import RUNTIME, Settings
from tests.conftest import RunningBot, StartBot
from tests.support.agents import AGENTS_CONFIG, BotClock, Desk
from tests.support.cosmos import EMULATOR_KEY, CosmosServer

ALEX, ADELE = "Alex Wilber", "Adele Vance"


@pytest.fixture(params=["sqlite", "cosmos"])
async def start(request: pytest.FixtureRequest, start_bot: StartBot) -> object:
    """Starts an instance on the store the test's instances share, on a clock they share."""
    clock = BotClock()
    if request.param == "sqlite":
        settings = None
    else:
        server: CosmosServer = request.getfixturevalue("cosmos_server")
        settings = Settings(
            storage="cosmos",
            cosmos_endpoint=server.url,
            cosmos_key=EMULATOR_KEY,
            cosmos_database=request.getfixturevalue("cosmos_database"),
        )

    async def instance() -> Desk:
        bot: RunningBot = await start_bot(settings, config=AGENTS_CONFIG, sqlite="shared.sqlite3")
        bot.app[RUNTIME].clock = clock
        return Desk(bot, clock)

    return instance


async def test_one_accept_wins_across_instances_and_the_maximum_holds(start: object) -> None:
    one, other = await start(), await start()  # type: ignore[operator]
    await one.available(ALEX, ADELE)
    megan, john = one.guest(), other.guest("John Doe")
    await one.to(megan, "HR")
    await other.to(john, "HR")
    alex_one, adele_one = one.agent(ALEX), one.agent(ADELE)
    adele_other = other.agent(ADELE)
    megan_offer = next(c for c in alex_one.offers() if c.shows("Megan Bowen"))
    adele_offers = adele_one.offers()

    # Alex (on one instance) and Adele (on the other) accept Megan at once; Adele, who takes
    # one chat at a time, also accepts John on the other instance at the same moment.
    await asyncio.gather(
        alex_one.click(megan_offer, "Accept"),
        adele_one.click(adele_offers[0], "Accept"),
        adele_other.click(adele_offers[1], "Accept"),
    )

    joined_megan = [c for c in megan.received().cards() if c.title.endswith("has joined")]
    assert len(joined_megan) == 1
    adele = await one.runtime.agents.record("adele")
    assert len(adele.chats) <= 1
    joined_john = [c for c in john.received().cards() if c.title.endswith("has joined")]
    assert len(joined_john) <= 1
    holders = {
        chat: (await one.chat_metadata(chat)).get("Session.Agent.Id")
        for chat in (megan.conversation_id, john.conversation_id)
    }
    assert list(holders.values()).count("adele") == len(adele.chats)


async def test_timers_fire_once_across_instances_and_after_a_restart(start: object) -> None:
    one, other = await start(), await start()  # type: ignore[operator]
    await one.available(ALEX)
    megan = one.guest()
    await one.to(megan, "HR")
    before = megan.received()

    # Both instances look for due timers at the same moment, twice.
    one.clock.advance(120)
    await asyncio.gather(*(d.runtime.fire_due_timers() for d in (one, other, one, other)))

    searching = megan.received().after(before)
    assert searching.card_titles() == ["Still looking for someone from Human Resources"]

    # A new instance on the same store, later: the chat's timers are still there.
    restarted = await start()  # type: ignore[operator]
    restarted.clock.advance(480)
    await asyncio.gather(restarted.runtime.fire_due_timers(), other.runtime.fire_due_timers())
    assert megan.received().texts()[-2:] == [
        "Sorry, nobody from Human Resources could take your chat in time.",
        "Leave us a message and we'll reply here within one working day.",
    ]
    assert (await restarted.chat_metadata(megan.conversation_id))[
        "Session.Agent.State"
    ] == "timed_out"
