"""The Azure Cosmos DB backend: many stateless Crossdesk instances over one account.

`CROSSDESK_STORAGE=cosmos` with `COSMOS_ENDPOINT`, `COSMOS_KEY` and `COSMOS_DATABASE`. The
database and its container are created on start-up if missing. Layout, partitioning, indexing
and costs: `storage/COSMOS.md`; document shapes: `storage/cosmos_documents.py`.

A turn, a transfer turn too, is:

1. take the chat's lease: create the `lease` document (or replace an expired one);
2. read the chat: one single-partition query for the head, the active session, undelivered
   messages and the claim of the turn's event (a claimed event ends the turn here);
3. commit: one transactional batch in the chat's partition with everything the turn changed
   (sessions, their log, the head, transfer records), its outbox entries and the claim of its
   event, every write guarded by an ETag; the lease is extended while there is something to
   deliver, else deleted;
4. one write per delivered message: deleting its outbox entry (the last one with the lease).

A turn that does not commit deletes its lease and leaves nothing else behind.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import heapq
import itertools
import logging
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, contextmanager, suppress
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, cast

from azure.core import MatchConditions
from azure.core.exceptions import AzureError
from azure.cosmos import PartitionKey
from azure.cosmos.aio import ContainerProxy, CosmosClient
from azure.cosmos.exceptions import (
    CosmosAccessConditionFailedError,
    CosmosBatchOperationError,
    CosmosHttpResponseError,
    CosmosResourceExistsError,
    CosmosResourceNotFoundError,
)

from errors import ConflictError, StorageError
from pipeline.session import Session
from storage.base import (
    LEASE_SECONDS,
    AgentRecord,
    AuditEntry,
    ChatHistory,
    DeadLetter,
    Outgoing,
    Timer,
    TurnWrites,
)
from storage.cosmos_documents import (
    AGENT,
    AUDIT_QUERY,
    CHATS,
    CHATS_INDEXING,
    CHATS_PARTITION,
    DEAD_LETTERS_QUERY,
    DUE_QUERY,
    HEAD,
    HISTORY_QUERY,
    LEASE,
    LIVE_QUERY,
    TIMERS_QUERY,
    TURN_QUERY,
    agent_document,
    agent_partition,
    audit_document,
    audit_of_document,
    claim_document,
    claim_id,
    dead_letter_document,
    head_document,
    lease_document,
    log_document,
    out_document,
    out_id,
    out_of,
    refused_document,
    search_query,
    sent_document,
    session_doc_id,
    session_document,
    timer_document,
    timer_id,
    timer_of,
    transfer_document,
)
from storage.cosmos_reports import CosmosReports
from storage.leases import LeaseWaits, TurnStart, leased_turn
from storage.records import (
    agent_of,
    dead_letter_of,
    flow_of,
    session_of,
    transcript_of,
    transfer_of,
)

if TYPE_CHECKING:
    from datetime import datetime

    from storage.base import SessionSearch

log = logging.getLogger(__name__)
#: The SDK logs every request at INFO; it goes to this logger, quiet unless configured.
_HTTP_LOG = logging.getLogger("storage.cosmos.http")

#: A transactional batch holds at most 100 operations (a turn writes a handful).
_MAX_BATCH = 100

Document = dict[str, Any]


# errors a person can act on


def _first_line(error: BaseException) -> str:
    text = str(getattr(error, "message", None) or error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def _failure(endpoint: str, doing: str, error: CosmosHttpResponseError) -> StorageError:
    status = error.status_code
    if status in (401, 403):
        return StorageError(
            f"Cosmos DB at {endpoint} refused the account key ({status}) while {doing};"
            " check COSMOS_KEY"
        )
    if status == 429:
        return StorageError(
            f"Cosmos DB at {endpoint} kept throttling requests (429) while {doing}, also after"
            " retries that waited as long as it asked; give the account more throughput"
        )
    return StorageError(
        f"Cosmos DB at {endpoint} answered {status} while {doing}: {_first_line(error)}"
    )


@contextmanager
def _errors(endpoint: str, doing: str) -> Iterator[None]:
    """Turn the SDK's exceptions into one `StorageError` naming the endpoint (never the key)."""
    try:
        yield
    except CosmosHttpResponseError as error:
        raise _failure(endpoint, doing, error) from None
    except AzureError as error:
        raise StorageError(
            f"cannot reach Cosmos DB at {endpoint} while {doing}: {_first_line(error)}"
        ) from None


