"""Delivering a chat's outbox: every message a turn committed, in order, once.

A turn commits the messages it means to send with everything else it changed (the outbox),
then delivers them while it still holds the chat's lease, recording each delivery before the
next send. What the channel refuses for now (throttling, a busy or failing service) is retried
with the channel's own pacing, inside the turn while the wait is short, else later by
`Sweeper`, which also delivers what a process that died after its commit left behind. No SDK
here: the Teams edge provides the `Sender`.

What stays at least once: a message whose delivery the channel accepted but whose answer never
reached Crossdesk (the process died, or the connection broke, in between) is sent again.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections import OrderedDict, deque
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Protocol

from errors import StorageError
from integrations.events import is_webhook
from pipeline.stages.base import Reply
from storage.base import ChatTurn, DeadLetter, Outgoing, Store, TurnWrites

log = logging.getLogger(__name__)

ADAPTIVE_CARD = "application/vnd.microsoft.card.adaptive"


@dataclass(frozen=True, slots=True)
class Sent:
    """The channel took the message (`activity_id`: the id it gave it); `conversation_id` when
    it went to a chat the channel created for it (the recipient's old one was gone, or there
    was none yet)."""

    activity_id: str | None = None
    conversation_id: str | None = None


@dataclass(frozen=True, slots=True)
class RetryLater:
    """The channel could not take the message now; `after` is how long it asked to wait."""

    reason: str
    after: float | None = None


@dataclass(frozen=True, slots=True)
class Undeliverable:
    """The channel will never take this message (the bot was removed, the chat is gone)."""

    reason: str


SendResult = Sent | RetryLater | Undeliverable


class Sender(Protocol):
    """Posts one outbox entry to its conversation, or with `replacing` (the id of a message the
    bot sent there) updates that message in place."""

    async def send(self, entry: Outgoing, replacing: str | None = None) -> SendResult: ...


def outgoing(reference: Mapping[str, Any], reply: Reply, reply_to: str | None) -> Outgoing:
    """The outbox entry for `reply` in the chat `reference` names: a Bot Framework message
    activity as the SDK's `MessageFactory` and `TurnContext` would build it."""
    activity: dict[str, Any] = {
        "type": "typing" if reply.typing else "message",
        "from": reference.get("bot"),
        "recipient": reference.get("user"),
        "conversation": reference.get("conversation"),
        "channelId": reference.get("channelId"),
        "serviceUrl": reference.get("serviceUrl"),
        "inputHint": None if reply.typing else "acceptingInput",
    }
    if reference.get("locale"):
        activity["locale"] = reference["locale"]
    if reply.text:
        activity["text"] = reply.text
    if reply.card is not None:
        activity["attachmentLayout"] = "list"
        activity["attachments"] = [{"contentType": ADAPTIVE_CARD, "content": reply.card}]
    if reply_to:
        activity["replyToId"] = reply_to
    return Outgoing({k: v for k, v in activity.items() if v is not None}, reply_to)


#: Teams' limits for a bot's messages to one conversation: (seconds, most messages in them).
TEAMS_LIMITS = ((1.0, 7), (2.0, 8), (30.0, 60))


