"""`connect_agent`: connect the guest to a human agent who answers from Teams.

The chat waits here while it is offered to the tenant's agents (`broadcast`: everyone eligible
at once, the first accept wins; `round_robin_hunt`: one agent at a time, starting with whoever
was offered a chat longest ago, the next one when the accept timeout passes), and while it is
connected: what the guest types goes to the agent, what the agent types to the guest. It goes
on at `next` when the agent ends it, at `on_timeout` when nobody accepted within `max_wait`, at
`on_drop` when the guest left before anyone joined, at `on_closed` when no agent could be asked
at all. Agents escalate (to another list, a stage or a tenant) and transfer the chat.

What the stage keeps while it waits (`Wait.keep`): `state` (searching or connected), the agent
`list` it searches, the `request` (the offer round: an accept of an older round is stale), who
was `offered` and who `declined`, the agent a hunt is waiting for, and the connected `agent`.
Offer cards are labelled per round and agent, so they are updated in place ("Taken by Alex").
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping, Sequence
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from agents.actions import AgentChange, AgentInput, AgentVerb, Change, ChatLine
from agents.model import ALL
from agents.roster import AgentState, Roster
from pipeline.markdown import escape_markdown
from pipeline.session import iso
from pipeline.stages.base import (
    After,
    CheckContext,
    Finish,
    Goto,
    GuestInput,
    Localized,
    Outcome,
    Reply,
    StageBase,
    StageContext,
    StageHelp,
    Stored,
    Transfer,
    Wait,
    variants,
)

SEARCHING = "searching"
CONNECTED = "connected"
#: The session metadata the stage writes (Chime's names where Chime has them).
METADATA = (
    "Session.Agent.Id",
    "Session.Agent.Name",
    "Session.Agent.AadObjectId",
    "Session.Agent.List",
    "Session.Agent.Routing",
    "Session.Agent.State",
    "Session.QueuedUtc",
    "Session.ConnectedUtc",
    "Session.WaitSeconds",
    "Session.ConnectedSeconds",
    "Session.DroppedWhileConnected",
    "Session.Escalation.Count",
    "Session.Escalation.To",
    "Session.TransferredBy.AgentId",
    "Session.TransferredBy.AgentName",
    "Session.Status.IsResolved",
    "Session.Status.ResolutionNotes",
    "Session.Status.ResolvedByAgentId",
    "Session.Status.ResolvedByAgentName",
    "Session.Status.ResolvedByType",
)
#: What the stage's cards bind besides the session's metadata.
CARD_DATA = (
    "Agent.Name",
    "Agent.GivenName",
    "Offer.Chat",
    "Offer.Request",
    "Offer.List",
    "Offer.Status",
    "Chat.Lines",
    "Chat.Number",
    "Search.Minutes",
)
#: Most lines of the chat so far an agent is shown when they join, per tenant.
HISTORY_LINES = 20


class Escalation(BaseModel):
    """Where an agent can escalate a chat: another agent list, a stage, or another tenant."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    title: Annotated[str, Field(min_length=1, description="What the agent picks, e.g. 'Tier 2'.")]
    agents: Annotated[
        str | None, Field(description="An agent list of this tenant to search next.")
    ] = None
    stage: Annotated[str | None, Field(description="A stage of this pipeline to go on at.")] = None
    tenant: Annotated[str | None, Field(description="A tenant to transfer the chat to.")] = None

    @model_validator(mode="after")
    def _one_target(self) -> Escalation:
        targets = [t for t in (self.agents, self.stage, self.tenant) if t is not None]
        if len(targets) != 1:
            raise ValueError("give exactly one of agents, stage or tenant")
        return self


