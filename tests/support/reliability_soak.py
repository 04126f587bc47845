"""The soak: many clients asking many questions of one server process, while its RSS and open file
descriptors are sampled from /proc. Used by benchmarks/soak.py (the full load) and by
tests/reliability/test_soak.py (a reduced one).

The server runs in a process of its own, as in production: ``fake`` is
tests/support/reliability_serve.py (the deterministic FakeRag, its test-only call records bounded:
every answer is known, so a wrong one counts as an error); ``real`` is
``azsdk-rag serve`` over an embedded index with the offline extractive model. A share of the
clients speak the legacy raw-text wire, the rest JSON-RPC; each keeps its connection (its chat
session) for all its questions.

Phases: the idle server; every client connected and warmed up (its first questions answered) --
the baseline; the load, sampled every ``sample_every`` s; the end of the load with every client
still connected; every client gone. Goals: zero errors, RSS and descriptors during and after the
load within 10% of the warm-up baseline, and the descriptors of the idle server back to their
level before the load.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .socket_clients import RpcClient

ROOT = Path(__file__).resolve().parents[2]
CLI = ROOT / ".venv" / "bin" / "azsdk-rag"
SERVE = Path(__file__).resolve().parent / "reliability_serve.py"
REAL_QUESTIONS = (
    "/python how do I create a storage account with the management library?",
    "/java how do I create a storage account with the resource manager?",
    "/js how do I list storage accounts with @azure/arm-storage?",
    "/dotnet how do I create a Cosmos DB container?",
)
_LISTENING = re.compile(r"(rpc|legacy) protocol listening on \S+:(\d+)")


@dataclass
class SoakConfig:
    clients: int = 200
    questions: int = 50
    """Questions per client, the warm-up ones included."""
    warmup: int = 2
    legacy_share: float = 0.25
    reconnect_every: int = 0
    """Under load, a client closes its connection and opens a new one (a new chat) after this
    many questions; 0: one connection for all of them."""
    sample_every: float = 0.5
    question_timeout: float = 60.0
    server: str = "fake"  # "fake" or "real"
    index: Path | None = None
    """The embedded index of a ``real`` server."""
    env: dict[str, str] = field(default_factory=dict)
    """Extra environment of the server process (model and tiktoken folders for ``real``)."""


@dataclass
class Sample:
    phase: str
    t: float
    rss: int
    fds: int


@dataclass
class SoakResult:
    config: SoakConfig
    pid: int = 0
    answered: int = 0
    errors: list[str] = field(default_factory=list)
    samples: list[Sample] = field(default_factory=list)
    seconds: float = 0.0

    def phase(self, name: str) -> list[Sample]:
        return [s for s in self.samples if s.phase == name]

    def level(self, name: str) -> Sample:
        """The last sample of a phase (the steady value once it settled)."""
        found = self.phase(name)
        assert found, f"no sample in phase {name!r}"
        return found[-1]

    @property
    def warm(self) -> Sample:
        return self.level("warm")

    @property
    def load_max_rss(self) -> int:
        return max(s.rss for s in self.samples if s.phase in ("load", "end"))

    @property
    def load_fds(self) -> tuple[int, int]:
        values = [s.fds for s in self.samples if s.phase in ("load", "end")]
        return min(values), max(values)

    def checks(self) -> dict[str, tuple[bool, str]]:
        """Each goal: (met, what was measured)."""
        warm = self.warm
        rss_growth = self.load_max_rss / warm.rss - 1
        lo, hi = self.load_fds
        fd_drift = max(abs(lo - warm.fds), abs(hi - warm.fds)) / warm.fds
        idle0, idle1 = self.level("idle").fds, self.level("gone").fds
        return {
            "zero errors": (not self.errors, f"{len(self.errors)} errors"),
            "RSS within 10% of warm-up": (rss_growth <= 0.10, f"{rss_growth:+.1%}"),
            "fds within 10% of warm-up": (fd_drift <= 0.10, f"{lo}..{hi} vs {warm.fds}"),
            "fds back to idle after": (idle1 <= idle0, f"{idle1} vs {idle0} before"),
        }

    @property
    def goals(self) -> set[str]:
        """The checks that decide ``ok``. With churn, connections in transit move the descriptor
        count and the allocator's high-water mark by design: those are reported, not judged."""
        names = set(self.checks())
        if self.config.reconnect_every:
            names -= {"RSS within 10% of warm-up", "fds within 10% of warm-up"}
        return names

    @property
    def ok(self) -> bool:
        checks = self.checks()
        return all(checks[name][0] for name in self.goals)

    def table(self) -> str:
        cfg = self.config
        legacy = legacy_clients(cfg)
        churn = (f", a new connection every {cfg.reconnect_every} questions"
                 if cfg.reconnect_every else ", one connection each")
        lines = [
            f"soak: {cfg.clients} clients x {cfg.questions} questions "
            f"({cfg.clients - legacy} JSON-RPC, {legacy} legacy{churn}), {cfg.server} RAG, "
            f"server pid {self.pid}",
            f"answered {self.answered}, errors {len(self.errors)}, {self.seconds:.1f} s, "
            f"{self.answered / max(self.seconds, 1e-9):.0f} questions/s",
            "",
            f"{'phase':<28}{'RSS MiB':>10}{'open fds':>10}",
        ]
        rows = [("idle, before", self.level("idle")), ("after warm-up (baseline)", self.warm)]
        load = [s for s in self.samples if s.phase in ("load", "end")]
        if load:
            rows.append(("load, max RSS", max(load, key=lambda s: s.rss)))
            rows.append(("load, max fds", max(load, key=lambda s: s.fds)))
        rows += [("end of load", self.level("end")), ("all clients gone", self.level("gone"))]
        lines += [f"{name:<28}{s.rss / 2**20:>10.1f}{s.fds:>10d}" for name, s in rows]
        lines.append("")
        for goal, (met, measured) in self.checks().items():
            verdict = ("PASS" if met else "FAIL") if goal in self.goals else "info"
            lines.append(f"{verdict}  {goal:<28} {measured}")
        for error in self.errors[:10]:
            lines.append(f"  error: {error}")
        return "\n".join(lines)


