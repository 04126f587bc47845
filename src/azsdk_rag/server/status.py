"""``status`` without stalling the server: the RAG's status off the event loop, computed once.

``RagService.status()`` is synchronous and may read the whole index (counting points per
language scrolls it: hundreds of milliseconds). Run on the event loop, one client asking for it
stalled every other client. Here it runs in a worker thread, one computation at a time however
many clients ask (they share it), and the result is kept while the index is unchanged: keyed by
``rag.index_version()`` when the RAG has one (a cheap identity of the index's contents, itself
asked at most every ``recheck`` seconds, off the loop), else for ``ttl`` seconds.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from azsdk_rag.types import RagService

logger = logging.getLogger(__name__)

_UNSET = object()


class StatusCache:
    """One per server: ``await cache.get()`` is ``rag.status()``, shared and reused.

        cache = StatusCache(rag)
        data = await cache.get()   # computed in a thread; the next call reuses it
    """

    def __init__(self, rag: RagService, ttl: float = 5.0, recheck: float = 1.0) -> None:
        self._rag = rag
        self._ttl = ttl
        self._recheck = recheck
        self._checked = 0.0
        self._key: Any = _UNSET
        self._value: Any = None
        self._expires = 0.0
        self._running: asyncio.Future[Any] | None = None

    def _version(self) -> Any:
        version = getattr(self._rag, "index_version", None)
        return version() if callable(version) else None

    def _compute(self) -> tuple[Any, Any]:
        """(version, status) read in one thread: the version first, so a change during the
        count makes the next call count again rather than keep a stale answer."""
        key = self._version()
        return key, self._rag.status()

    async def get(self) -> Any:
        loop = asyncio.get_running_loop()
        if self._key is not _UNSET:
            if self._key is None:
                if loop.time() < self._expires:
                    return self._value
            elif loop.time() < self._checked + self._recheck:
                return self._value
            elif await asyncio.to_thread(self._version) == self._key:
                self._checked = loop.time()
                return self._value
        if self._running is None or self._running.done():
            self._running = asyncio.ensure_future(self._refresh())
        # Shielded: a cancelled caller must not cancel the computation others are waiting for.
        return await asyncio.shield(self._running)

    async def _refresh(self) -> Any:
        loop = asyncio.get_running_loop()
        key, value = await asyncio.to_thread(self._compute)
        self._key, self._value = key, value
        self._expires = self._checked = loop.time()
        self._expires += self._ttl
        return value

    def forget(self) -> None:
        """Drop the kept status (the next ``get`` computes it again)."""
        self._key = _UNSET
