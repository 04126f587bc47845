"""The index: Qdrant Edge in process (the default), or a Qdrant server.

``Store.open(settings)`` picks one: :class:`~.server.ServerStore` when ``AZSDK_RAG_QDRANT_URL``
is set, else the versioned Edge folder at ``AZSDK_RAG_QDRANT_PATH`` (:class:`~.edge.EdgeStore`).
qdrant-client is imported only for a server (or an index of the previous release).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from ..errors import StoreError
from ..settings import Settings
from .base import DENSE, RECORD_KEY, RRF_K, SCHEMA, SPARSE, Point, Store, Writer

__all__ = ["DENSE", "RECORD_KEY", "RRF_K", "SCHEMA", "SPARSE", "Point", "ServerStore", "Store",
           "StoreError", "Writer", "open_client", "store_errors"]


def __getattr__(name: str) -> Any:
    if name in ("ServerStore", "open_client"):
        from . import server

        return getattr(server, name)
    raise AttributeError(name)


@contextlib.contextmanager
def store_errors(settings: Settings) -> Iterator[None]:
    """Any failure of the server or the index folder, as one StoreError sentence."""
    if settings.uses_server:
        from .server import store_errors as server_errors

        with server_errors(settings):
            yield
        return
    from .edge import edge_errors

    with edge_errors(settings.location):
        yield