def legacy_clients(cfg: SoakConfig) -> int:
    return round(cfg.clients * cfg.legacy_share)


# -- the server process --------------------------------------------------------------------------


def read_proc(pid: int) -> tuple[int, int]:
    """(RSS in bytes, open file descriptors) of a process, from /proc."""
    rss = 0
    with open(f"/proc/{pid}/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1]) * 1024
    return rss, len(os.listdir(f"/proc/{pid}/fd"))


@contextlib.contextmanager
def server_process(cfg: SoakConfig) -> Iterator[tuple[subprocess.Popen[str], dict[str, int]]]:
    """Start the server; yields it and its ports {"rpc", "legacy"}; stops it afterwards."""
    limit = str(max(256, 2 * cfg.clients + 16))  # closing connections count until they end
    env = {**os.environ, **cfg.env}
    with tempfile.TemporaryFile("w+") as log:
        if cfg.server == "fake":
            cmd = [sys.executable, str(SERVE), "--max-connections", limit]
            proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=log, text=True, env=env)
        else:
            assert cfg.index is not None, "a real server needs an index"
            env.update({"AZSDK_RAG_QDRANT_PATH": str(cfg.index), "AZSDK_RAG_LLM": "extractive"})
            cmd = [str(CLI), "-v", "serve", "--port", "0", "--rpc-port", "0"]
            proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=log, text=True,
                                    env=env)
        try:
            ports = _ports(proc, log, cfg.server)
            yield proc, ports
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            if proc.stdout:
                proc.stdout.close()


def _ports(proc: subprocess.Popen[str], log: Any, kind: str,
           timeout: float = 300) -> dict[str, int]:
    deadline = time.monotonic() + timeout
    if kind == "fake":
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if not line:
            log.seek(0)
            raise RuntimeError(f"the server did not start: {log.read()[-2000:]}")
        return {k: int(v) for k, v in json.loads(line).items()}
    ports: dict[str, int] = {}
    while len(ports) < 2:
        if proc.poll() is not None or time.monotonic() > deadline:
            log.seek(0)
            raise RuntimeError(f"the server did not start: {log.read()[-2000:]}")
        log.seek(0)
        ports = {m[1]: int(m[2]) for m in _LISTENING.finditer(log.read())}
        time.sleep(0.1)
    return ports


# -- the clients ---------------------------------------------------------------------------------


def fake_question(client: int, n: int) -> str:
    return f"How do I list blobs in python? client {client} question {n}"


def expected(cfg: SoakConfig, client: int, n: int, turn: int) -> str | None:
    """The answer a fake server must give (its sessions count turns); None: any non-empty one."""
    if cfg.server == "fake":
        return f"Answer {turn} to: {fake_question(client, n)}"
    return None


def question(cfg: SoakConfig, client: int, n: int) -> str:
    if cfg.server == "fake":
        return fake_question(client, n)
    return REAL_QUESTIONS[(client + n) % len(REAL_QUESTIONS)]