class AgentCards(BaseModel):
    """The card templates of the stage's messages; each has a built-in default."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    waiting: str = "agent-waiting.json"
    still_searching: str = "agent-still-searching.json"
    guest_connected: str = "agent-guest-connected.json"
    agent_connected: str = "agent-agent-connected.json"
    agent_left: str = "agent-agent-left.json"
    guest_left: str = "agent-guest-left.json"
    escalated: str = "agent-escalated.json"
    incoming: str = "agent-incoming.json"
    taken: str = "agent-taken.json"


class ConnectAgentStage(StageBase):
    """Connect the guest to one of the tenant's agents (Chime's "Connect To Agent With
    Escalation")."""

    waits = True
    uses_agents = True

    type: Literal["connect_agent"]
    agents: Annotated[
        str,
        Field(description="The agent list to offer the chat to (blank: the tenant's agents)."),
    ] = ALL
    routing: Annotated[
        Literal["broadcast", "round_robin_hunt"],
        Field(
            description="broadcast: every eligible agent is offered the chat, the first accept"
            " wins; round_robin_hunt: one agent at a time, the next after accept_timeout."
        ),
    ] = "broadcast"
    accept_timeout: Annotated[
        int,
        Field(
            ge=5,
            le=3600,
            description="Seconds an offer waits for an accept: a hunt then asks the next agent;"
            " a broadcast offers the chat to agents who became free since.",
        ),
    ] = 60
    max_wait: Annotated[
        int,
        Field(ge=0, description="Seconds the guest waits at most (0: no limit), then on_timeout."),
    ] = 600
    still_searching_every: Annotated[
        int,
        Field(ge=0, description="Seconds between 'still looking' messages (0: none)."),
    ] = 120
    next: Annotated[
        str | None,
        Field(description="The stage after the agent ends the chat; blank ends the chat."),
    ] = None
    on_timeout: Annotated[
        str | None,
        Field(description="The stage when nobody accepted within max_wait; blank ends the chat."),
    ] = None
    on_drop: Annotated[
        str | None,
        Field(description="The stage when the guest ends the chat while waiting; blank ends it."),
    ] = None
    on_closed: Annotated[
        str | None,
        Field(
            description="The stage when no agent of the list is available at all; blank ends"
            " the chat."
        ),
    ] = None
    escalation: Annotated[
        list[Escalation],
        Field(description="Where agents can escalate the chat to, in the order they see."),
    ] = []
    transfer_template: Annotated[
        str, Field(description="The card sent when an agent transfers the chat to a tenant.")
    ] = "transfer.json"
    closed_text: Annotated[
        Localized | None,
        Field(
            description="What the guest is told when no agent is available at all (default:"
            " Crossdesk's own words, in the guest's language)."
        ),
    ] = None
    timeout_text: Annotated[
        Localized | None,
        Field(
            description="What the guest is told when nobody accepted within max_wait (default:"
            " Crossdesk's own words, in the guest's language)."
        ),
    ] = None
    cards: Annotated[
        AgentCards, Field(description="Card templates replacing the built-in ones.")
    ] = AgentCards()

    # the guest's side

    def enter(self, context: StageContext) -> Outcome:
        metadata = context.session.metadata
        for key in [k for k in metadata if k.startswith(("Session.Agent.", "Session.Status.Is"))]:
            del metadata[key]
        metadata.update(
            {
                "Session.Agent.State": SEARCHING,
                "Session.Agent.List": self.agents or ALL_NAME,
                "Session.Agent.Routing": self.routing,
                "Session.QueuedUtc": iso(context.now),
            }
        )
        keep = _search(self.agents, request=1)
        # The first offers go out at once, in a turn that sees the agents as stored now.
        return Outcome([], Wait(keep), timers=[After("offer", 0), *self._search_timers()])

    def on_input(self, context: StageContext, guest: GuestInput) -> Outcome:
        kept = dict(context.kept)
        if kept.get("state") == CONNECTED:
            agent = str(kept["agent"])
            if not guest.typed:
                text = context.texts.text("agent.type_it", agent=_agent_name(context))
                return Outcome([Reply(text=text)], Wait(kept))
            # What the guest typed shows to the agent exactly as typed.
            line = (
                f"{escape_markdown(_guest_name(context))}{_chat_tag(context, agent)}:"
                f" {escape_markdown(guest.typed)}"
            )
            return Outcome([Reply(text=line, agent=agent)], Wait(kept))
        if kept.get("acked"):
            return Outcome([], Wait(kept))
        kept["acked"] = True
        return Outcome([Reply(text=context.texts.text("agent.kept"))], Wait(kept))

    def on_timer(self, context: StageContext, name: str, data: Mapping[str, Any]) -> Outcome:
        kept = dict(context.kept)
        if kept.get("state") != SEARCHING:
            return Outcome([], Wait(kept))  # connected since: the search's timers are done
        match name:
            case "offer":
                return self._offer(context, kept)
            case "accept":
                if data.get("request") != kept.get("request"):
                    return Outcome([], Wait(kept))
                if self.routing == "round_robin_hunt" and data.get("agent") != kept.get("hunt"):
                    return Outcome([], Wait(kept))
                return self._offer(context, kept, missed=True)
            case "searching":
                waited = _waited(context)
                replies = [
                    Reply(
                        card=context.card(
                            self.cards.still_searching,
                            self._data(
                                context,
                                {
                                    "Search.Minutes": max(1, round(waited / 60)),
                                },
                            ),
                        )
                    )
                ]
                return Outcome(replies, Wait(kept), timers=self._search_timers(max_wait=False))
            case "max_wait":
                return self._timed_out(context, kept)
        return Outcome([], Wait(kept))

    def agents_needed(self, kept: Mapping[str, Any]) -> Collection[str] | None:
        # Connected, a turn is about the agent in the chat (and whoever acts): not the list.
        if kept.get("state") == CONNECTED:
            return {str(kept["agent"])}
        return None

    def on_guest_leaving(self, context: StageContext) -> Outcome:
        kept = dict(context.kept)
        metadata = context.session.metadata
        if kept.get("state") == CONNECTED:
            agent = str(kept["agent"])
            metadata["Session.DroppedWhileConnected"] = True
            metadata["Session.Agent.State"] = "ended"
            self._connected_for(context)
            card = context.card(self.cards.guest_left, self._data(context))
            return Outcome(
                [Reply(card=card, agent=agent)],
                Wait(),
                agents=[AgentChange(agent, Change.RELEASE)],
            )
        metadata["Session.Agent.State"] = "dropped"
        metadata["Session.WaitSeconds"] = round(_waited(context))
        replies = self._close_offers(context, kept, "The guest left before anyone joined.")
        return Outcome(replies, Goto(self.on_drop) if self.on_drop else Wait())

    def prompt(self, context: StageContext) -> list[Reply]:
        if context.kept.get("state") == CONNECTED:
            text = context.texts.text("agent.connected", agent=_agent_name(context))
            return [Reply(text=text)]
        return [Reply(card=context.card(self.cards.waiting, self._data(context)))]

    def help(self, context: StageContext) -> StageHelp:
        if context.kept.get("state") == CONNECTED:
            return StageHelp(context.texts.text("agent.connected", agent=_agent_name(context)))
        return StageHelp(context.texts.text("agent.searching"))

    # the agents' side

    def on_agent(self, context: StageContext, action: AgentInput) -> Outcome:
        kept = dict(context.kept)
        roster = context.roster or Roster([])
        me = roster.get(action.agent_id)
        if me is None:
            # Not an agent of this tenant: nothing changes, whatever the card or chat says.
            return _tell(
                action.agent_id,
                kept,
                "That chat belongs to a team you don't answer for: nothing was changed.",
                release=True,
            )
        connected = kept.get("state") == CONNECTED
        mine = connected and kept.get("agent") == me.id
        match action.verb:
            case AgentVerb.ACCEPT:
                return self._accept(context, kept, me, action)
            case AgentVerb.DECLINE:
                return self._decline(context, kept, me, action)
            case _ if not mine:
                # Only the agent who holds the chat acts on it.
                return _tell(me.id, kept, "You're not in that chat any more.", release=True)
            case AgentVerb.MESSAGE:
                author = f"agent:{me.id}"
                line = f"{escape_markdown(me.agent.name)}: {escape_markdown(action.text)}"
                return Outcome([Reply(text=line, author=author)], Wait(kept))
            case AgentVerb.NOTE:
                return Outcome(
                    [
                        Reply(text=action.text, author=f"agent:{me.id}", internal=True),
                        Reply(text="Note kept; the guest doesn't see it.", agent=me.id),
                    ],
                    Wait(kept),
                )
            case AgentVerb.END:
                return self._end(context, me, action)
            case AgentVerb.ESCALATE:
                return self._escalate(context, kept, me, action)
            case AgentVerb.TRANSFER:
                return self._transfer(context, kept, me, action.text)
        return _tell(me.id, kept, "I didn't understand that.")

    def _accept(
        self, context: StageContext, kept: dict[str, Any], me: AgentState, action: AgentInput
    ) -> Outcome:
        metadata = context.session.metadata
        if kept.get("state") == CONNECTED:
            if kept.get("agent") == me.id:
                return _tell(me.id, kept, "You're already in this chat.")
            taker = metadata.get("Session.Agent.Name", "another agent")
            return _tell(me.id, kept, f"Already taken by {taker}: nothing changed.", release=True)
        if action.request != kept.get("request"):
            return _tell(me.id, kept, "That offer has expired: nothing changed.", release=True)
        if self._list(context, kept).get(me.id) is None:
            return _tell(me.id, kept, "That chat isn't offered to you.", release=True)
        waited = round(_waited(context))
        metadata.update(
            {
                "Session.Agent.Id": me.id,
                "Session.Agent.Name": me.agent.name,
                "Session.Agent.State": CONNECTED,
                "Session.ConnectedUtc": iso(context.now),
                "Session.WaitSeconds": waited,
            }
        )
        if me.agent.aad_object_id:
            metadata["Session.Agent.AadObjectId"] = me.agent.aad_object_id
        taken = f"Taken by {me.agent.name} · waited {waited // 60}:{waited % 60:02d}"
        replies = [
            Reply(card=context.card(self.cards.guest_connected, self._data(context, me=me))),
            Reply(
                card=context.card(
                    self.cards.agent_connected,
                    self._data(
                        context,
                        me=me,
                        extra={
                            "Chat.Lines": _lines(action.history),
                            "Chat.Number": _number(me, context.session.conversation_id),
                            "Offer.Chat": context.session.conversation_id,
                        },
                    ),
                ),
                agent=me.id,
            ),
            *self._close_offers(
                context, kept, taken, besides=me.id, mine=("You accepted this chat.", me.id)
            ),
        ]
        kept.update(state=CONNECTED, agent=me.id, hunt=None)
        return Outcome(replies, Wait(kept), agents=[AgentChange(me.id, Change.HOLD)])

    def _decline(
        self, context: StageContext, kept: dict[str, Any], me: AgentState, action: AgentInput
    ) -> Outcome:
        open_offer = kept.get("state") == SEARCHING and action.request == kept.get("request")
        if action.value.get("full"):
            return self._passed_on(context, kept, me) if open_offer else Outcome([], Wait(kept))
        if not open_offer:
            return _tell(me.id, kept, "That offer is no longer open.", release=True)
        kept["declined"] = sorted({*kept.get("declined", ()), me.id})
        replies = [
            self._offer_update(context, kept, me.id, "You declined this chat."),
        ]
        if self.routing == "round_robin_hunt" and kept.get("hunt") == me.id:
            outcome = self._offer(context, kept)
            return Outcome(
                [*replies, *outcome.replies],
                outcome.next,
                outcome.timers,
                agents=[AgentChange(me.id, Change.RELEASE), *outcome.agents],
            )
        return Outcome(replies, Wait(kept), agents=[AgentChange(me.id, Change.RELEASE)])

    def _passed_on(self, context: StageContext, kept: dict[str, Any], me: AgentState) -> Outcome:
        """An agent who holds as many chats as they take accepted this one: a hunt waiting on
        them offers it to the next agent at once (they stay in its cycle); a broadcast keeps
        offering it to them, for when they are free again."""
        if self.routing != "round_robin_hunt" or kept.get("hunt") != me.id:
            return Outcome([], Wait(kept))
        passed = self._offer_update(context, kept, me.id, "Offered to someone else: you were full.")
        outcome = self._offer(context, kept)
        return Outcome(
            [passed, *outcome.replies], outcome.next, outcome.timers, agents=outcome.agents
        )

    def _end(self, context: StageContext, me: AgentState, action: AgentInput) -> Outcome:
        metadata = context.session.metadata
        resolved = str(action.value.get("resolved", "yes")).casefold() in ("yes", "true", "1")
        notes = str(action.value.get("notes") or action.text or "").strip()
        metadata.update(
            {
                "Session.Status.IsResolved": resolved,
                "Session.Status.ResolutionNotes": notes,
                "Session.Status.ResolvedByAgentId": me.id,
                "Session.Status.ResolvedByAgentName": me.agent.name,
                "Session.Status.ResolvedByType": "Agent",
                "Session.Agent.State": "ended",
            }
        )
        self._connected_for(context)
        resolution = "resolved by agent" if resolved else "closed by agent, unresolved"
        replies = [
            Reply(card=context.card(self.cards.agent_left, self._data(context, me=me))),
            Reply(text=f"Closed the chat with {_guest_name(context)}.", agent=me.id),
        ]
        release = [AgentChange(me.id, Change.RELEASE)]
        if self.next is None:
            return Outcome(replies, Finish(resolution), agents=release)
        metadata["Session.Status.Resolution"] = resolution
        return Outcome(replies, Goto(self.next), agents=release)

    def _escalate(
        self, context: StageContext, kept: dict[str, Any], me: AgentState, action: AgentInput
    ) -> Outcome:
        chosen = _pick(self.escalation, action)
        if chosen is None:
            return Outcome([self._escalation_menu(context, me)], Wait(kept))
        metadata = context.session.metadata
        metadata["Session.Escalation.Count"] = int(metadata.get("Session.Escalation.Count", 0)) + 1
        metadata["Session.Escalation.To"] = chosen.title
        self._connected_for(context)
        release = [AgentChange(me.id, Change.RELEASE)]
        told = Reply(
            text=f"Escalated to {chosen.title}; you're no longer in the chat.", agent=me.id
        )
        escalated = Reply(card=context.card(self.cards.escalated, self._data(context)))
        if chosen.agents is not None:
            for key in [k for k in metadata if k.startswith("Session.Agent.")]:
                del metadata[key]
            metadata.update(
                {
                    "Session.Agent.State": SEARCHING,
                    "Session.Agent.List": chosen.agents or ALL_NAME,
                    "Session.Agent.Routing": self.routing,
                    "Session.QueuedUtc": iso(context.now),
                }
            )
            keep = {
                **_search(chosen.agents, request=int(kept.get("request", 1)) + 1),
                "shown": True,
                # The agent who escalated is not offered the chat again.
                "declined": [me.id],
            }
            return Outcome(
                [escalated, told],
                Wait(keep),
                timers=[After("offer", 0), *self._search_timers()],
                agents=release,
            )
        if chosen.stage is not None:
            metadata["Session.Agent.State"] = "escalated"
            return Outcome([escalated, told], Goto(chosen.stage), agents=release)
        assert chosen.tenant is not None
        return self._transfer(context, kept, me, chosen.tenant, escalated=True)

    def _transfer(
        self,
        context: StageContext,
        kept: dict[str, Any],
        me: AgentState,
        target: str,
        *,
        escalated: bool = False,
    ) -> Outcome:
        tenant_id = _tenant(context.tenant_names, target)
        if tenant_id is None or tenant_id == context.tenant_id:
            others = [
                f"{name} ({tid})"
                for tid, name in context.tenant_names.items()
                if tid != context.tenant_id
            ]
            return _tell(
                me.id,
                kept,
                f"Transfer to which team? Type 'transfer' and one of: {', '.join(others)}.",
            )
        metadata = context.session.metadata
        metadata["Session.TransferredBy.AgentId"] = me.id
        metadata["Session.TransferredBy.AgentName"] = me.agent.name
        metadata["Session.Agent.State"] = "transferred"
        self._connected_for(context)
        name = context.tenant_names[tenant_id]
        return Outcome(
            [
                Reply(
                    text=f"{'Escalated' if escalated else 'Transferred'} to {name}; you're no"
                    " longer in the chat.",
                    agent=me.id,
                )
            ],
            Transfer(
                tenant_id=tenant_id,
                template=self.transfer_template,
                # The transfer refused (the tenant is closed to this one): search again here.
                on_failure=self.key,
                failure_text=context.texts.text("agent.transfer_failed", tenant=name),
            ),
            agents=[AgentChange(me.id, Change.RELEASE)],
        )

    # searching

    def _offer(
        self, context: StageContext, kept: dict[str, Any], *, missed: bool = False
    ) -> Outcome:
        """Offer the chat to whom the routing asks now; the first time, show the guest the
        waiting card (or, with nobody available at all, close)."""
        roster = self._list(context, kept)
        conversation = context.session.conversation_id
        declined = set(kept.get("declined", ()))
        eligible = roster.eligible(conversation, besides=declined)
        replies: list[Reply] = []
        if not kept.get("shown"):
            if not eligible and not any(s.available and s.reachable for s in roster.agents):
                return self._closed(context)
            replies.append(Reply(card=context.card(self.cards.waiting, self._data(context))))
            kept["shown"] = True
        offered = list(kept.get("offered", ()))
        changes: list[AgentChange] = []
        if self.routing == "broadcast":
            chosen = [s for s in eligible if s.id not in offered]
        else:
            previous = kept.get("hunt")
            if previous is not None and missed:
                replies.append(
                    self._offer_update(context, kept, previous, "Missed: offered to someone else.")
                )
            others = [s for s in eligible if s.id != previous] or eligible
            chosen = sorted(others, key=lambda s: s.last_offered)[:1]
            kept["hunt"] = chosen[0].id if chosen else None
        for state in chosen:
            replies.append(self._incoming(context, kept, state))
            if state.id not in offered:
                offered.append(state.id)
            changes.append(AgentChange(state.id, Change.OFFERED))
        kept["offered"] = offered
        timer = After(
            "accept",
            self.accept_timeout,
            {"request": kept.get("request"), "agent": kept.get("hunt")},
        )
        return Outcome(replies, Wait(kept), timers=[timer], agents=changes)

    def _incoming(self, context: StageContext, kept: Mapping[str, Any], state: AgentState) -> Reply:
        data = self._data(
            context,
            me=state,
            extra={
                "Offer.Chat": context.session.conversation_id,
                "Offer.Request": kept.get("request"),
                "Offer.List": kept.get("list")
                or context.tenant_names.get(context.tenant_id, context.tenant_id),
            },
        )
        return Reply(
            card=context.card(self.cards.incoming, data),
            agent=state.id,
            label=_label(context, kept, state.id),
        )

    def _offer_update(
        self, context: StageContext, kept: Mapping[str, Any], agent_id: str, status: str
    ) -> Reply:
        card = context.card(self.cards.taken, self._data(context, extra={"Offer.Status": status}))
        return Reply(card=card, agent=agent_id, replaces=_label(context, kept, agent_id))

    def _close_offers(
        self,
        context: StageContext,
        kept: Mapping[str, Any],
        status: str,
        *,
        besides: str | None = None,
        mine: tuple[str, str] | None = None,
    ) -> list[Reply]:
        """Update every open offer card of the round in place."""
        declined = set(kept.get("declined", ()))
        replies = []
        for agent_id in kept.get("offered", ()):
            if agent_id in declined:
                continue
            if mine is not None and agent_id == mine[1]:
                replies.append(self._offer_update(context, kept, agent_id, mine[0]))
            elif agent_id != besides:
                replies.append(self._offer_update(context, kept, agent_id, status))
        return replies

    def _closed(self, context: StageContext) -> Outcome:
        context.session.metadata["Session.Agent.State"] = "closed"
        replies = [Reply(text=self._text(context, self.closed_text, "agent.closed"))]
        if self.on_closed is None:
            return Outcome(replies, Finish("no agent available"))
        return Outcome(replies, Goto(self.on_closed))

    def _timed_out(self, context: StageContext, kept: dict[str, Any]) -> Outcome:
        metadata = context.session.metadata
        metadata["Session.Agent.State"] = "timed_out"
        metadata["Session.WaitSeconds"] = round(_waited(context))
        replies = [
            *self._close_offers(context, kept, "The guest stopped waiting."),
            Reply(text=self._text(context, self.timeout_text, "agent.timed_out")),
        ]
        if self.on_timeout is None:
            return Outcome(replies, Finish("no agent in time"))
        return Outcome(replies, Goto(self.on_timeout))

    @staticmethod
    def _text(context: StageContext, configured: Localized | None, default: str) -> str:
        if configured is not None:
            return context.render(configured)
        tenant = str(context.session.metadata.get("Session.TenantName", context.tenant_id))
        return context.texts.text(default, tenant=escape_markdown(tenant))

    def _search_timers(self, *, max_wait: bool = True) -> list[After]:
        timers = []
        if self.still_searching_every:
            timers.append(After("searching", self.still_searching_every))
        if max_wait and self.max_wait:
            timers.append(After("max_wait", self.max_wait))
        return timers

    def _list(self, context: StageContext, kept: Mapping[str, Any]) -> Roster:
        """The agents of the list the chat is offered to now."""
        return (context.roster or Roster([])).on(str(kept.get("list", self.agents)))

    def _escalation_menu(self, context: StageContext, me: AgentState) -> Reply:
        if not self.escalation:
            return Reply(text="There's nowhere to escalate this chat to.", agent=me.id)
        card = {
            "type": "AdaptiveCard",
            "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
            "version": "1.5",
            "body": [{"type": "TextBlock", "text": "Escalate the chat to:", "wrap": True}],
            "actions": [
                {
                    "type": "Action.Submit",
                    "title": option.title,
                    "data": {
                        "crossdesk": {
                            "agent": "escalate",
                            "chat": context.session.conversation_id,
                            "option": index,
                        }
                    },
                }
                for index, option in enumerate(self.escalation, 1)
            ],
        }
        return Reply(card=card, agent=me.id)

    def _data(
        self,
        context: StageContext,
        extra: Mapping[str, Any] | None = None,
        *,
        me: AgentState | None = None,
    ) -> dict[str, Any]:
        data = dict(context.session.metadata)
        data.setdefault("Guest.Name", "A guest")
        if me is not None:
            data["Agent.Name"] = me.agent.name
            data["Agent.GivenName"] = me.agent.name.split()[0]
        else:
            name = str(data.get("Session.Agent.Name") or "Your agent")
            data.setdefault("Agent.Name", name)
            data.setdefault("Agent.GivenName", name.split()[0])
        data.update(extra or {})
        return data

    def _connected_for(self, context: StageContext) -> None:
        metadata = context.session.metadata
        connected = metadata.get("Session.ConnectedUtc")
        if isinstance(connected, str):
            since = datetime.fromisoformat(connected.replace("Z", "+00:00"))
            metadata["Session.ConnectedSeconds"] = round((context.now - since).total_seconds())

    # configuration

    def transitions(self) -> Iterator[tuple[str, str | None]]:
        yield "next", self.next
        yield "on_timeout", self.on_timeout
        yield "on_drop", self.on_drop
        yield "on_closed", self.on_closed
        for index, option in enumerate(self.escalation):
            if option.stage is not None:
                yield f"escalation[{index}].stage", option.stage

    def templates(self) -> Iterator[tuple[str, str]]:
        for name, file in self.cards.model_dump().items():
            yield f"cards.{name}", file
        yield "transfer_template", self.transfer_template

    def texts(self) -> Iterator[tuple[str, str]]:
        yield from variants("closed_text", self.closed_text)
        yield from variants("timeout_text", self.timeout_text)

    def problems(self, check: CheckContext) -> Iterator[tuple[str, str]]:
        lists = check.agent_lists
        named = [("agents", self.agents)] + [
            (f"escalation[{i}].agents", option.agents)
            for i, option in enumerate(self.escalation)
            if option.agents is not None
        ]
        for field_name, list_name in named:
            if list_name and list_name not in lists:
                known = ", ".join(sorted(n for n in lists if n)) or "none"
                yield field_name, f"no agent list '{list_name}' in this tenant (lists: {known})"
        for index, option in enumerate(self.escalation):
            if option.tenant is None:
                continue
            if option.tenant not in check.tenant_ids:
                yield (
                    f"escalation[{index}].tenant",
                    f"escalation to '{option.tenant}', which is not a tenant",
                )
            elif refusal := check.refusal(option.tenant):
                yield f"escalation[{index}].tenant", f"escalation to '{option.tenant}': {refusal}"

    def stores(self) -> Iterator[Stored]:
        for key in (*METADATA, *CARD_DATA):
            yield Stored("type", key, None, None)

    def warnings(self, check: CheckContext) -> Iterator[tuple[str, str]]:
        if not check.agent_lists.get(self.agents):
            yield (
                "agents",
                "the list names no agents, so every chat goes to on_closed",
            )


