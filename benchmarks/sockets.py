"""What the socket adapters cost: latency through the sockets vs calling the RAG directly, memory.

    .venv/bin/python -m benchmarks.sockets [--clients 1 10 50] [--real]

The server runs in a process of its own (as in production) over the deterministic fake RAG of
tests/support (``--deltas`` pieces, ``--delay`` seconds before each: 20 x 5 ms by default, a
stream several times faster than a real model's); the same fake, called in
this process, is the baseline. Reported, at each number of concurrent clients: time to first
delta and time to the whole answer (p50/p95) directly, over JSON-RPC/TCP and over the legacy
wire (whose one reply is the whole answer, after its quiet window); then the server's memory per
idle connection, and its RSS before/after 1,000 malformed inputs. Goals: JSON-RPC adds <= 5 ms
p50 to time-to-first-delta at 1 client and <= 20 ms at 50; RSS after the malformed inputs within
10% of before. Exit status 1 when a goal is missed.

``--real`` serves and calls the real AzureSdkRag built from the environment's settings instead.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from tests.support.fake_rag import FakeRag
from tests.support.socket_clients import SERVE_FAKE, RpcClient, frame

from azsdk_rag.types import DeltaEvent, RagService

ROOT = Path(__file__).resolve().parents[1]

QUESTIONS_REAL = [
    "How do I upload a file to Azure Blob Storage in Python?",
    "How do I send a message to a Service Bus queue in .NET?",
    "How do I read a secret from Key Vault in Java?",
    "How do I authenticate with DefaultAzureCredential in JavaScript?",
]


# -- measuring ----------------------------------------------------------------------------------


def rss_of(pid: int) -> int:
    """Resident set size in bytes (psutil when present, else /proc)."""
    try:
        import psutil

        return int(psutil.Process(pid).memory_info().rss)
    except ImportError:
        with open(f"/proc/{pid}/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    raise RuntimeError("cannot read the server's RSS")


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


class Samples:
    def __init__(self) -> None:
        self.first: list[float] = []
        self.whole: list[float] = []

    def add(self, first: float, whole: float) -> None:
        self.first.append(first * 1000)
        self.whole.append(whole * 1000)


def question(i: int, j: int, real: bool) -> str:
    if real:
        return QUESTIONS_REAL[(i + j) % len(QUESTIONS_REAL)]
    return f"How do I list blobs in python? client {i} question {j}"


async def run_clients(clients: int, asks: int, one: Callable[[int], Awaitable[Samples]]) -> Samples:
    results = await asyncio.gather(*(one(i) for i in range(clients)))
    merged = Samples()
    for r in results:
        merged.first += r.first
        merged.whole += r.whole
    return merged


async def direct(rag: RagService, clients: int, asks: int, real: bool) -> Samples:
    async def one(i: int) -> Samples:
        samples = Samples()
        for j in range(asks):
            start = time.perf_counter()
            first = None
            async for event in rag.astream(question(i, j, real), session_id=f"direct-{i}"):
                if isinstance(event, DeltaEvent) and first is None:
                    first = time.perf_counter()
            end = time.perf_counter()
            samples.add((first or end) - start, end - start)
        return samples

    return await run_clients(clients, asks, one)


async def over_jsonrpc(port: int, clients: int, asks: int, real: bool) -> Samples:
    async def one(i: int) -> Samples:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        client = RpcClient(reader, writer)
        samples = Samples()
        try:
            await client.initialize()
            for j in range(asks):
                start = time.perf_counter()
                request_id = await client.request("ask", {"question": question(i, j, real)})
                first = None
                while True:
                    message = await client.read(timeout=120)
                    assert message is not None, "server closed the connection"
                    if message.get("method") == "answer/delta" and first is None:
                        first = time.perf_counter()
                    elif message.get("id") == request_id and "method" not in message:
                        assert "result" in message, message
                        break
                end = time.perf_counter()
                samples.add((first or end) - start, end - start)
        finally:
            await client.close()
        return samples

    return await run_clients(clients, asks, one)


async def over_legacy(port: int, clients: int, asks: int, real: bool) -> Samples:
    async def one(i: int) -> Samples:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        samples = Samples()
        try:
            for j in range(asks):
                start = time.perf_counter()
                writer.write(question(i, j, real).encode())
                reply = await asyncio.wait_for(reader.read(1 << 20), 120)
                assert reply, "empty reply"
                end = time.perf_counter()
                samples.add(end - start, end - start)  # the one reply is the whole answer
        finally:
            writer.close()
            await writer.wait_closed()
        return samples

    return await run_clients(clients, asks, one)


# -- memory -------------------------------------------------------------------------------------


async def idle_connections(pid: int, port: int, count: int, rpc: bool) -> float:
    """Server RSS growth per idle connection, in KiB."""
    before = rss_of(pid)
    opened = []
    for _ in range(count):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        if rpc:
            await RpcClient(reader, writer).initialize()
        opened.append(writer)
    await asyncio.sleep(0.3)
    after = rss_of(pid)
    for writer in opened:
        writer.close()
    await asyncio.gather(*(w.wait_closed() for w in opened), return_exceptions=True)
    await asyncio.sleep(0.3)
    return (after - before) / count / 1024


def _body(data: bytes) -> bytes:
    return b"Content-Length: %d\r\n\r\n%b" % (len(data), data)


def malformed_rpc() -> list[bytes]:
    return [
        b"Content-Length: abc\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
        _body(b"{not json"),
        _body(b"\xff\xfe\xfd"),
        _body(b"[" * 50_000),
        b"Content-Length: 99999999\r\n\r\n",
        b"X-Pad: " + b"a" * 20_000 + b"\r\n\r\n",
        frame({"jsonrpc": "2.0", "id": 1, "method": "ask", "params": {"question": 5}}),
        frame({"jsonrpc": "2.0", "id": 1, "method": "nope"}),
        b"Content-Length: 100\r\n\r\n{",
    ]


MALFORMED_LEGACY = [b"\xff\xfe\xfd", b"x" * 70_000, b"POST / HTTP/1.1\r\nHost: x\r\n\r\n", b"   "]


async def malformed(ports: dict[str, int], count: int, concurrency: int = 25) -> None:
    inputs = [("rpc", m) for m in malformed_rpc()] + [("legacy", m) for m in MALFORMED_LEGACY]
    gate = asyncio.Semaphore(concurrency)

    async def one(k: int) -> None:
        kind, data = inputs[k % len(inputs)]
        async with gate:
            reader, writer = await asyncio.open_connection("127.0.0.1", ports[kind])
            try:
                writer.write(data)
                if data.endswith(b"{"):
                    writer.write_eof()
                await asyncio.wait_for(reader.read(1 << 16), 10)  # a reply or the close
            finally:
                writer.close()
                await asyncio.gather(writer.wait_closed(), return_exceptions=True)

    await asyncio.gather(*(one(k) for k in range(count)))


# -- the server process -------------------------------------------------------------------------


def make_real_rag(settings: Any) -> RagService:
    """The real RAG, as the CLI builds it (the lead owns its constructor)."""
    try:
        from azsdk_rag.rag import AzureSdkRag
    except ImportError as exc:
        raise SystemExit(f"--real needs azsdk_rag.rag.AzureSdkRag: {exc}") from None
    factory = getattr(AzureSdkRag, "from_settings", None)
    return factory(settings) if factory is not None else AzureSdkRag(settings)


def serve_real() -> None:
    """The server process of ``--real``: prints its ports as JSON, then serves until SIGTERM."""
    from azsdk_rag.server import Limits, serve
    from azsdk_rag.settings import Settings

    settings = Settings(host="127.0.0.1", port=0, rpc_port=0)

    def ready(server: Any) -> None:
        print(json.dumps({k: a[1] for k, a in server.addresses.items()}), flush=True)

    limits = Limits(max_connections=2000)
    asyncio.run(serve(make_real_rag(settings), settings, ready=ready, limits=limits))


def start_server(args: argparse.Namespace) -> tuple[subprocess.Popen[str], dict[str, int]]:
    if args.real:
        command = [sys.executable, "-m", "benchmarks.sockets", "--serve-real"]
    else:
        command = [
            sys.executable,
            str(SERVE_FAKE),
            "--deltas",
            str(args.deltas),
            "--delay",
            str(args.delay),
            "--max-connections",
            "2000",
            "--log-level",
            "ERROR",
        ]
    proc = subprocess.Popen(
        command,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=None if args.verbose else subprocess.DEVNULL,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line:
        proc.wait()
        raise SystemExit("the server did not start (run with --verbose to see why)")
    return proc, json.loads(line)


def make_direct_rag(args: argparse.Namespace) -> RagService:
    if args.real:
        from azsdk_rag.settings import Settings

        return make_real_rag(Settings())
    return FakeRag(deltas=args.deltas, delay=args.delay)


# -- report -------------------------------------------------------------------------------------


def fmt(values: list[float]) -> str:
    return f"{pct(values, 0.5):7.2f} / {pct(values, 0.95):7.2f}"


def asks_for(args: argparse.Namespace, clients: int) -> int:
    return args.asks or max(3, 60 // clients)


async def main_async(args: argparse.Namespace) -> int:
    # The baseline first, then the RAG is closed: an embedded store admits one process at a time.
    rag = make_direct_rag(args)
    await direct(rag, 2, 3, args.real)  # warm up
    baseline = {c: await direct(rag, c, asks_for(args, c), args.real) for c in args.clients}
    close = getattr(rag, "close", None)
    if callable(close):
        close()

    proc, ports = start_server(args)
    failures: list[str] = []
    try:
        await over_jsonrpc(ports["rpc"], 2, 3, args.real)  # warm up the server
        await over_legacy(ports["legacy"], 2, 2, args.real)

        print(
            f"\nlatency in ms, p50 / p95 (fake model: {args.deltas} deltas, "
            f"{args.delay * 1000:g} ms before each)"
            if not args.real
            else "\nlatency in ms, p50 / p95 (real RAG)"
        )
        header = (
            f"{'clients':>7}  {'what':<14} {'direct':>17} {'json-rpc tcp':>17} "
            f"{'legacy':>17}  {'rpc overhead p50':>16}  goal"
        )
        print(header)
        print("-" * len(header))
        for clients in args.clients:
            asks = asks_for(args, clients)
            base = baseline[clients]
            rpc = await over_jsonrpc(ports["rpc"], clients, asks, args.real)
            old = await over_legacy(ports["legacy"], clients, asks, args.real)
            goal = 5.0 if clients == 1 else 20.0 if clients >= 50 else None
            for what, b, r, o in (
                ("first delta", base.first, rpc.first, old.first),
                ("whole answer", base.whole, rpc.whole, old.whole),
            ):
                overhead = pct(r, 0.5) - pct(b, 0.5)
                verdict = ""
                if what == "first delta" and goal is not None:
                    ok = overhead <= goal
                    verdict = f"<= {goal:g} ms {'PASS' if ok else 'FAIL'}"
                    if not ok:
                        failures.append(f"first-delta overhead at {clients} clients")
                print(
                    f"{clients:>7}  {what:<14} {fmt(b)} {fmt(r)} {fmt(o)}  "
                    f"{overhead:16.2f}  {verdict}"
                )
        print("(legacy: one reply is the whole answer, sent after the 50 ms quiet window)")

        pid = proc.pid
        per_rpc = await idle_connections(pid, ports["rpc"], args.idle, rpc=True)
        per_old = await idle_connections(pid, ports["legacy"], args.idle, rpc=False)
        print(
            f"\nmemory per idle connection ({args.idle} open): "
            f"json-rpc {per_rpc:.1f} KiB, legacy {per_old:.1f} KiB"
        )

        await malformed(ports, 100)  # warm up the error paths
        await asyncio.sleep(0.2)
        before = rss_of(pid)
        started = time.perf_counter()
        await malformed(ports, args.malformed)
        elapsed = time.perf_counter() - started
        await asyncio.sleep(0.3)
        after = rss_of(pid)
        growth = (after - before) / before * 100
        ok = growth <= 10
        if not ok:
            failures.append("RSS growth after malformed inputs")
        print(
            f"server RSS before / after {args.malformed} malformed inputs: "
            f"{before / 2**20:.1f} / {after / 2**20:.1f} MiB ({growth:+.1f}%, goal <= +10% "
            f"{'PASS' if ok else 'FAIL'}; {elapsed:.1f} s)"
        )

        reader, writer = await asyncio.open_connection("127.0.0.1", ports["rpc"])
        client = RpcClient(reader, writer)
        await client.initialize()
        reply, _ = await client.call("status")
        await client.close()
        print(f"server still answers afterwards: {'result' in reply}")
        if "result" not in reply:
            failures.append("server stopped answering")
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
    if failures:
        print("\nmissed: " + "; ".join(failures))
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 10, 50])
    parser.add_argument("--asks", type=int, default=0, help="per client (default: ~60 in all)")
    # 20 deltas 5 ms apart: 200 deltas/s per stream, several times faster than real models.
    parser.add_argument("--deltas", type=int, default=20)
    parser.add_argument("--delay", type=float, default=0.005)
    parser.add_argument("--idle", type=int, default=200, help="idle connections to measure")
    parser.add_argument("--malformed", type=int, default=1000)
    parser.add_argument("--real", action="store_true", help="the real AzureSdkRag")
    parser.add_argument("--verbose", action="store_true", help="show the server's log")
    parser.add_argument("--serve-real", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve_real:
        serve_real()
        return 0
    return asyncio.run(main_async(args))


if __name__ == "__main__":
    sys.exit(main())
