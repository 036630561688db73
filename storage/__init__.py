"""Where Crossdesk keeps sessions, bindings and the SDK's state: one contract, several backends."""

from storage.base import ConflictError, SessionStore, StorageError

__all__ = ["ConflictError", "SessionStore", "StorageError"]
