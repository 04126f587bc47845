"""Serve the fake RAG on ephemeral TCP ports for the soak, without its test-only memory.

    python tests/support/reliability_serve.py [--max-connections N]   # prints {"rpc", "legacy"}

Like serve_fake.py, but without the FakeRag's test-only memory: its records of calls and resets
(kept for assertions) are bounded, and each session's history keeps a count of turns (all the
fake's answers use) instead of every question. A soak then measures the server, not the fake.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
from collections import deque

from fake_rag import FakeRag

from azsdk_rag.server import Limits, Server, serve
from azsdk_rag.settings import Settings


class _Turns:
    """A session's history as the fake uses it: ``append`` and ``len``, nothing kept."""

    def __init__(self) -> None:
        self.count = 0

    def append(self, _question: str) -> None:
        self.count += 1

    def __len__(self) -> int:
        return self.count


class _Sessions(dict):  # type: ignore[type-arg]
    def setdefault(self, key: object, default: object = None) -> _Turns:
        if key not in self:
            self[key] = _Turns()
        return self[key]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--max-connections", type=int, default=256)
    parser.add_argument("--log-level", default="WARNING")
    args = parser.parse_args()
    logging.basicConfig(level=args.log_level, stream=sys.stderr)

    rag = FakeRag()
    rag.calls = deque(maxlen=64)  # type: ignore[assignment]
    rag.resets = deque(maxlen=64)  # type: ignore[assignment]
    rag.history = _Sessions()
    settings = Settings(host="127.0.0.1", port=0, rpc_port=0, token=None)
    limits = Limits(max_connections=args.max_connections)

    def ready(server: Server) -> None:
        print(json.dumps({name: addr[1] for name, addr in server.addresses.items()}), flush=True)

    asyncio.run(serve(rag, settings, ready=ready, limits=limits))


if __name__ == "__main__":
    main()
