"""The SDK's state storage (`botbuilder.core.Storage`) over a Crossdesk store.

Bot state documents hold SDK objects (`DialogState`, `DialogInstance`); they are written as
plain JSON with a small explicit codec, never pickled, so a stored document can only ever
become data. ETags follow the SDK's contract: a document read with an ETag is written back only
if nobody changed it since (else `ConflictError`), `"*"` or no ETag writes unconditionally.
"""

from __future__ import annotations

from typing import Any

from botbuilder.core import Storage
from botbuilder.dialogs import DialogInstance, DialogState

from storage.base import SessionStore

_DIALOG_STATE = "$dialogState"


def _encode(value: Any) -> Any:
    if isinstance(value, DialogState):
        return {
            _DIALOG_STATE: [
                {"id": instance.id, "state": _encode(instance.state)}
                for instance in value.dialog_stack
            ]
        }
    if isinstance(value, dict):
        return {key: _encode(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_encode(item) for item in value]
    if value is None or isinstance(value, str | int | float | bool):
        return value
    raise TypeError(f"cannot store a {type(value).__name__} in bot state")


def _decode(value: Any) -> Any:
    if isinstance(value, dict):
        if _DIALOG_STATE in value and len(value) == 1:
            return DialogState(
                [
                    DialogInstance(item["id"], _decode(item["state"]))
                    for item in value[_DIALOG_STATE]
                ]
            )
        return {key: _decode(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_decode(item) for item in value]
    return value


class StoreStateStorage(Storage):
    """`botbuilder.core.Storage` whose documents live in a `SessionStore`."""

    def __init__(self, store: SessionStore) -> None:
        super().__init__()
        self._store = store

    async def read(self, keys: list[str]) -> dict[str, Any]:
        found = await self._store.read_state(list(keys))
        return {key: {**_decode(doc), "e_tag": etag} for key, (doc, etag) in found.items()}

    async def write(self, changes: dict[str, Any]) -> None:
        for key, change in (changes or {}).items():
            document = dict(change) if isinstance(change, dict) else dict(vars(change))
            etag = document.pop("e_tag", None)
            new_etag = await self._store.write_state(key, _encode(document), etag)
            if isinstance(change, dict):
                change["e_tag"] = new_etag

    async def delete(self, keys: list[str]) -> None:
        await self._store.delete_state(list(keys))