async def _created(create: Callable[[], Awaitable[Any]]) -> Any:
    """`create_*_if_not_exists` reads, then creates: instances starting together can all miss
    the read, and all but one create then conflict (409). A second try reads the winner's."""
    try:
        return await create()
    except CosmosResourceExistsError:
        return await create()


@dataclass(frozen=True)
class _Op:
    """What one operation of the commit batch writes, to explain its failure."""

    kind: str  # session, new-session, log, head, transfer, claim, lease
    subject: str


class CosmosTurn:
    """A turn of one chat on Cosmos DB (see `storage.base.ChatTurn`): the documents it read,
    with their ETags, and the lease it holds."""

    def __init__(
        self,
        store: CosmosStore,
        conversation_id: str,
        event_id: str | None,
        owner: str,
        lease_etag: str,
        documents: list[Document],
    ) -> None:
        self._store = store
        self.conversation_id = conversation_id
        self.event_id = event_id
        self.owner = owner
        self.lease_etag = lease_etag
        self.committed = False
        #: Whether the turn still holds the chat's lease.
        self.holding = True
        #: Serializes the lease's renewal with the writes guarded by its ETag.
        self.lease_lock = asyncio.Lock()
        self._head = next((d for d in documents if d.get("kind") == "head"), None)
        self._sessions = {d["id"]: d for d in documents if d.get("kind") == "session"}
        bound = self._head and self._sessions.get(session_doc_id(self._head["sessionId"]))
        self.session: Session | None = session_of(bound) if bound else None
        self.known = self._head is not None
        self.reference: Mapping[str, Any] | None = (
            self._head.get("reference") if self._head else None
        )
        self.outbox: list[Outgoing] = sorted(
            (out_of(d) for d in documents if d.get("kind") == "out"), key=lambda e: e.seq
        )
        self.sent: dict[str, str] = {
            str(d["label"]): str(d["activityId"]) for d in documents if d.get("kind") == "sent"
        }
        self.timers: list[Timer] = sorted(
            (timer_of(d) for d in documents if d.get("kind") == "timer"), key=lambda t: t.due_at
        )

    async def commit(self, writes: TurnWrites) -> None:
        if self.committed:
            raise StorageError(f"chat {self.conversation_id}: a turn commits once")
        hold = bool(self.outbox or writes.outbox)
        batch, added = self._batch(writes, hold)
        if len(batch) > _MAX_BATCH:
            raise StorageError(
                f"a turn of chat {self.conversation_id} would write {len(batch)} documents at"
                f" once; Cosmos DB takes at most {_MAX_BATCH} in one transactional batch"
            )
        store = self._store
        async with self.lease_lock:
            with _errors(store.endpoint, f"committing a turn of chat {self.conversation_id}"):
                try:
                    results = await store.chats.execute_item_batch(
                        [operation for operation, _ in batch], partition_key=self.conversation_id
                    )
                except CosmosBatchOperationError as error:
                    raise self._refusal(batch[error.error_index][1], error.status_code) from None
            if hold:
                self.lease_etag = _etag(list(results)[-1])
        self.committed = True
        self.holding = hold
        self.outbox = [*self.outbox, *added]
        kept = {t.key: t for t in self.timers if t.key not in set(writes.cancel_timers)}
        kept.update((t.key, t) for t in writes.timers)
        self.timers = sorted(kept.values(), key=lambda t: t.due_at)
        for session in writes.sessions:
            session.version += 1
            session.pending_flow.clear()
            session.pending_transcript.clear()

    async def settle(
        self,
        *,
        delivered: Sequence[int] = (),
        postponed: Sequence[Outgoing] = (),
        sent: Mapping[str, str] | None = None,
        release: bool,
    ) -> None:
        store = self._store
        sent = sent or {}
        operations: list[tuple[Any, ...]] = [("delete", (out_id(seq),)) for seq in delivered]
        operations += [
            ("upsert", (sent_document(self.conversation_id, label, activity),))
            for label, activity in sent.items()
        ]
        operations += [
            ("replace", (out_id(e.seq), out_document(self.conversation_id, e))) for e in postponed
        ]
        async with self.lease_lock:
            if release:
                guard = {"if_match_etag": self.lease_etag}
                operations.append(("delete", (LEASE,), guard))
            with _errors(store.endpoint, f"recording deliveries of chat {self.conversation_id}"):
                try:
                    if operations:
                        await store.chats.execute_item_batch(
                            operations, partition_key=self.conversation_id
                        )
                except CosmosBatchOperationError as error:
                    if not release or error.error_index != len(operations) - 1:
                        raise
                    # The lease ran out and another turn holds it: the deliveries still count.
                    log.warning("chat %s: the lease ran out while delivering", self.conversation_id)
                    if operations[:-1]:
                        await store.chats.execute_item_batch(
                            operations[:-1], partition_key=self.conversation_id
                        )
        done = set(delivered)
        changed = {entry.seq: entry for entry in postponed}
        self.outbox = [changed.get(e.seq, e) for e in self.outbox if e.seq not in done]
        self.sent = {**self.sent, **sent}
        if release:
            self.holding = False

    def _batch(
        self, writes: TurnWrites, hold: bool
    ) -> tuple[list[tuple[tuple[Any, ...], _Op]], list[Outgoing]]:
        batch: list[tuple[tuple[Any, ...], _Op]] = []
        head = self._head
        sessions = int(head["sessions"]) if head else 0
        transfers = int(head["transfers"]) if head else 0
        sent = int(head.get("sent", 0)) if head else 0
        for session in writes.sessions:
            doc_id = session_doc_id(session.id)
            version = session.version + 1
            if session.version == 0:
                sessions += 1
                body = session_document(session, seq=sessions, version=version)
                batch.append((("create", (body,)), _Op("new-session", session.id)))
            else:
                stored = self._sessions.get(doc_id)
                if stored is None:
                    raise StorageError(
                        f"session {session.id} was not read by this turn of chat"
                        f" {self.conversation_id}; a turn writes only the chat it read"
                    )
                body = session_document(session, seq=stored["seq"], version=version)
                guard = {"if_match_etag": stored["_etag"]}
                batch.append((("replace", (doc_id, body), guard), _Op("session", session.id)))
            if session.pending_flow or session.pending_transcript:
                entry = log_document(
                    session, version, session.pending_flow, session.pending_transcript
                )
                batch.append((("create", (entry,)), _Op("log", session.id)))
        for refused in writes.refused:
            body = refused_document(refused, number=uuid.uuid4().hex)
            batch.append((("create", (body,)), _Op("refused", refused.session_id)))
        for record in writes.transfers:
            transfers += 1
            body = transfer_document(record, seq=transfers)
            batch.append((("create", (body,)), _Op("transfer", record.from_session_id)))
        added: list[Outgoing] = []
        for outgoing in writes.outbox:
            sent += 1
            numbered = replace(outgoing, seq=sent)
            added.append(numbered)
            body = out_document(self.conversation_id, numbered)
            batch.append((("create", (body,)), _Op("out", str(sent))))
        existing = {t.key for t in self.timers}
        for key in writes.cancel_timers:
            if key in existing and key not in {t.key for t in writes.timers}:
                batch.append((("delete", (timer_id(key),)), _Op("timer", key)))
        for timer in writes.timers:
            body = timer_document(self.conversation_id, timer)
            batch.append((("upsert", (body,)), _Op("timer", timer.key)))
        counters = (sessions, transfers, sent)
        head_changes = (
            writes.bound_session_id is not None
            or (writes.reference is not None and writes.reference != self.reference)
            or (
                head is not None
                and counters != (head["sessions"], head["transfers"], head.get("sent", 0))
            )
        )
        if head_changes:
            bound = writes.bound_session_id or (str(head["sessionId"]) if head else "")
            reference = writes.reference if writes.reference is not None else self.reference
            body = head_document(
                self.conversation_id,
                bound,
                dict(reference) if reference is not None else None,
                sessions=sessions,
                transfers=transfers,
                sent=sent,
            )
            if head is None:
                batch.append((("create", (body,)), _Op("head", HEAD)))
            else:
                guard = {"if_match_etag": head["_etag"]}
                batch.append((("replace", (HEAD, body), guard), _Op("head", HEAD)))
        if self.event_id:
            claim = claim_document(self.conversation_id, self.event_id, self._store.clock())
            batch.append((("create", (claim,)), _Op("claim", self.event_id)))
        guard = {"if_match_etag": self.lease_etag}
        if hold:
            lease = self._store.lease_document(self.conversation_id, self.owner)
            batch.append((("replace", (LEASE, lease), guard), _Op("lease", LEASE)))
        else:
            batch.append((("delete", (LEASE,), guard), _Op("lease", LEASE)))
        return batch, added

    def _refusal(self, failed: _Op, status: int) -> StorageError:
        chat = f"chat {self.conversation_id}"
        if status in (404, 409, 412) and failed.kind in ("lease", "claim", "session", "head"):
            what = {
                "lease": "the turn outlived its lease and another turn took the chat over",
                "claim": f"event {failed.subject} was committed by another turn",
                "session": f"session {failed.subject} changed since this turn read it",
                "head": "the chat's binding changed since this turn read it",
            }[failed.kind]
            return ConflictError(f"{chat}: {what}; nothing of the turn was written")
        if status == 409 and failed.kind in ("transfer", "new-session", "out"):
            return ConflictError(
                f"{chat}: {failed.kind} {failed.subject} exists already; nothing of the turn"
                " was written"
            )
        return StorageError(
            f"Cosmos DB at {self._store.endpoint} refused the commit of {chat}"
            f" ({status} on the {failed.kind} write)"
        )


