"""HTTP API over an index (FastAPI)."""

from .app import create_app

__all__ = ["create_app"]