#: How `Session.Agent.List` names the tenant's own list of agents.
ALL_NAME = "agents"


def _search(list_name: str, *, request: int) -> dict[str, Any]:
    return {
        "state": SEARCHING,
        "list": list_name,
        "request": request,
        "offered": [],
        "declined": [],
        "hunt": None,
    }


def _tell(agent_id: str, kept: Mapping[str, Any], text: str, *, release: bool = False) -> Outcome:
    return Outcome(
        [Reply(text=text, agent=agent_id)],
        Wait(kept),
        agents=[AgentChange(agent_id, Change.RELEASE)] if release else [],
    )


def _label(context: StageContext, kept: Mapping[str, Any], agent_id: str) -> str:
    return f"offer/{context.session.id}/{kept.get('request')}/{agent_id}"


def _waited(context: StageContext) -> float:
    queued = context.session.metadata.get("Session.QueuedUtc")
    if not isinstance(queued, str):
        return 0.0
    since = datetime.fromisoformat(queued.replace("Z", "+00:00"))
    return max(0.0, (context.now - since).total_seconds())


def _agent_name(context: StageContext) -> str:
    return escape_markdown(str(context.session.metadata.get("Session.Agent.Name") or "Your agent"))


def _guest_name(context: StageContext) -> str:
    return str(context.session.metadata.get("Guest.Name") or "The guest")


