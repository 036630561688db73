"""The Azure Cosmos DB backend: many stateless Crossdesk instances over one account.

`CROSSDESK_STORAGE=cosmos` with `COSMOS_ENDPOINT`, `COSMOS_KEY` and `COSMOS_DATABASE`. The
database and its two containers are created on start-up if missing. Layout, partitioning,
indexing and costs: `storage/COSMOS.md`; document shapes: `storage/cosmos_documents.py`.

How a turn talks to Cosmos DB (three round trips; a transfer adds one):

1. `chat_turn` claims the inbound activity and takes the chat's lease in one transactional
   batch (a re-delivery fails on the claim, a second turn of the chat on the lease);
2. the first read of the turn loads the chat head and its active session (with the session's
   SDK state, e.g. the dialog stack) with one single-partition query;
3. the turn's writes (session, its new flow and transcript, SDK state, a new session and the
   rebinding) wait in a `ChatUnit` and go out with the lease's release as one batch when the
   turn ends. Only a transfer commits at once (one batch), before its card is sent.

Every write is guarded by an ETag. When a guard fails (another writer got there first, which
the lease makes rare) the unit re-reads the documents and re-applies its changes on top
(`storage.concurrency.reapply`); only changes that cannot both hold raise `ConflictError`.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import copy
import dataclasses
import logging
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager, suppress
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, cast

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
from pipeline.session import FlowStep, Session, SessionState, TranscriptEntry
from pipeline.transfer import TransferPlan, TransferRecord
from storage.base import LEASE_SECONDS, parse_session_state_key
from storage.concurrency import (
    LeaseWaits,
    SessionBaselines,
    SessionSnapshot,
    TurnStart,
    carry_over,
    reapply,
    start_turn,
)
from storage.cosmos_documents import (
    CHATS,
    CHATS_INDEXING,
    CHATS_PARTITION,
    HEAD,
    LEASE,
    LOGS_QUERY,
    SESSIONS_QUERY,
    STATE,
    STATE_INDEXING,
    STATE_PARTITION,
    TRANSFERS_QUERY,
    TURN_QUERY,
    flow_of,
    head_document,
    inbound_document,
    inbound_id,
    lease_document,
    log_document,
    safe_id,
    session_doc_id,
    session_document,
    session_of,
    state_document,
    transcript_of,
    transfer_document,
    transfer_of,
)

log = logging.getLogger(__name__)
#: The SDK logs every request at INFO; it goes to this logger, quiet unless configured.
_HTTP_LOG = logging.getLogger("storage.cosmos.http")

#: A transactional batch holds at most 100 operations (a turn writes a handful).
_MAX_BATCH = 100
#: Attempts at a write whose ETag guard keeps failing before giving up with ConflictError.
_MAX_ATTEMPTS = 5

Document = dict[str, Any]

#: The unit of work of the chat turn running in this task (see `CosmosStore.chat_turn`).
_OPEN_UNIT: ContextVar[ChatUnit | None] = ContextVar("crossdesk_cosmos_unit", default=None)


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
    except CosmosBatchOperationError as error:
        raise StorageError(
            f"Cosmos DB at {endpoint} refused a batch ({error.status_code}) while {doing}"
        ) from None
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


# the unit of work of one chat


@dataclass
class _Lease:
    """The chat lease a turn holds: its owner token and the lease document's ETag."""

    owner: str
    etag: str


@dataclass
class _SessionWrite:
    """A session document a unit will write: the session as it will be stored, the stored
    document it started from (None for a new session), what it appends and its SDK state."""

    session: Session
    base: Document | None
    saves: int = 0
    flow: list[FlowStep] = field(default_factory=list)
    transcript: list[TranscriptEntry] = field(default_factory=list)
    state_changes: dict[str, Document | None] = field(default_factory=dict)
    state_expected: dict[str, int | None] = field(default_factory=dict)
    receiving: _SessionWrite | None = None

    def stored_state(self) -> dict[str, Any]:
        return dict((self.base or {}).get("botState") or {})

    def state_entries(self) -> dict[str, Any]:
        """The `botState` of the document as it will be written."""
        entries = self.stored_state()
        for name, document in self.state_changes.items():
            version = int((entries.get(name) or {}).get("version", 0)) + 1
            if document is None:
                entries.pop(name, None)
            else:
                entries[name] = {"version": version, "document": document}
        return entries


