"""Serve the fake RAG in a process of its own: over stdio, or over TCP on ephemeral ports.

    python tests/support/serve_fake.py --stdio
    python tests/support/serve_fake.py            # prints {"rpc": port, "legacy": port}

Tests and benchmarks/sockets.py spawn it to exercise real pipes, signals and process exit.
Logs go to stderr; over stdio, stdout carries nothing but protocol frames.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys

from fake_rag import FakeRag

from azsdk_rag.server import Limits, Server, serve
from azsdk_rag.settings import Settings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--stdio", action="store_true")
    parser.add_argument("--deltas", type=int, default=3)
    parser.add_argument("--delay", type=float, default=0.0)
    parser.add_argument("--answer", default=None, help="Fixed answer text (default: echo).")
    parser.add_argument("--idle", type=float, default=900.0)
    parser.add_argument("--handshake", type=float, default=30.0)
    parser.add_argument("--max-connections", type=int, default=256)
    parser.add_argument("--token", default=None)
    parser.add_argument("--log-level", default="WARNING")
    args = parser.parse_args()
    logging.basicConfig(level=args.log_level, stream=sys.stderr)

    rag = FakeRag(deltas=args.deltas, delay=args.delay)
    if args.answer is not None:
        rag = FakeRag(answer=args.answer, deltas=args.deltas, delay=args.delay)
    settings = Settings(host="127.0.0.1", port=0, rpc_port=0, token=args.token)
    limits = Limits(idle_timeout=args.idle, max_connections=args.max_connections,
                    handshake_timeout=args.handshake,
                    first_message_timeout=min(args.handshake, 10.0))

    def ready(server: Server) -> None:
        if not args.stdio:
            ports = {name: addr[1] for name, addr in server.addresses.items()}
            print(json.dumps(ports), flush=True)

    sys.exit(asyncio.run(serve(rag, settings, stdio=args.stdio, ready=ready, limits=limits)))


if __name__ == "__main__":
    main()