def _number(state: AgentState, conversation_id: str) -> int:
    """The chat's number among those the agent holds (as 'chats' lists them)."""
    chats = list(state.chats)
    if conversation_id not in chats:
        chats.append(conversation_id)
    return chats.index(conversation_id) + 1


def _chat_tag(context: StageContext, agent_id: str) -> str:
    """ " (chat 2)" when the agent holds several chats, so they know where a line belongs."""
    state = (context.roster or Roster([])).get(agent_id)
    if state is None or len(state.chats) < 2:
        return ""
    return f" (chat {_number(state, context.session.conversation_id)})"


def _lines(history: Sequence[ChatLine]) -> list[dict[str, str]]:
    """The last lines of each tenant the chat passed through, oldest first."""
    kept: list[ChatLine] = []
    by_tenant: dict[str, int] = {}
    for line in reversed(history):
        if by_tenant.get(line.tenant, 0) < HISTORY_LINES:
            by_tenant[line.tenant] = by_tenant.get(line.tenant, 0) + 1
            kept.append(line)
    return [{"Where": x.tenant, "Who": x.author, "Text": x.text} for x in reversed(kept)]


def _pick(options: Sequence[Escalation], action: AgentInput) -> Escalation | None:
    """The escalation an agent chose: by the button's number, or typed as number or title."""
    chosen = action.value.get("option")
    typed = action.text.strip()
    if chosen is None and typed.isdigit():
        chosen = int(typed)
    if isinstance(chosen, int) and 1 <= chosen <= len(options):
        return options[chosen - 1]
    if typed:
        wanted = typed.casefold()
        return next((o for o in options if o.title.casefold() == wanted), None)
    return None


def _tenant(names: Mapping[str, str], typed: str) -> str | None:
    """A tenant by id or name, in any case."""
    wanted = typed.strip().casefold()
    for tenant_id, name in names.items():
        if wanted in (tenant_id.casefold(), name.casefold()):
            return tenant_id
    return None
