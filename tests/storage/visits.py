"""Guests' visits written through the store contract, as the runtime commits them: for the
search across chats and the `sessions` command."""

from __future__ import annotations

from datetime import datetime, timedelta

from pipeline.session import Position, Session, SessionState
from pipeline.transfer import TransferRecord
from storage.base import Store, TurnWrites
from tests.storage.chats import REFERENCE

NAMES = {"helpdesk": "Help Desk", "it": "IT Support", "hr": "Human Resources"}


def guest_facts(name: str, email: str | None) -> dict[str, str]:
    facts = {"Guest.Name": name}
    if email is not None:
        facts |= {"Guest.Email": email, "Guest.UserPrincipalName": email}
    return facts


async def visit(
    store: Store,
    chat: str,
    *,
    guest: str,
    email: str | None,
    started: datetime,
    transfer_to: str | None = None,
    end: bool = False,
) -> list[Session]:
    """A chat opened at the Help Desk at `started`; then transferred a minute later (the
    receiving session starts then), or ended. Its sessions, oldest first."""
    async with store.chat_turn(chat, f"{chat}:open") as turn:
        assert turn is not None and turn.session is None
        first = Session.open(
            conversation_id=chat,
            tenant_id="helpdesk",
            tenant_name=NAMES["helpdesk"],
            metadata=guest_facts(guest, email),
            now=started,
        )
        first.enter("ask", "question", "welcome", started)
        first.position = Position("welcome", "ask", "question", started)
        reference = {**REFERENCE, "conversation": {"id": chat}}
        await turn.commit(TurnWrites([first], bound_session_id=first.id, reference=reference))
    sessions = [first]
    later = started + timedelta(minutes=1)
    if transfer_to is not None:
        async with store.chat_turn(chat, f"{chat}:transfer") as turn:
            assert turn is not None and turn.session is not None
            sending = turn.session
            sending.metadata["Session.TransferredTo.TenantId"] = transfer_to
            sending.end(SessionState.TRANSFERRED, later)
            receiving = Session.open(
                conversation_id=chat,
                tenant_id=transfer_to,
                tenant_name=NAMES[transfer_to],
                metadata={
                    **guest_facts(guest, email),
                    "Session.TransferredFrom.TenantId": "helpdesk",
                },
                hops=1,
                now=later,
            )
            receiving.position = Position("intake", "detail", "question", later)
            record = TransferRecord(
                chat, sending.id, receiving.id, "helpdesk", transfer_to, later, f"{chat}:transfer"
            )
            await turn.commit(
                TurnWrites([sending, receiving], bound_session_id=receiving.id, transfers=[record])
            )
        sessions = [sending, receiving]
    elif end:
        async with store.chat_turn(chat, f"{chat}:end") as turn:
            assert turn is not None and turn.session is not None
            turn.session.end(SessionState.ENDED, later)
            await turn.commit(TurnWrites([turn.session]))
        sessions = [turn.session]
    return sessions
