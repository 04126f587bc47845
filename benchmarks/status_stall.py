"""Does one client's ``status`` stall the others? (issue 14, item 1)

    .venv/bin/python -m benchmarks.status_stall [--rounds 20] [--status-ms 360] [--no-version]
                                                [--real]

The server runs in a process of its own. By default it serves the fake RAG of tests/support
whose ``status()`` holds the GIL for ``--status-ms`` milliseconds of pure-Python work (what
scrolling the whole embedded index cost: ~360 ms) and reports an index version (as a store with
per-version counts does), so it is computed once; ``--no-version`` leaves the version out, so
the server's cache expires every 5 s and the work recurs in a worker thread. ``--real`` serves
the real AzureSdkRag from the environment's settings (AZSDK_RAG_QDRANT_PATH: an index to count).

Measured in the same run, first alone, then while another client (a process of its own)
pipelines 20 ``status`` requests, reads the 20 answers, waits ``--pause`` s and does it again:
a fresh connection's ``initialize`` (connect + handshake) and an ``ask``, ``--rounds`` times
each. Printed: p50 and max in ms, and the ratio loaded / alone.
Goals: ``initialize`` under 20 ms while loaded, ``ask`` p50 within +25% of alone. Exit status 1
when a goal is missed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import time
from typing import Any

from tests.support.fake_rag import FakeRag
from tests.support.socket_clients import RpcClient, frame

QUESTION = "How do I upload a file to Azure Blob Storage in Python?"


class SlowStatusRag(FakeRag):
    """The fake RAG, with a ``status()`` that computes for a while holding the GIL."""

    def __init__(self, status_ms: float, versioned: bool) -> None:
        super().__init__(deltas=5, delay=0.002)
        self.status_ms = status_ms
        if versioned:
            self.index_version = lambda: 1

    def status(self) -> dict[str, Any]:
        end = time.perf_counter() + self.status_ms / 1000
        points = 0
        while time.perf_counter() < end:
            points += sum(range(200))  # pure Python, like scrolling payloads
        return {"backend": "fake", "points": points}


def serve(args: argparse.Namespace) -> None:
    """The server process: prints its ports as JSON, then serves until SIGTERM."""
    from azsdk_rag.server import serve as run
    from azsdk_rag.settings import Settings

    settings = Settings(host="127.0.0.1", port=0, rpc_port=0, token=None)
    if args.real:
        from azsdk_rag.rag import AzureSdkRag

        rag: Any = AzureSdkRag(Settings())
    else:
        rag = SlowStatusRag(args.status_ms, not args.no_version)

    def ready(server: Any) -> None:
        print(json.dumps({k: v[1] for k, v in server.addresses.items()}), flush=True)

    asyncio.run(run(rag, settings, ready=ready))


async def timed_initialize(port: int) -> float:
    started = time.perf_counter()
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    client = RpcClient(reader, writer)
    await client.initialize()
    elapsed = time.perf_counter() - started
    await client.close()
    return elapsed


async def timed_ask(client: RpcClient) -> float:
    started = time.perf_counter()
    reply, _ = await client.call("ask", {"question": QUESTION})
    assert "result" in reply, reply
    return time.perf_counter() - started


async def measure(port: int, rounds: int) -> dict[str, list[float]]:
    inits = [await timed_initialize(port) for _ in range(rounds)]
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    client = RpcClient(reader, writer)
    await client.initialize()
    await timed_ask(client)  # warm up
    asks = [await timed_ask(client) for _ in range(rounds)]
    await client.close()
    return {"initialize": inits, "ask": asks}


async def pipeline_status(port: int, stop: asyncio.Event, count: list[int],
                          pause: float) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    client = RpcClient(reader, writer)
    await client.initialize()
    batch = 0
    while not stop.is_set():
        ids = [10_000 * batch + n for n in range(20)]
        await client.send_raw(b"".join(
            frame({"jsonrpc": "2.0", "id": i, "method": "status"}) for i in ids))
        for i in ids:
            reply, _ = await client.response(i)
            assert "result" in reply, reply
            count[0] += 1
        batch += 1
        await asyncio.sleep(pause)
    await client.close()


def ms(values: list[float]) -> str:
    return f"p50 {statistics.median(values) * 1000:7.1f} ms, max {max(values) * 1000:7.1f} ms"


async def load_forever(port: int, pause: float) -> None:
    """The loading client's process: pipelines status batches until it is terminated."""
    stop, count = asyncio.Event(), [0]
    task = asyncio.ensure_future(pipeline_status(port, stop, count, pause))
    while count[0] < 20:
        await asyncio.sleep(0.01)
    print("loading", flush=True)
    await task


async def main_async(args: argparse.Namespace, port: int) -> int:
    alone = await measure(port, args.rounds)
    command = [sys.executable, "-m", "benchmarks.status_stall", "--load", str(port),
               "--pause", str(args.pause)]
    loader = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    try:
        assert loader.stdout is not None
        await asyncio.to_thread(loader.stdout.readline)  # its first 20 are answered
        loaded = await measure(port, args.rounds)
    finally:
        loader.terminate()
        loader.wait(10)
    ok = True
    for name in ("initialize", "ask"):
        ratio = statistics.median(loaded[name]) / statistics.median(alone[name])
        print(f"{name:10s} alone:  {ms(alone[name])}")
        print(f"{name:10s} loaded: {ms(loaded[name])}   ratio p50 {ratio:.2f}")
    init_ok = max(loaded["initialize"]) < 0.020
    ask_ratio = statistics.median(loaded["ask"]) / statistics.median(alone["ask"])
    print(f"goal initialize < 20 ms while loaded (max): {'met' if init_ok else 'MISSED'}")
    print(f"goal ask p50 within +25% of alone: {'met' if ask_ratio <= 1.25 else 'MISSED'}")
    ok = init_ok and ask_ratio <= 1.25
    return 0 if ok else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--status-ms", type=float, default=360.0)
    parser.add_argument("--pause", type=float, default=0.05)
    parser.add_argument("--no-version", action="store_true")
    parser.add_argument("--real", action="store_true")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--load", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.load:
        asyncio.run(load_forever(args.load, args.pause))
        return 0
    if args.serve:
        serve(args)
        return 0
    command = [sys.executable, "-m", "benchmarks.status_stall", "--serve",
               "--status-ms", str(args.status_ms)] + (["--real"] if args.real else []) + (
                   ["--no-version"] if args.no_version else [])
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        ports = json.loads(proc.stdout.readline())
        return asyncio.run(main_async(args, ports["rpc"]))
    finally:
        proc.terminate()
        proc.wait(10)


if __name__ == "__main__":
    sys.exit(main())