@dataclass(frozen=True)
class _Op:
    """What one operation of a batch is about, to act on its failure."""

    kind: str  # session, new-session, log, head, transfer, lease
    doc_id: str
    subject: str = ""


def _copy(session: Session) -> Session:
    return dataclasses.replace(
        session,
        metadata=copy.deepcopy(session.metadata),
        pending_flow=list(session.pending_flow),
        pending_transcript=list(session.pending_transcript),
    )


def _apply_back(target: Session, written: Session) -> None:
    """Give the caller's session what was written: merged metadata, state, the new version."""
    target.metadata = copy.deepcopy(written.metadata)
    target.state, target.ended_at, target.version = written.state, written.ended_at, written.version
    target.pending_flow.clear()
    target.pending_transcript.clear()


class ChatUnit:
    """The documents of one chat partition that a turn read, and the writes it holds.

    Reads are served from what the unit loaded (under the chat's lease nobody else writes the
    chat, and every write is ETag-guarded anyway); writes are staged and go out as one
    transactional batch in `flush`, retried on a failed guard after re-reading and re-applying.
    """

    def __init__(self, store: CosmosStore, conversation_id: str, lease: _Lease | None = None):
        self.store = store
        self.conversation_id = conversation_id
        self.lease = lease
        self._docs: dict[str, Document | None] = {}
        self._loaded = False
        self._writes: dict[str, _SessionWrite] = {}
        self._bind: tuple[str, dict[str, Any] | None] | None = None
        self._transfers: list[TransferRecord] = []

    # reading

    async def load(self) -> None:
        """Read the head and the active sessions in one single-partition query (once)."""
        if self._loaded:
            return
        for document in await self.store.query(TURN_QUERY, self.conversation_id):
            self._docs[document["id"]] = document
        self._docs.setdefault(HEAD, None)
        self._loaded = True

    async def document(self, doc_id: str) -> Document | None:
        if doc_id not in self._docs:
            self._docs[doc_id] = await self.store.read(self.conversation_id, doc_id)
        return self._docs[doc_id]

    async def session(self, session_id: str) -> Session | None:
        """The session as this unit sees it: staged if it holds a write for it, else stored."""
        doc_id = session_doc_id(session_id)
        write = self._writes.get(doc_id)
        if write is not None:
            session = _copy(write.session)
        else:
            document = await self.document(doc_id)
            if document is None:
                return None
            session = session_of(document)
        self.store.baselines.remember(session)
        return session

    async def bound_session(self) -> Session | None:
        await self.load()
        head = self._docs[HEAD]
        session_id = self._bind[0] if self._bind else head["sessionId"] if head else None
        if session_id is None:
            return None
        session = await self.session(session_id)
        if session is None:
            raise StorageError(
                f"chat {self.conversation_id} is bound to session {session_id}, which is missing"
            )
        return session

    def staged_sessions(self) -> list[Session]:
        return [_copy(write.session) for write in self._writes.values()]

    def staged_log(self, session_id: str) -> tuple[list[FlowStep], list[TranscriptEntry]]:
        write = self._writes.get(session_doc_id(session_id))
        return (list(write.flow), list(write.transcript)) if write else ([], [])

    async def read_state(self, session_id: str, name: str) -> tuple[Document, str] | None:
        doc_id = session_doc_id(session_id)
        write = self._writes.get(doc_id)
        if write is not None:
            entries = write.state_entries()
        else:
            document = await self.document(doc_id)
            entries = (document or {}).get("botState") or {}
        entry = entries.get(name)
        if entry is None:
            return None
        return copy.deepcopy(entry["document"]), str(entry["version"])

    # staging

    async def _write_for(self, session_id: str) -> _SessionWrite:
        doc_id = session_doc_id(session_id)
        write = self._writes.get(doc_id)
        if write is None:
            document = await self.document(doc_id)
            if document is None:
                raise ConflictError(f"session {session_id} does not exist")
            write = _SessionWrite(session=session_of(document), base=document)
            self._writes[doc_id] = write
        return write

    async def save(self, session: Session) -> tuple[SessionSnapshot, Session] | None:
        """Stage `session`'s changes; re-apply them first if `session` is stale. Updates
        `session` as a save does; returns the baseline and stored session if it merged."""
        write = await self._write_for(session.id)
        merged = None
        if session.version != write.session.version:
            base = self.store.baselines.get(session.id, session.version)
            stored = _copy(write.session)
            reapply(session, base, stored)
            assert base is not None
            merged = (base, stored)
        write.session.metadata = copy.deepcopy(session.metadata)
        write.session.state, write.session.ended_at = session.state, session.ended_at
        write.session.version += 1
        write.saves += 1
        write.flow.extend(session.pending_flow)
        write.transcript.extend(session.pending_transcript)
        _apply_back(session, write.session)
        self.store.baselines.remember(session)
        return merged

    def start(self, session: Session, reference: dict[str, Any] | None) -> None:
        """Stage a new session and the rebinding of the chat to it."""
        doc_id = session_doc_id(session.id)
        if doc_id in self._writes or self._docs.get(doc_id) is not None:
            raise ConflictError(f"session {session.id} exists already")
        write = _SessionWrite(session=_copy(session), base=None)
        write.session.version += 1
        write.flow.extend(session.pending_flow)
        write.transcript.extend(session.pending_transcript)
        write.session.pending_flow.clear()
        write.session.pending_transcript.clear()
        self._writes[doc_id] = write
        if reference is None and self._bind is not None:
            reference = self._bind[1]
        self._bind = (session.id, reference)
        _apply_back(session, write.session)
        self.store.baselines.remember(session)

    def written(self, session_id: str) -> Session:
        """A session as the last flush stored it."""
        document = self._docs.get(session_doc_id(session_id))
        assert document is not None, "written() after a flush that wrote the session"
        return session_of(document)

    async def transfer(self, plan: TransferPlan) -> None:
        """Stage the transfer and commit everything staged at once (the card follows it)."""
        saved = (copy.deepcopy(self._writes), self._bind, list(self._transfers))
        sending, receiving = _copy(plan.sending), _copy(plan.receiving)
        try:
            current = await self._write_for(sending.id)
            if current.session.state is not SessionState.ACTIVE:
                raise ConflictError(
                    f"session {sending.id} was already {current.session.state.value}"
                )
            merged = await self.save(sending)
            if merged is not None:
                carry_over(receiving, *merged)
            self.start(receiving, None)
            self._writes[session_doc_id(sending.id)].receiving = self._writes[
                session_doc_id(receiving.id)
            ]
            self._transfers.append(plan.record)
            await self.flush(release_lease=False)
        except BaseException:
            self._writes, self._bind, self._transfers = saved
            raise
        _apply_back(plan.sending, self.written(sending.id))
        _apply_back(plan.receiving, self.written(receiving.id))

    async def write_state(
        self, session_id: str, name: str, document: Document, etag: str | None
    ) -> str:
        if await self.session(session_id) is None:
            raise StorageError(f"state '{name}' belongs to session {session_id}, which is missing")
        write = await self._write_for(session_id)
        current = write.state_entries().get(name)
        if etag not in (None, "*"):
            if current is None or str(current["version"]) != etag:
                raise ConflictError(f"state '{name}' of session {session_id} changed since read")
            stored = write.stored_state().get(name)
            write.state_expected.setdefault(name, int(stored["version"]) if stored else 0)
        else:
            write.state_expected.setdefault(name, None)
        write.state_changes[name] = copy.deepcopy(document)
        return str(write.state_entries()[name]["version"])

    async def delete_state(self, session_id: str, name: str) -> None:
        if await self.session(session_id) is None:
            return
        write = await self._write_for(session_id)
        write.state_changes[name] = None
        write.state_expected.setdefault(name, None)

    # committing

    async def flush(self, *, release_lease: bool) -> None:
        """Write everything staged (and release the lease) in one transactional batch."""
        for _ in range(_MAX_ATTEMPTS):
            batch = await self._batch(release_lease)
            if not batch:
                return
            with _errors(self.store.endpoint, f"writing chat {self.conversation_id}"):
                try:
                    results = await self.store.chats.execute_item_batch(
                        [operation for operation, _ in batch],
                        partition_key=self.conversation_id,
                    )
                except CosmosBatchOperationError as error:
                    await self._recover(batch[error.error_index][1], error.status_code)
                    continue
            self._absorb(batch, list(results), release_lease)
            return
        raise ConflictError(
            f"chat {self.conversation_id} kept changing while it was written;"
            f" gave up after {_MAX_ATTEMPTS} attempts"
        )

    async def _batch(self, release_lease: bool) -> list[tuple[tuple[Any, ...], _Op]]:
        batch: list[tuple[tuple[Any, ...], _Op]] = []
        new_sessions = any(write.base is None for write in self._writes.values())
        head = await self.document(HEAD) if new_sessions or self._bind else self._docs.get(HEAD)
        sessions = int(head["sessions"]) if head else 0
        transfers = int(head["transfers"]) if head else 0
        for doc_id, write in self._writes.items():
            entries = write.state_entries()
            if write.base is None:
                sessions += 1
                body = session_document(write.session, seq=sessions, bot_state=entries)
                batch.append((("create", (body,)), _Op("new-session", doc_id, write.session.id)))
            else:
                body = session_document(write.session, seq=write.base["seq"], bot_state=entries)
                guard = {"if_match_etag": write.base["_etag"]}
                batch.append((("replace", (doc_id, body), guard), _Op("session", doc_id)))
            if write.flow or write.transcript:
                entry = log_document(write.session, write.flow, write.transcript)
                batch.append((("create", (entry,)), _Op("log", entry["id"])))
        for record in self._transfers:
            transfers += 1
            body = transfer_document(record, seq=transfers)
            batch.append((("create", (body,)), _Op("transfer", body["id"], record.from_session_id)))
        if self._bind is not None or new_sessions or self._transfers:
            bound, reference = self._bind or (str(head["sessionId"]) if head else "", None)
            if reference is None and head is not None:
                reference = head.get("reference")
            body = head_document(
                self.conversation_id, bound, reference, sessions=sessions, transfers=transfers
            )
            if head is None:
                batch.append((("create", (body,)), _Op("head", HEAD)))
            else:
                guard = {"if_match_etag": head["_etag"]}
                batch.append((("replace", (HEAD, body), guard), _Op("head", HEAD)))
        if release_lease and self.lease is not None:
            guard = {"if_match_etag": self.lease.etag}
            batch.append((("delete", (LEASE,), guard), _Op("lease", LEASE)))
        if len(batch) > _MAX_BATCH:
            raise StorageError(
                f"a turn of chat {self.conversation_id} would write {len(batch)} documents at"
                f" once; Cosmos DB takes at most {_MAX_BATCH} in one transactional batch"
            )
        return batch

    async def _recover(self, failed: _Op, status: int) -> None:
        """After a failed batch: give up, or re-read what changed so the next attempt
        re-applies this unit's changes on top of it."""
        if failed.kind == "transfer" and status == 409:
            raise ConflictError(f"session {failed.subject} was already transferred")
        if failed.kind == "new-session" and status == 409:
            raise ConflictError(f"session {failed.subject} exists already")
        if failed.kind == "lease":
            log.warning(
                "chat %s: the turn outlived its lease (%.0f s) and another turn took it over;"
                " its writes are still guarded by ETags",
                self.conversation_id,
                LEASE_SECONDS,
            )
            self.lease = None
            return
        if status not in (404, 409, 412):
            raise StorageError(
                f"Cosmos DB at {self.store.endpoint} refused the write of chat"
                f" {self.conversation_id} ({status} on {failed.doc_id})"
            )
        await self._refresh()

    async def _refresh(self) -> None:
        stale = [HEAD] + [doc_id for doc_id, write in self._writes.items() if write.base]
        fresh = await asyncio.gather(
            *(self.store.read(self.conversation_id, doc_id) for doc_id in stale)
        )
        self._docs.update(zip(stale, fresh, strict=True))
        for doc_id, write in self._writes.items():
            if write.base is not None:
                self._rebase(write, self._docs[doc_id])

    def _rebase(self, write: _SessionWrite, fresh: Document | None) -> None:
        """Re-apply `write`'s changes on the session as it is stored now."""
        assert write.base is not None
        if fresh is None:
            raise ConflictError(f"session {write.session.id} was deleted while it was written")
        if fresh["_etag"] == write.base["_etag"]:
            return
        stored = session_of(fresh)
        base = SessionSnapshot.of(session_of(write.base))
        reapply(write.session, base, stored)
        write.session.version = stored.version + write.saves
        entries = fresh.get("botState") or {}
        for name, expected in write.state_expected.items():
            now = int((entries.get(name) or {}).get("version", 0))
            if expected is not None and now != expected:
                raise ConflictError(
                    f"state '{name}' of session {write.session.id} changed since it was read"
                )
        if write.receiving is not None:
            carry_over(write.receiving.session, base, stored)
        write.base = fresh

    def _absorb(
        self,
        batch: list[tuple[tuple[Any, ...], _Op]],
        results: list[dict[str, Any]],
        released: bool,
    ) -> None:
        for (_, operation), result in zip(batch, results, strict=True):
            body = result.get("resourceBody")
            if operation.kind in ("session", "new-session", "head") and body:
                self._docs[operation.doc_id] = body
                if operation.kind != "head":
                    self.store.baselines.remember(session_of(body))
        self._writes.clear()
        self._bind = None
        self._transfers.clear()
        if released:
            self.lease = None


