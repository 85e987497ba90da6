"""The on-disk index: persistence and lifecycle (create, open, add, sync, remove, commit)."""

from .index import Index, UpdateReport

__all__ = ["Index", "UpdateReport"]
