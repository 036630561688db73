"""The Azure Cosmos DB backend: many stateless Crossdesk instances over one account.

`CROSSDESK_STORAGE=cosmos` with `COSMOS_ENDPOINT`, `COSMOS_KEY` and `COSMOS_DATABASE`. The
database and its container are created on start-up if missing. Layout, partitioning, indexing
and costs: `storage/COSMOS.md`; document shapes: `storage/cosmos_documents.py`.

A turn is three round trips, a transfer turn too:

1. take the chat's lease: create the `lease` document (or replace an expired one);
2. read the chat: one single-partition query for the head, the active session and the claim
   of the turn's event (a claimed event ends the turn here: a re-delivery);
3. commit: one transactional batch in the chat's partition with everything the turn changed
   (sessions, their log, the head, transfer records), the claim of its event and the deletion
   of the lease, every write guarded by an ETag.

A turn that does not commit deletes its lease and leaves nothing else behind.
"""

from __future__ import annotations

import base64
import binascii
import heapq
import itertools
import logging
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from contextlib import asynccontextmanager, contextmanager, suppress
from dataclasses import dataclass
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
from storage.base import LEASE_SECONDS, ChatHistory, TurnWrites
from storage.cosmos_documents import (
    CHATS,
    CHATS_INDEXING,
    CHATS_PARTITION,
    HEAD,
    HISTORY_QUERY,
    LEASE,
    LIVE_QUERY,
    TURN_QUERY,
    claim_document,
    claim_id,
    head_document,
    lease_document,
    log_document,
    search_query,
    session_doc_id,
    session_document,
    transfer_document,
)
from storage.leases import LeaseWaits, TurnStart, start_turn
from storage.records import flow_of, session_of, transcript_of, transfer_of

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
        lease_etag: str,
        documents: list[Document],
    ) -> None:
        self._store = store
        self.conversation_id = conversation_id
        self.event_id = event_id
        self.lease_etag = lease_etag
        self.committed = False
        self._head = next((d for d in documents if d.get("kind") == "head"), None)
        self._sessions = {d["id"]: d for d in documents if d.get("kind") == "session"}
        bound = self._head and self._sessions.get(session_doc_id(self._head["sessionId"]))
        self.session: Session | None = session_of(bound) if bound else None
        self.known = self._head is not None
        self.reference: Mapping[str, Any] | None = (
            self._head.get("reference") if self._head else None
        )

    async def commit(self, writes: TurnWrites) -> None:
        if self.committed:
            raise StorageError(f"chat {self.conversation_id}: a turn commits once")
        batch = self._batch(writes)
        if len(batch) > _MAX_BATCH:
            raise StorageError(
                f"a turn of chat {self.conversation_id} would write {len(batch)} documents at"
                f" once; Cosmos DB takes at most {_MAX_BATCH} in one transactional batch"
            )
        store = self._store
        with _errors(store.endpoint, f"committing a turn of chat {self.conversation_id}"):
            try:
                await store.chats.execute_item_batch(
                    [operation for operation, _ in batch], partition_key=self.conversation_id
                )
            except CosmosBatchOperationError as error:
                raise self._refusal(batch[error.error_index][1], error.status_code) from None
        self.committed = True
        for session in writes.sessions:
            session.version += 1
            session.pending_flow.clear()
            session.pending_transcript.clear()

    def _batch(self, writes: TurnWrites) -> list[tuple[tuple[Any, ...], _Op]]:
        batch: list[tuple[tuple[Any, ...], _Op]] = []
        head = self._head
        sessions = int(head["sessions"]) if head else 0
        transfers = int(head["transfers"]) if head else 0
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
        for record in writes.transfers:
            transfers += 1
            body = transfer_document(record, seq=transfers)
            batch.append((("create", (body,)), _Op("transfer", record.from_session_id)))
        head_changes = (
            writes.bound_session_id is not None
            or (writes.reference is not None and writes.reference != self.reference)
            or (head is not None and (sessions, transfers) != (head["sessions"], head["transfers"]))
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
        batch.append((("delete", (LEASE,), guard), _Op("lease", LEASE)))
        return batch

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
        if status == 409 and failed.kind in ("transfer", "new-session"):
            return ConflictError(
                f"{chat}: {failed.kind} {failed.subject} exists already; nothing of the turn"
                " was written"
            )
        return StorageError(
            f"Cosmos DB at {self._store.endpoint} refused the commit of {chat}"
            f" ({status} on the {failed.kind} write)"
        )


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
        except BaseException:
            await client.close()
            raise
        return cls(client, chats, endpoint=endpoint, lease_seconds=lease_seconds, clock=clock)

    async def close(self) -> None:
        await self._client.close()

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

    @asynccontextmanager
    async def chat_turn(
        self, conversation_id: str, event_id: str | None
    ) -> AsyncIterator[CosmosTurn | None]:
        owner = uuid.uuid4().hex
        began: list[CosmosTurn] = []

        async def attempt() -> TurnStart:
            etag = await self._lease(conversation_id, owner)
            if etag is None:
                return TurnStart.BUSY
            try:
                documents = await self.query(
                    TURN_QUERY,
                    conversation_id,
                    [{"name": "@claim", "value": claim_id(event_id) if event_id else ""}],
                )
            except BaseException:
                await self._release(conversation_id, etag)
                raise
            if event_id and any(d["id"] == claim_id(event_id) for d in documents):
                await self._release(conversation_id, etag)
                return TurnStart.DUPLICATE
            began.append(CosmosTurn(self, conversation_id, event_id, etag, documents))
            return TurnStart.LEASED

        leased = await start_turn(
            self._waits, conversation_id, attempt, max_wait=2 * self.lease_seconds
        )
        if not leased:
            yield None
            return
        turn = began[-1]
        try:
            yield turn
        finally:
            if not turn.committed:
                try:
                    await self._release(conversation_id, turn.lease_etag)
                except StorageError as error:
                    log.error(
                        "chat %s: could not release a turn's lease: %s", conversation_id, error
                    )
            self._waits.released(conversation_id)

    async def _lease(self, conversation_id: str, owner: str) -> str | None:
        """Take the chat's lease (or one whose holder ran out of time): its ETag, or None while
        another turn holds it."""
        now = self.clock()
        document = lease_document(
            conversation_id, owner, now + self.lease_seconds, int(self.lease_seconds * 10)
        )
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
        log.warning(
            "chat %s: took over a lease whose turn ran for more than %.0f s",
            conversation_id,
            self.lease_seconds,
        )
        return cast(str, taken["_etag"])

    async def _release(self, conversation_id: str, etag: str) -> None:
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
