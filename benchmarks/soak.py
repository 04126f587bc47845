"""Soak the socket server: many clients, many questions, RSS and open descriptors sampled.

    .venv/bin/python -m benchmarks.soak [--clients 200] [--questions 50] [--legacy-share 0.25]
                                        [--reconnect-every N] [--real [--index PATH |
                                        --corpus FILE]] [--json]

The server runs in a process of its own: by default tests/support/serve_fake.py (the
deterministic FakeRag, so every answer is checked), with ``--real`` ``azsdk-rag serve`` over an
embedded index with the offline extractive model (``--index``, or one built here from ``--corpus``,
by default four small READMEs of ../shared/corpus/sample). Every client keeps one connection (a
quarter speak the legacy wire, the rest JSON-RPC) and asks its questions one after another; the
server's RSS and open file descriptors are read from /proc before, after warm-up, every half
second under load, at the end and after every client left. Goals: zero errors; RSS and
descriptors within 10% of their level after warm-up; descriptors back to the idle level at the
end. Prints a table; exit status 1 when a goal is missed.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from dataclasses import asdict
from pathlib import Path

from tests.support.reliability_soak import SoakConfig, run_soak

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("AZSDK_RAG_SHARED", ROOT.parent / "shared"))

SMALL = ("azure-mgmt-storage", "azure-resourcemanager-storage", "Microsoft.Azure.Cosmos",
         "@azure/arm-storage")


def offline_env() -> dict[str, str]:
    env = {"HF_HUB_OFFLINE": "1"}
    if (SHARED / "models").is_dir():
        env["AZSDK_RAG_MODEL_DIR"] = str(SHARED / "models")
    if (SHARED / "tiktoken").is_dir():
        env.setdefault("TIKTOKEN_CACHE_DIR", os.environ.get("TIKTOKEN_CACHE_DIR",
                                                            str(SHARED / "tiktoken")))
    return env


def small_corpus(folder: Path) -> Path:
    rows = {}
    for file in sorted((SHARED / "corpus" / "sample").glob("*.jsonl")):
        for line in file.read_text(encoding="utf-8").splitlines():
            row = json.loads(line)
            rows[row["package"]] = line
    path = folder / "small.jsonl"
    path.write_text("".join(rows[p] + "\n" for p in SMALL), encoding="utf-8")
    return path


def build_index(corpus: Path, folder: Path, env: dict[str, str]) -> Path:
    """Ingest ``corpus`` into a fresh embedded index (in this process, then closed)."""
    os.environ.update(env)
    from azsdk_rag.ingest.pipeline import ingest
    from azsdk_rag.settings import Settings

    index = folder / "index"
    report = ingest(Settings(qdrant_path=str(index)), corpus=[corpus], progress=False)
    print(f"index: {report.summary()}", file=sys.stderr)
    return index


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=200)
    parser.add_argument("--questions", type=int, default=50, help="Per client.")
    parser.add_argument("--warmup", type=int, default=2, help="Questions per client before the "
                        "baseline is taken.")
    parser.add_argument("--legacy-share", type=float, default=0.25)
    parser.add_argument("--reconnect-every", type=int, default=0, help="Under load, open a new "
                        "connection (a new chat) after this many questions; 0: never.")
    parser.add_argument("--real", action="store_true", help="Serve the real AzureSdkRag.")
    parser.add_argument("--index", type=Path, help="Embedded index for --real.")
    parser.add_argument("--corpus", type=Path, help="Corpus to index for --real.")
    parser.add_argument("--json", action="store_true", help="Print the result as JSON too.")
    args = parser.parse_args(argv)

    env = offline_env()
    with tempfile.TemporaryDirectory(prefix="azsdk-rag-soak-") as tmp:
        index = args.index
        if args.real and index is None:
            index = build_index(args.corpus or small_corpus(Path(tmp)), Path(tmp), env)
        cfg = SoakConfig(clients=args.clients, questions=args.questions, warmup=args.warmup,
                         legacy_share=args.legacy_share, reconnect_every=args.reconnect_every,
                         server="real" if args.real else "fake",
                         index=index, env=env,
                         question_timeout=120.0 if args.real else 60.0)
        result = run_soak(cfg)
    print(result.table())
    if args.json:
        data = {"config": {k: str(v) for k, v in asdict(cfg).items() if k != "env"},
                "answered": result.answered, "errors": result.errors,
                "seconds": result.seconds, "ok": result.ok,
                "samples": [asdict(s) for s in result.samples]}
        print(json.dumps(data))
    return 0 if result.ok else 1


if __name__ == "__main__":
    sys.exit(main())
