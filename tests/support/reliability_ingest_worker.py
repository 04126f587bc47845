"""An ingest process that is ready before it starts, so a test can kill it at a chosen moment.

    python reliability_ingest_worker.py CORPUS     # settings from the environment (AZSDK_RAG_*)

It imports everything and loads the embedders, prints ``ready``, waits for a line on stdin, then
runs the real ingest (``azsdk_rag.ingest.pipeline.ingest``, as ``azsdk-rag ingest`` does) and
prints the report as JSON. Start-up (seconds of imports on a busy machine) is thus kept out of
the random delays of the killed-ingest test: those land inside the ingest itself.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def main() -> None:
    from azsdk_rag.embeddings import make_embedders
    from azsdk_rag.ingest.pipeline import ingest
    from azsdk_rag.settings import Settings

    settings = Settings()
    make_embedders(settings)  # cached per process: ingest() gets these, already loaded
    print("ready", flush=True)
    if not sys.stdin.readline():
        return  # the test went away
    report = ingest(settings, corpus=[Path(sys.argv[1])], progress=False)
    print(json.dumps(report.to_dict()), flush=True)


if __name__ == "__main__":
    main()