class _Client:
    def __init__(self, cfg: SoakConfig, n: int, ports: dict[str, int],
                 result: SoakResult) -> None:
        self.cfg = cfg
        self.n = n
        self.legacy = n < legacy_clients(cfg)
        self.port = ports["legacy" if self.legacy else "rpc"]
        self.result = result
        self.rpc: RpcClient | None = None
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None
        self.turn = 0  # questions asked on this connection (its chat session)

    async def connect(self) -> None:
        self.turn = 0
        reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
        if self.legacy:
            self.reader, self.writer = reader, writer
        else:
            self.rpc = RpcClient(reader, writer)
            await asyncio.wait_for(self.rpc.initialize(), self.cfg.question_timeout)

    async def ask(self, k: int) -> None:
        text = question(self.cfg, self.n, k)
        self.turn += 1
        try:
            got = await asyncio.wait_for(self._ask(text), self.cfg.question_timeout)
        except Exception as exc:  # every failure counts, and the soak goes on
            self.result.errors.append(f"client {self.n} question {k}: {type(exc).__name__} {exc}")
            return
        want = expected(self.cfg, self.n, k, self.turn)
        if (want is not None and got != want) or not got.strip() or got.startswith("**Error"):
            self.result.errors.append(f"client {self.n} question {k}: answer {got[:120]!r}")
            return
        self.result.answered += 1

    async def _ask(self, text: str) -> str:
        if self.rpc is not None:
            reply, _notes = await self.rpc.call("ask", {"question": text})
            if "error" in reply:
                raise RuntimeError(reply["error"]["message"])
            return reply["result"]["text"]
        assert self.reader is not None and self.writer is not None
        self.writer.write(text.encode())
        await self.writer.drain()
        data = await self.reader.read(1 << 20)
        if not data:
            raise ConnectionError("the server closed the connection")
        while True:  # one reply is one write; a long one may arrive in pieces
            try:
                more = await asyncio.wait_for(self.reader.read(1 << 20), 0.05)
            except asyncio.TimeoutError:
                break
            if not more:
                break
            data += more
        return data.decode()

    async def close(self) -> None:
        writer = self.rpc.writer if self.rpc is not None else self.writer
        self.rpc = self.reader = self.writer = None
        if writer is not None:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()

    async def reconnect(self) -> None:
        await self.close()
        try:
            await asyncio.wait_for(self.connect(), self.cfg.question_timeout)
        except Exception as exc:
            self.result.errors.append(f"client {self.n} reconnect: {type(exc).__name__} {exc}")


async def _sampler(pid: int, result: SoakResult, phase: list[str], every: float,
                   start: float) -> None:
    while True:
        rss, fds = read_proc(pid)
        result.samples.append(Sample(phase[0], time.monotonic() - start, rss, fds))
        await asyncio.sleep(every)


async def _settle(pid: int, result: SoakResult, name: str, start: float, target: int | None = None,
                  timeout: float = 30.0) -> None:
    """Wait (bounded) until the server's descriptors stop changing (or reach ``target``), then
    record the phase's level."""
    deadline = time.monotonic() + timeout
    last = -1
    while time.monotonic() < deadline:
        rss, fds = read_proc(pid)
        if (target is not None and fds <= target) or (target is None and fds == last):
            break
        last = fds
        await asyncio.sleep(0.2)
    rss, fds = read_proc(pid)
    result.samples.append(Sample(name, time.monotonic() - start, rss, fds))


async def run_soak_async(cfg: SoakConfig) -> SoakResult:
    result = SoakResult(cfg)
    with server_process(cfg) as (proc, ports):
        result.pid = proc.pid
        start = time.monotonic()
        await _settle(proc.pid, result, "idle", start)
        idle_fds = result.level("idle").fds
        clients = [_Client(cfg, n, ports, result) for n in range(cfg.clients)]

        async def warm(c: _Client) -> None:
            await c.connect()
            for k in range(cfg.warmup):
                await c.ask(k)

        await asyncio.gather(*(warm(c) for c in clients))
        await _settle(proc.pid, result, "warm", start)
        phase = ["load"]
        sampler = asyncio.create_task(_sampler(proc.pid, result, phase, cfg.sample_every, start))
        try:

            async def load(c: _Client) -> None:
                for k in range(cfg.warmup, cfg.questions):
                    if cfg.reconnect_every and (k - cfg.warmup) % cfg.reconnect_every == 0 \
                            and k > cfg.warmup:
                        await c.reconnect()
                    await c.ask(k)

            await asyncio.gather(*(load(c) for c in clients))
        finally:
            sampler.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sampler
        await _settle(proc.pid, result, "end", start)
        await asyncio.gather(*(c.close() for c in clients))
        await _settle(proc.pid, result, "gone", start, target=idle_fds)
        result.seconds = time.monotonic() - start
        if proc.poll() is not None:
            result.errors.append(f"the server exited with {proc.returncode}")
    return result


def run_soak(cfg: SoakConfig) -> SoakResult:
    return asyncio.run(run_soak_async(cfg))
