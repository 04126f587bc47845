"""Building the index: ``sources.py`` -> ``chunking.py`` -> ``indexer.py``, run by ``pipeline.py``.

The package is also the ingest job, so ``azsdk_rag.ingest`` can be called:

    >>> from azsdk_rag import Settings, ingest
    >>> report = ingest(Settings(), corpus=[Path("python.jsonl")])
    >>> report.written, report.unchanged, report.deleted

It runs :func:`azsdk_rag.ingest.pipeline.ingest` (imported on the first call).
"""

from __future__ import annotations

import sys
import types
from typing import Any


class _IngestPackage(types.ModuleType):
    """A package that can be called like its job: ``azsdk_rag.ingest(settings, ...)``.

    Why: ``ingest`` is both this package's name and the function users want under that name, and
    the import system sets ``azsdk_rag.ingest`` to the package as soon as any of its modules is
    imported; so the package itself is the function.
    """

    def __call__(self, settings: Any, **kwargs: Any) -> Any:
        from .pipeline import ingest

        return ingest(settings, **kwargs)


sys.modules[__name__].__class__ = _IngestPackage