async def _indexed(db: Any, chats: ContainerProxy) -> None:
    """Give a container created by an earlier Crossdesk today's indexing policy (Cosmos DB
    re-indexes online; queries stay answered meanwhile)."""
    policy = (await chats.read()).get("indexingPolicy") or {}
    paths = {i["path"] for i in policy.get("includedPaths", [])}
    wanted = {i["path"] for i in CHATS_INDEXING["includedPaths"]}
    if wanted <= paths and policy.get("compositeIndexes"):
        return
    log.warning("container %s: updating its indexing policy for the operations view", CHATS)
    await db.replace_container(
        chats,
        partition_key=PartitionKey(path=CHATS_PARTITION),
        indexing_policy=CHATS_INDEXING,
        default_ttl=-1,
    )


def _etag(result: Any) -> str:
    """The ETag a batch operation's result carries."""
    return cast(str, result.get("eTag") or result["resourceBody"]["_etag"])


class CosmosStore:
    """`Store` on Azure Cosmos DB (NoSQL API) through the async SDK.

    `lease_seconds` is how long a turn may hold a chat before another may take it over;
    `clock` (epoch seconds) times leases and claims; both are injectable for tests.
    """

    def __init__(
        self,
        client: CosmosClient,
        chats: ContainerProxy,
        *,
        endpoint: str,
        lease_seconds: float = LEASE_SECONDS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._client = client
        self.chats = chats
        self.endpoint = endpoint
        self.lease_seconds = lease_seconds
        self.clock = clock
        self._waits = LeaseWaits()
        #: The operations view's questions, on the same container.
        self.reports = CosmosReports(chats, self.history)

    @classmethod
    async def open(
        cls,
        endpoint: str,
        key: str,
        database: str,
        *,
        endpoint_discovery: bool | None = None,
        throttle_retries: int = 9,
        throttle_wait_seconds: int = 30,
        lease_seconds: float = LEASE_SECONDS,
        clock: Callable[[], float] = time.time,
    ) -> CosmosStore:
        """Connect, check the key, create the database and container if missing.

        `StorageError` (naming the endpoint, never the key) when the endpoint cannot be reached
        or refuses the key. Endpoint discovery (multi-region routing) is on for https endpoints
        and off for plain-http ones, which are local test servers advertising addresses they
        do not serve. Throttled requests (429) are retried by the SDK after the delay Cosmos DB
        asks for, up to `throttle_retries` times or `throttle_wait_seconds` in total.
        """
        if not endpoint.startswith(("https://", "http://")):
            raise StorageError(f"COSMOS_ENDPOINT must be an https:// URL, not {endpoint!r}")
        try:
            base64.b64decode(key, validate=True)
        except (binascii.Error, ValueError):
            raise StorageError(
                f"COSMOS_KEY for {endpoint} is not a Cosmos DB account key (base64)"
            ) from None
        if _HTTP_LOG.level == logging.NOTSET:
            _HTTP_LOG.setLevel(logging.WARNING)
        client = CosmosClient(
            endpoint,
            credential=key,
            enable_endpoint_discovery=(
                endpoint.startswith("https://")
                if endpoint_discovery is None
                else endpoint_discovery
            ),
            retry_throttle_total=throttle_retries,
            retry_throttle_backoff_max=throttle_wait_seconds,
            logger=_HTTP_LOG,
        )
        try:
            with _errors(endpoint, f"opening database {database!r}"):
                await client.__aenter__()
                db = await _created(lambda: client.create_database_if_not_exists(id=database))
                chats = await _created(
                    lambda: db.create_container_if_not_exists(
                        id=CHATS,
                        partition_key=PartitionKey(path=CHATS_PARTITION),
                        indexing_policy=CHATS_INDEXING,
                        default_ttl=-1,
                    )
                )
                await _indexed(db, chats)
        except BaseException:
            await client.close()
            raise
        return cls(client, chats, endpoint=endpoint, lease_seconds=lease_seconds, clock=clock)

    async def close(self) -> None:
        await self._client.close()

    async def record_audit(self, entry: AuditEntry) -> None:
        with _errors(self.endpoint, "writing an audit entry"):
            await self.chats.create_item(audit_document(entry))

    async def audit_log(self, limit: int) -> list[AuditEntry]:
        # `at` is not indexed (writes stay cheap): the newest are picked here, as
        # `search_sessions` picks sessions.
        newest: list[tuple[datetime, str, AuditEntry]] = []
        with _errors(self.endpoint, "reading the audit log"):
            async for item in self.chats.query_items(AUDIT_QUERY, enable_scan_in_query=True):
                entry = audit_of_document(cast(Document, item))
                key = (entry.at, entry.id, entry)
                if len(newest) < limit:
                    heapq.heappush(newest, key)
                elif key[:2] > newest[0][:2]:
                    heapq.heapreplace(newest, key)
        return [entry for *_, entry in sorted(newest, key=lambda e: e[:2], reverse=True)]

    async def read(self, conversation_id: str, doc_id: str) -> Document | None:
        """One document of a chat by id (a point read), None if there is none."""
        with _errors(self.endpoint, f"reading {doc_id} of chat {conversation_id}"):
            try:
                item = await self.chats.read_item(doc_id, partition_key=conversation_id)
            except CosmosResourceNotFoundError:
                return None
        return cast(Document, item)

    async def query(
        self, query: str, conversation_id: str, parameters: list[dict[str, Any]] | None = None
    ) -> list[Document]:
        """A query inside one chat's partition (never across partitions)."""
        with _errors(self.endpoint, f"querying chat {conversation_id}"):
            return [
                cast(Document, item)
                async for item in self.chats.query_items(
                    query, parameters=parameters, partition_key=conversation_id
                )
            ]

    # turns

    def lease_document(self, conversation_id: str, owner: str) -> Document:
        """The chat's lease for `owner`, until `lease_seconds` from now; its TTL removes a
        crashed holder's lease long after it expired."""
        return lease_document(
            conversation_id,
            owner,
            self.clock() + self.lease_seconds,
            max(60, int(self.lease_seconds * 10)),
        )

    def chat_turn(
        self, conversation_id: str, event_id: str | None, *, wait: bool = True
    ) -> AbstractAsyncContextManager[CosmosTurn | None]:
        owner = uuid.uuid4().hex

        async def attempt() -> tuple[TurnStart, CosmosTurn | None]:
            etag = await self._lease(conversation_id, owner)
            if etag is None:
                return TurnStart.BUSY, None
            try:
                documents = await self.query(
                    TURN_QUERY,
                    conversation_id,
                    [{"name": "@claim", "value": claim_id(event_id) if event_id else ""}],
                )
            except BaseException:
                await self._release_lease(conversation_id, etag)
                raise
            if event_id and any(d["id"] == claim_id(event_id) for d in documents):
                await self._release_lease(conversation_id, etag)
                return TurnStart.DUPLICATE, None
            turn = CosmosTurn(self, conversation_id, event_id, owner, etag, documents)
            return TurnStart.LEASED, turn

        return leased_turn(
            self._waits,
            conversation_id,
            attempt,
            lease_seconds=self.lease_seconds,
            wait=wait,
            renew=self._renew,
            release=self._release,
        )

    async def _lease(self, conversation_id: str, owner: str) -> str | None:
        """Take the chat's lease (or one whose holder ran out of time): its ETag, or None while
        another turn holds it."""
        now = self.clock()
        document = self.lease_document(conversation_id, owner)
        with _errors(self.endpoint, f"taking the lease of chat {conversation_id}"):
            try:
                created = await self.chats.create_item(document)
                return cast(str, created["_etag"])
            except CosmosResourceExistsError:
                pass
            held = await self.read(conversation_id, LEASE)
            if held is None:
                return None  # released meanwhile: the next attempt creates it
            if float(held["until"]) > now:
                return None
            try:
                taken = await self.chats.replace_item(
                    LEASE,
                    document,
                    etag=held["_etag"],
                    match_condition=MatchConditions.IfNotModified,
                )
            except (CosmosAccessConditionFailedError, CosmosResourceNotFoundError):
                return None  # another waiter took it first
        log.warning("chat %s: took over a lease whose holder stopped renewing it", conversation_id)
        return cast(str, taken["_etag"])

    async def _renew(self, turn: CosmosTurn) -> bool:
        async with turn.lease_lock:
            if not turn.holding:
                return False
            document = self.lease_document(turn.conversation_id, turn.owner)
            with _errors(self.endpoint, f"renewing the lease of chat {turn.conversation_id}"):
                try:
                    renewed = await self.chats.replace_item(
                        LEASE,
                        document,
                        etag=turn.lease_etag,
                        match_condition=MatchConditions.IfNotModified,
                    )
                except (CosmosAccessConditionFailedError, CosmosResourceNotFoundError):
                    return False
            turn.lease_etag = cast(str, renewed["_etag"])
        return True

    async def _release(self, turn: CosmosTurn) -> None:
        async with turn.lease_lock:
            try:
                await self._release_lease(turn.conversation_id, turn.lease_etag)
            except StorageError as error:
                log.error("chat %s: could not release its lease: %s", turn.conversation_id, error)
            turn.holding = False

    async def _release_lease(self, conversation_id: str, etag: str) -> None:
        with (
            _errors(self.endpoint, f"releasing the lease of chat {conversation_id}"),
            # Gone or changed: the lease ran out and another turn holds it now.
            suppress(CosmosResourceNotFoundError, CosmosAccessConditionFailedError),
        ):
            await self.chats.delete_item(
                LEASE,
                partition_key=conversation_id,
                etag=etag,
                match_condition=MatchConditions.IfNotModified,
            )

    async def agent(self, agent_id: str) -> AgentRecord:
        document = await self.read(agent_partition(agent_id), AGENT)
        return agent_of(document) if document else AgentRecord(agent_id)

    async def save_agent(self, record: AgentRecord) -> None:
        body = agent_document(record, record.version + 1)
        partition = agent_partition(record.agent_id)
        with _errors(self.endpoint, f"saving agent {record.agent_id}"):
            try:
                if record.version == 0:
                    await self.chats.create_item(body)
                else:
                    current = await self.read(partition, AGENT)
                    if current is None or int(current.get("version", 0)) != record.version:
                        raise ConflictError(f"agent {record.agent_id} changed since it was read")
                    await self.chats.replace_item(
                        AGENT,
                        body,
                        etag=current["_etag"],
                        match_condition=MatchConditions.IfNotModified,
                    )
            except (CosmosResourceExistsError, CosmosAccessConditionFailedError):
                raise ConflictError(f"agent {record.agent_id} changed since it was read") from None
        record.version += 1

    async def due_timers(self, now: float, limit: int) -> list[tuple[str, Timer]]:
        found: list[tuple[str, Timer]] = []
        with _errors(self.endpoint, "looking for due timers"):
            async for item in self.chats.query_items(
                TIMERS_QUERY, parameters=[{"name": "@now", "value": now}]
            ):
                found.append((str(item["conversationId"]), timer_of(cast(Document, item))))
        found.sort(key=lambda pair: pair[1].due_at)
        return found[:limit]

    async def due_chats(self, now: float, limit: int) -> list[str]:
        due: dict[str, float] = {}
        held: set[str] = set()
        with _errors(self.endpoint, "looking for undelivered messages"):
            async for item in self.chats.query_items(DUE_QUERY):
                chat = str(item["conversationId"])
                if item["kind"] == "lease" and float(item.get("until") or 0) > now:
                    held.add(chat)
                elif item["kind"] == "out" and float(item.get("dueAt") or 0) <= now:
                    due[chat] = min(due.get(chat, now), float(item.get("dueAt") or 0))
        ready = sorted((at, chat) for chat, at in due.items() if chat not in held)
        return [chat for _, chat in ready[:limit]]

    # dead letters

    async def keep_dead_letter(self, letter: DeadLetter) -> None:
        with _errors(self.endpoint, "keeping a dead letter"), suppress(CosmosResourceExistsError):
            await self.chats.create_item(dead_letter_document(letter))

    async def dead_letters(self, limit: int = 100) -> list[DeadLetter]:
        found: list[DeadLetter] = []
        with _errors(self.endpoint, "listing dead letters"):
            async for item in self.chats.query_items(DEAD_LETTERS_QUERY):
                found.append(dead_letter_of(cast(Document, item)))
        found.sort(key=lambda letter: (letter.at, letter.id))
        return found[:limit]

    async def drop_dead_letter(self, letter: DeadLetter) -> None:
        document = dead_letter_document(letter)
        with (
            _errors(self.endpoint, "dropping a dead letter"),
            suppress(CosmosResourceNotFoundError),
        ):
            await self.chats.delete_item(document["id"], partition_key=letter.conversation_id)

    # reading across turns

    async def history(self, conversation_id: str) -> ChatHistory:
        documents = await self.query(HISTORY_QUERY, conversation_id)
        head = next((d for d in documents if d["kind"] == "head"), None)
        sessions = sorted((d for d in documents if d["kind"] == "session"), key=lambda d: d["seq"])
        logs = sorted((d for d in documents if d["kind"] == "log"), key=lambda d: d["seq"])
        transfers = sorted(
            (d for d in documents if d["kind"] == "transfer"), key=lambda d: d["seq"]
        )
        ids = [d["sessionId"] for d in sessions]
        return ChatHistory(
            conversation_id,
            head.get("reference") if head else None,
            [session_of(d) for d in sessions],
            {
                sid: [flow_of(i) for d in logs if d["sessionId"] == sid for i in d["flow"]]
                for sid in ids
            },
            {
                sid: [
                    transcript_of(i) for d in logs if d["sessionId"] == sid for i in d["transcript"]
                ]
                for sid in ids
            },
            [transfer_of(d) for d in transfers],
        )

    async def live_sessions(self) -> AsyncIterator[Session]:
        with _errors(self.endpoint, "listing active sessions"):
            async for item in self.chats.query_items(LIVE_QUERY):
                yield session_of(cast(Document, item))

    async def search_sessions(self, search: SessionSearch) -> list[Session]:
        query, parameters = search_query(search)
        newest: list[tuple[datetime, int, Session]] = []
        order = itertools.count()
        with _errors(self.endpoint, "searching sessions"):
            async for item in self.chats.query_items(
                query, parameters=parameters, enable_scan_in_query=True
            ):
                session = session_of(cast(Document, item))
                if not search.matches(session):
                    continue  # LOWER() and Python's case folding differ on a few letters
                # Keep the newest `limit` only, however many match.
                entry = (session.started_at, next(order), session)
                if len(newest) < search.limit:
                    heapq.heappush(newest, entry)
                elif entry[0] > newest[0][0]:
                    heapq.heapreplace(newest, entry)
        return [session for *_, session in sorted(newest, key=lambda e: e[0], reverse=True)]