class Pacer:
    """Keeps a bot's messages to each conversation under `windows` (default Teams' limits:
    at most 7 in 1 s, 8 in 2 s and 60 in 30 s); no windows, no pacing. Kept per process: the
    chat's lease makes one process deliver a chat at a time (an agent's chat gets messages from
    several guests' chats: each delivery takes its slot before it waits for it)."""

    def __init__(
        self,
        windows: Sequence[tuple[float, int]] = TEAMS_LIMITS,
        conversations: int = 4096,
    ) -> None:
        self.windows = tuple(windows)
        self._capacity = conversations
        self._sent: OrderedDict[str, deque[float]] = OrderedDict()
        self._longest = max((most for _, most in self.windows), default=0)

    def delay(self, conversation_id: str, now: float) -> float:
        """How long to wait before the next message to the conversation."""
        sent = self._sent.get(conversation_id)
        if not sent:
            return 0.0
        wait = 0.0
        for seconds, most in self.windows:
            recent = [at for at in sent if at > now - seconds]
            if len(recent) >= most:
                wait = max(wait, recent[-most] + seconds - now)
        return wait

    def record(self, conversation_id: str, at: float) -> None:
        if not self._longest:
            return
        sent = self._sent.setdefault(conversation_id, deque(maxlen=self._longest))
        sent.append(at)
        self._sent.move_to_end(conversation_id)
        while len(self._sent) > self._capacity:
            self._sent.popitem(last=False)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How long to wait after a failed send, and when to wait inside the turn."""

    #: Waits up to this long happen inside the turn; longer ones leave the rest to the sweeper.
    inline_wait: float = 2.0
    first_backoff: float = 0.5
    max_backoff: float = 300.0
    #: Attempts after which a message is given up on (about a day with the back-off capped).
    max_attempts: int = 300

    def backoff(self, attempts: int) -> float:
        """Exponential, capped, with jitter (so retries of many chats spread out)."""
        growth: float = 2.0 ** max(0, attempts - 1)
        return min(self.max_backoff, self.first_backoff * growth) * random.uniform(0.5, 1.0)


#: How webhook events are retried: never waited for inside a turn, backing off to 10 minutes,
#: given up (as a dead letter) after 10 attempts, about half an hour after the first.
WEBHOOK_POLICY = RetryPolicy(inline_wait=0.0, first_backoff=2.0, max_backoff=600.0, max_attempts=10)


class Delivery:
    """Delivers chats' outboxes through a `Sender`, in order, each message once.

    Webhook events (`WEBHOOK_ACTIVITY`) go through `webhooks` on a lane of their own: in
    order among themselves, but a receiver that is down never holds up the guest's messages.
    What a webhook lane gives up on goes to `dead_letter` (conversation id, entry, reason)."""

    def __init__(
        self,
        sender: Sender,
        *,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
        policy: RetryPolicy | None = None,
        pacer: Pacer | None = None,
        observe: Callable[[Outgoing, SendResult], Awaitable[None]] | None = None,
        webhooks: Sender | None = None,
        dead_letter: Callable[[str, Outgoing, str], Awaitable[None]] | None = None,
        webhook_policy: RetryPolicy = WEBHOOK_POLICY,
    ) -> None:
        self.sender = sender
        self.clock = clock
        self.sleep = sleep
        self.policy = policy or RetryPolicy()
        self.pacer = pacer or Pacer()
        #: Told what became of each message for an agent (whether the agent can be reached).
        self.observe = observe
        self.webhooks = webhooks
        self.dead_letter = dead_letter
        self.webhook_policy = webhook_policy

    async def deliver(self, chat: ChatTurn) -> None:
        """Deliver the outbox of the chat `chat` holds, recording each message as it goes;
        what cannot go within `RetryPolicy.inline_wait` is stored for later (with everything
        after it on its lane)."""
        entries = list(chat.outbox)
        #: Lanes that wait (webhook events, the chat's messages), until when.
        waiting: dict[bool, float] = {}
        postponed: list[Outgoing] = []
        index = 0
        while index < len(entries):
            entry = entries[index]
            hook = is_webhook(entry)
            policy = self.webhook_policy if hook else self.policy
            now = self.clock()
            if hook in waiting:
                postponed.append(replace(entry, due_at=max(entry.due_at, waiting[hook])))
                index += 1
                continue
            paced = 0.0 if hook else self.pacer.delay(entry.conversation_id, now)
            wait = max(entry.due_at - now, paced)
            if wait > policy.inline_wait:
                waiting[hook] = now + wait
                postponed.append(replace(entry, due_at=now + wait))
                index += 1
                continue
            if not hook:
                # The send's slot is taken before waiting for it: another chat's delivery to
                # the same conversation (an agent's, from several guests) then waits for the
                # next one.
                self.pacer.record(entry.conversation_id, now + wait)
            if wait > 0:
                await self.sleep(wait)
            result = await self._send(chat, entry, hook)
            last = index == len(entries) - 1 and not postponed
            match result:
                case Sent(activity_id=activity_id):
                    replacing = chat.sent.get(entry.replaces) if entry.replaces else None
                    label, known = entry.label or entry.replaces, replacing or activity_id
                    sent = {label: known} if label and known else {}
                    await chat.settle(delivered=[entry.seq], sent=sent, release=last)
                    index += 1
                case Undeliverable(reason=reason):
                    await self._give_up(chat, entry, hook, reason, last)
                    index += 1
                case RetryLater(reason=reason, after=after):
                    attempts = entry.attempts + 1
                    if attempts >= policy.max_attempts:
                        reason = f"{reason}, {attempts} attempts"
                        await self._give_up(chat, entry, hook, reason, last)
                        index += 1
                        continue
                    delay = after if after is not None else policy.backoff(attempts)
                    log.info(
                        "chat %s: %s %d not delivered (%s); again in %.1f s",
                        chat.conversation_id,
                        "webhook event" if hook else "message",
                        entry.seq,
                        reason,
                        delay,
                    )
                    entries[index] = replace(entry, attempts=attempts, due_at=self.clock() + delay)
        if postponed:
            await chat.settle(postponed=postponed, release=True)
        elif chat.holding:
            await chat.settle(release=True)

    async def _send(self, chat: ChatTurn, entry: Outgoing, hook: bool) -> SendResult:
        if hook:
            if self.webhooks is None:
                return Undeliverable("webhooks are not configured")
            return await self.webhooks.send(entry)
        # An update of a message never delivered (given up on) is sent as a new one.
        replacing = chat.sent.get(entry.replaces) if entry.replaces else None
        result = await self.sender.send(entry, replacing)
        if entry.agent is not None and self.observe is not None:
            await self.observe(entry, result)
        return result

    async def _give_up(
        self, chat: ChatTurn, entry: Outgoing, hook: bool, reason: str, last: bool
    ) -> None:
        """Drop an entry that will not go: a webhook event is kept as a dead letter first."""
        if hook and self.dead_letter is not None:
            log.error(
                "chat %s: webhook event %d given up, kept as a dead letter: %s",
                chat.conversation_id,
                entry.seq,
                reason,
            )
            await self.dead_letter(chat.conversation_id, entry, reason)
        else:
            log.warning("chat %s: message %d given up: %s", chat.conversation_id, entry.seq, reason)
        await chat.settle(delivered=[entry.seq], release=last)


async def requeue(store: Store, letter: DeadLetter) -> None:
    """Put a dead letter back at the end of its chat's outbox (its attempts counted afresh) and
    forget it: the next delivery of the chat (a turn, the sweeper) sends it. At least once: a
    receiver drops an event id it has seen."""
    async with store.chat_turn(letter.conversation_id, None) as chat:
        if chat is None:
            return
        entry = replace(letter.entry, seq=0, attempts=0, due_at=0.0)
        await chat.commit(TurnWrites(outbox=[entry]))
        await store.drop_dead_letter(letter)
        if chat.holding:
            await chat.settle(release=True)


class Sweeper:
    """Delivers what turns left in outboxes (messages to retry later, and those of a process
    that died after its commit) and runs the turns of timers come due (`timers`). Every
    instance runs one; the chat's lease and the timers' event ids keep them apart."""

    def __init__(
        self,
        store: Store,
        delivery: Delivery,
        *,
        interval: float = 1.0,
        batch: int = 100,
        timers: Callable[[int], Awaitable[int]] | None = None,
        idle: Callable[[], Awaitable[int]] | None = None,
        idle_every: float = 60.0,
    ) -> None:
        self.store = store
        self.delivery = delivery
        self.interval = interval
        self.batch = batch
        self.timers = timers
        #: Closes chats gone idle, every `idle_every` seconds (a look at the active chats).
        self.idle = idle
        self.idle_every = idle_every
        self._next_idle = 0.0

    async def sweep(self) -> int:
        """Fire due timers, close idle chats (every `idle_every` seconds), then deliver the
        chats due now that no turn holds; how many chats it delivered."""
        if self.timers is not None:
            await self.timers(self.batch)
        now = self.delivery.clock()
        if self.idle is not None and now >= self._next_idle:
            self._next_idle = now + self.idle_every
            await self.idle()
        delivered = 0
        for conversation_id in await self.store.due_chats(self.delivery.clock(), self.batch):
            async with self.store.chat_turn(conversation_id, None, wait=False) as chat:
                if chat is None or not chat.outbox:
                    continue
                await self.delivery.deliver(chat)
                delivered += 1
        return delivered

    async def run(self) -> None:
        """Sweep every `interval` seconds until cancelled."""
        while True:
            try:
                await self.sweep()
            except StorageError as error:
                log.error("delivering left-over messages failed: %s", error)
            await asyncio.sleep(self.interval)