class _TurnAttempt:
    """One try at starting a chat turn: claim + lease in one batch, or take over a lease whose
    holder ran out of time."""

    def __init__(self, store: CosmosStore, conversation_id: str, activity_id: str | None):
        self.store = store
        self.conversation_id = conversation_id
        self.activity_id = activity_id
        self.owner = uuid.uuid4().hex
        self.lease: _Lease | None = None

    async def __call__(self) -> TurnStart:
        return await self._attempt(None)

    async def _attempt(self, expired: Document | None) -> TurnStart:
        operations: list[tuple[Any, ...]] = []
        if self.activity_id:
            operations.append(
                ("create", (inbound_document(self.conversation_id, self.activity_id),))
            )
        lease = lease_document(self.conversation_id, self.owner)
        if expired is None:
            operations.append(("create", (lease,)))
        else:
            operations.append(("replace", (LEASE, lease), {"if_match_etag": expired["_etag"]}))
        doing = f"starting a turn of chat {self.conversation_id}"
        with _errors(self.store.endpoint, doing):
            try:
                results = await self.store.chats.execute_item_batch(
                    operations, partition_key=self.conversation_id
                )
            except CosmosBatchOperationError as error:
                claim_failed = self.activity_id is not None and error.error_index == 0
                if claim_failed and error.status_code == 409:
                    return TurnStart.DUPLICATE
                if not claim_failed and expired is None and error.status_code == 409:
                    return await self._take_over()
                if not claim_failed and error.status_code in (404, 412):
                    return TurnStart.BUSY  # another waiter took the expired lease first
                raise
        result = list(results)[-1]
        self.lease = _Lease(self.owner, result.get("eTag") or result["resourceBody"]["_etag"])
        if expired is not None:
            log.warning(
                "chat %s: took over a lease whose turn ran for more than %.0f s",
                self.conversation_id,
                LEASE_SECONDS,
            )
        return TurnStart.LEASED

    async def _take_over(self) -> TurnStart:
        current = await self.store.read(self.conversation_id, LEASE)
        if current is None:
            return await self._attempt(None)
        if float(current["until"]) > time.time():
            return TurnStart.BUSY
        return await self._attempt(current)


