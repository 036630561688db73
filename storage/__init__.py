"""Where Crossdesk keeps sessions, bindings and the SDK's state: one contract, several backends."""

from errors import ConflictError, StorageError
from storage.base import SessionStore

__all__ = ["ConflictError", "SessionStore", "StorageError"]
