"""An ingest process that stops at a chosen point, so a test can kill it exactly there.

    python reliability_ingest_worker.py CORPUS                      # ready, "go [N]", ingest
    python reliability_ingest_worker.py --pause-at N --cli ARGS...  # azsdk-rag ARGS at once

Settings come from the environment (AZSDK_RAG_*). Without ``--cli`` it imports everything and
loads the embedders, prints ``ready``, waits for a line ``go`` or ``go N`` (pause at N) on stdin,
then runs the real ingest (``azsdk_rag.ingest.pipeline.ingest``, as ``azsdk-rag ingest`` does)
and prints the report as JSON; start-up (seconds of imports on a busy machine) is thus kept out
of the test's waiting. With ``--cli`` it runs the real command line instead.

Pausing at N: once this process has written N new points (the batch that crosses N is cut there),
or when every new point is written and nothing stale is deleted yet, it prints ``paused N`` and
waits for stdin to close. ``go commit`` pauses inside the switch instead: the new version is
complete and renamed, the pointer not yet replaced. A SIGKILL then lands at exactly that point of
the ingest, whatever the machine's speed: no polling of the store, no race with the ingest's end.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any


def pause_at(points: int) -> None:
    """Make the ingest stop for good after ``points`` new points (see the module doc)."""
    from azsdk_rag.ingest.indexer import Indexer

    upsert, refresh = Indexer._upsert, Indexer._refresh_payloads
    written = 0

    def stop() -> None:
        print(f"paused {written}", flush=True)
        sys.stdin.read()  # until the test kills us (or goes away)
        raise SystemExit(3)

    def cut_upsert(self: Indexer, writer: Any, ids: list[str], docs: list[Any]) -> None:
        nonlocal written
        room = points - written
        if room >= len(ids):
            upsert(self, writer, ids, docs)
            written += len(ids)
            return
        if room > 0:  # half-way through a batch
            upsert(self, writer, ids[:room], docs[:room])
            written += room
        stop()

    def refresh_then_stop(self: Indexer, *args: Any) -> int:
        stop()  # every new point is written; the old ones are not deleted yet
        return refresh(self, *args)

    Indexer._upsert = cut_upsert  # type: ignore[method-assign]
    Indexer._refresh_payloads = refresh_then_stop  # type: ignore[method-assign]


def pause_in_commit() -> None:
    """Stop between renaming the finished version into place and replacing CURRENT."""
    from azsdk_rag.store import versions

    real = versions.write_atomically

    def write(path: Path, text: str) -> None:
        if path.name == versions.CURRENT:
            print("paused commit", flush=True)
            sys.stdin.read()
            raise SystemExit(3)
        real(path, text)

    versions.write_atomically = write  # type: ignore[assignment]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("corpus", nargs="?", type=Path)
    parser.add_argument("--pause-at", type=int)
    parser.add_argument("--cli", nargs=argparse.REMAINDER)
    args = parser.parse_args()
    if args.pause_at is not None:
        pause_at(args.pause_at)
    if args.cli is not None:
        from azsdk_rag.cli import cli

        cli(args.cli, prog_name="azsdk-rag")
        return

    from azsdk_rag.embeddings import make_embedders
    from azsdk_rag.ingest.pipeline import ingest
    from azsdk_rag.settings import Settings

    settings = Settings()
    make_embedders(settings)  # cached per process: ingest() gets these, already loaded
    print("ready", flush=True)
    go = sys.stdin.readline().split()
    if not go:
        return  # the test went away
    if len(go) > 1 and go[1] == "commit":
        pause_in_commit()
    elif len(go) > 1:
        pause_at(int(go[1]))
    report = ingest(settings, corpus=[args.corpus], progress=False)
    print(json.dumps(report.to_dict()), flush=True)


if __name__ == "__main__":
    main()