# the store


class CosmosStore:
    """`SessionStore` on Azure Cosmos DB (SQL API) through the async SDK."""

    def __init__(
        self,
        client: CosmosClient,
        chats: ContainerProxy,
        state: ContainerProxy,
        *,
        endpoint: str,
    ) -> None:
        self._client = client
        self.chats = chats
        self.state = state
        self.endpoint = endpoint
        self.baselines = SessionBaselines()
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
    ) -> CosmosStore:
        """Connect, check the key, create the database and containers if missing.

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
                state = await _created(
                    lambda: db.create_container_if_not_exists(
                        id=STATE,
                        partition_key=PartitionKey(path=STATE_PARTITION),
                        indexing_policy=STATE_INDEXING,
                    )
                )
        except BaseException:
            await client.close()
            raise
        return cls(client, chats, state, endpoint=endpoint)

    async def close(self) -> None:
        await self._client.close()

    # reading helpers

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

    def _unit(self, conversation_id: str) -> tuple[ChatUnit, bool]:
        """The open turn's unit if this task runs a turn of that chat, else a fresh one."""
        unit = _OPEN_UNIT.get()
        if unit is not None and unit.store is self and unit.conversation_id == conversation_id:
            return unit, True
        return ChatUnit(self, conversation_id), False

    # chat turns

    @asynccontextmanager
    async def chat_turn(self, conversation_id: str, activity_id: str | None) -> AsyncIterator[bool]:
        attempt = _TurnAttempt(self, conversation_id, activity_id)
        if not await start_turn(self._waits, conversation_id, attempt):
            yield False
            return
        unit = ChatUnit(self, conversation_id, attempt.lease)
        token = _OPEN_UNIT.set(unit)
        try:
            try:
                yield True
            finally:
                _OPEN_UNIT.reset(token)
            await unit.flush(release_lease=True)
        except BaseException:
            try:
                await self._abandon(unit, activity_id)
            except StorageError as error:
                log.error("chat %s: could not release the failed turn: %s", conversation_id, error)
            raise
        finally:
            self._waits.released(conversation_id)

    async def _abandon(self, unit: ChatUnit, activity_id: str | None) -> None:
        """Release the claim (so the re-delivery can run) and the lease of a failed turn."""
        conversation_id = unit.conversation_id
        with _errors(self.endpoint, f"releasing a failed turn of chat {conversation_id}"):
            if activity_id:
                with suppress(CosmosResourceNotFoundError):
                    await self.chats.delete_item(
                        inbound_id(activity_id), partition_key=conversation_id
                    )
            if unit.lease is not None:
                # Gone or changed: the lease ran out and another turn holds it now.
                with suppress(CosmosResourceNotFoundError, CosmosAccessConditionFailedError):
                    await self.chats.delete_item(
                        LEASE,
                        partition_key=conversation_id,
                        etag=unit.lease.etag,
                        match_condition=MatchConditions.IfNotModified,
                    )
                unit.lease = None

    # inbound de-duplication

    async def claim_activity(self, conversation_id: str, activity_id: str) -> bool:
        with _errors(self.endpoint, f"claiming activity {activity_id}"):
            try:
                await self.chats.create_item(inbound_document(conversation_id, activity_id))
            except CosmosResourceExistsError:
                return False
        return True

    async def release_activity(self, conversation_id: str, activity_id: str) -> None:
        with (
            _errors(self.endpoint, f"releasing activity {activity_id}"),
            suppress(CosmosResourceNotFoundError),
        ):
            await self.chats.delete_item(inbound_id(activity_id), partition_key=conversation_id)

    # sessions

    async def bound_session(self, conversation_id: str) -> Session | None:
        unit, _ = self._unit(conversation_id)
        return await unit.bound_session()

    async def start_session(self, session: Session, reference: dict[str, Any] | None) -> None:
        unit, in_turn = self._unit(session.conversation_id)
        if in_turn:
            unit.start(session, reference)
            return
        work = _copy(session)
        unit.start(work, reference)
        await unit.flush(release_lease=False)
        _apply_back(session, unit.written(session.id))

    async def save_session(self, session: Session) -> None:
        unit, in_turn = self._unit(session.conversation_id)
        if in_turn:
            await unit.save(session)
            return
        work = _copy(session)
        await unit.save(work)
        await unit.flush(release_lease=False)
        _apply_back(session, unit.written(session.id))

    async def commit_transfer(self, plan: TransferPlan) -> None:
        unit, _ = self._unit(plan.record.conversation_id)
        await unit.transfer(plan)

    async def get_session(self, conversation_id: str, session_id: str) -> Session | None:
        unit, _ = self._unit(conversation_id)
        return await unit.session(session_id)

    async def sessions_of(self, conversation_id: str) -> list[Session]:
        sessions = [session_of(doc) for doc in await self.query(SESSIONS_QUERY, conversation_id)]
        unit, in_turn = self._unit(conversation_id)
        if in_turn:
            staged = {session.id: session for session in unit.staged_sessions()}
            sessions = [staged.pop(session.id, session) for session in sessions]
            sessions.extend(staged.values())
        for session in sessions:
            self.baselines.remember(session)
        return sessions

    async def _logs(self, conversation_id: str, session_id: str) -> list[Document]:
        parameters = [{"name": "@session", "value": session_id}]
        return await self.query(LOGS_QUERY, conversation_id, parameters)

    async def flow(self, conversation_id: str, session_id: str) -> list[FlowStep]:
        steps = [
            flow_of(item)
            for entry in await self._logs(conversation_id, session_id)
            for item in entry["flow"]
        ]
        unit, in_turn = self._unit(conversation_id)
        return steps + unit.staged_log(session_id)[0] if in_turn else steps

    async def transcript(self, conversation_id: str, session_id: str) -> list[TranscriptEntry]:
        entries = [
            transcript_of(item)
            for entry in await self._logs(conversation_id, session_id)
            for item in entry["transcript"]
        ]
        unit, in_turn = self._unit(conversation_id)
        return entries + unit.staged_log(session_id)[1] if in_turn else entries

    async def transfers_of(self, conversation_id: str) -> list[TransferRecord]:
        return [transfer_of(doc) for doc in await self.query(TRANSFERS_QUERY, conversation_id)]

    # the SDK's state documents

    async def read_state(self, keys: list[str]) -> dict[str, tuple[dict[str, Any], str]]:
        found: dict[str, tuple[dict[str, Any], str]] = {}
        units: dict[str, ChatUnit] = {}
        plain: list[str] = []
        for key in keys:
            owner = parse_session_state_key(key)
            if owner is None:
                plain.append(key)
                continue
            conversation_id, session_id, name = owner
            unit = units.get(conversation_id) or self._unit(conversation_id)[0]
            units[conversation_id] = unit
            entry = await unit.read_state(session_id, name)
            if entry is not None:
                found[key] = entry
        documents = await asyncio.gather(*(self._read_plain_state(key) for key in plain))
        for key, document in zip(plain, documents, strict=True):
            if document is not None:
                found[key] = (document["document"], document["_etag"])
        return found

    async def _read_plain_state(self, key: str) -> Document | None:
        with _errors(self.endpoint, f"reading state {key!r}"):
            try:
                item = await self.state.read_item(safe_id(key), partition_key=safe_id(key))
            except CosmosResourceNotFoundError:
                return None
        return cast(Document, item)

    async def write_state(self, key: str, document: dict[str, Any], etag: str | None) -> str:
        owner = parse_session_state_key(key)
        if owner is not None:
            conversation_id, session_id, name = owner
            unit, in_turn = self._unit(conversation_id)
            new_etag = await unit.write_state(session_id, name, document, etag)
            if not in_turn:
                await unit.flush(release_lease=False)
                written = await unit.read_state(session_id, name)
                assert written is not None
                new_etag = written[1]
            return new_etag
        body = state_document(key, document)
        with _errors(self.endpoint, f"writing state {key!r}"):
            try:
                if etag in (None, "*"):
                    item = await self.state.upsert_item(body)
                else:
                    item = await self.state.replace_item(
                        body["id"], body, etag=etag, match_condition=MatchConditions.IfNotModified
                    )
            except (CosmosAccessConditionFailedError, CosmosResourceNotFoundError):
                raise ConflictError(f"state '{key}' changed since it was read") from None
        return cast(str, item["_etag"])

    async def delete_state(self, keys: list[str]) -> None:
        for key in keys:
            owner = parse_session_state_key(key)
            if owner is not None:
                conversation_id, session_id, name = owner
                unit, in_turn = self._unit(conversation_id)
                await unit.delete_state(session_id, name)
                if not in_turn:
                    await unit.flush(release_lease=False)
                continue
            with (
                _errors(self.endpoint, f"deleting state {key!r}"),
                suppress(CosmosResourceNotFoundError),
            ):
                await self.state.delete_item(safe_id(key), partition_key=safe_id(key))
