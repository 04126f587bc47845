"""Shared fixtures: offline models and encodings from ../shared, sample corpus, sample index."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("AZSDK_RAG_SHARED", ROOT.parent / "shared"))
MODELS = SHARED / "models"
SAMPLE = SHARED / "corpus" / "sample"
CORPUS = SHARED / "corpus"
EVAL = SHARED / "eval" / "questions.jsonl"

# Offline everywhere: the tests never download (see README, "Offline use").
os.environ.setdefault("TIKTOKEN_CACHE_DIR", str(SHARED / "tiktoken"))
os.environ.setdefault("HF_HUB_OFFLINE", "1")


# Fixtures that make a test slow: each is a real ingest with the real embedders (the sample
# corpus is some 750 chunks). Tests that use one are marked ``slow``, like the tests that start
# another process or run a notebook; ``make test-fast`` (-m "not slow") leaves them out.
SLOW_FIXTURES = frozenset({"sample_index", "reliability_index"})


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if SLOW_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No developer setting or key leaks into a test; tests set what they need."""
    for name in list(os.environ):
        if name.startswith(("AZSDK_RAG_", "AZURE_OPENAI_", "OPENAI_")):
            monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="session")
def model_dir() -> Path:
    if not MODELS.is_dir():
        pytest.skip(f"offline models not found at {MODELS}")
    return MODELS


@pytest.fixture(scope="session")
def sample_dir() -> Path:
    return SAMPLE


@pytest.fixture(scope="session")
def settings_factory(model_dir: Path):
    from azsdk_rag.settings import Settings

    def make(**kwargs: object) -> Settings:
        base: dict[str, object] = {"qdrant_path": ":memory:", "model_dir": model_dir}
        base.update(kwargs)
        return Settings(**base)

    return make


@pytest.fixture(scope="session")
def sample_index(tmp_path_factory: pytest.TempPathFactory, settings_factory) -> Iterator[object]:
    """The sample corpus ingested once into an embedded store shared by the whole session."""
    from azsdk_rag.ingest.pipeline import ingest
    from azsdk_rag.store import Store

    settings = settings_factory(qdrant_path=str(tmp_path_factory.mktemp("sample-index")))
    store = Store.open(settings)
    ingest(settings, corpus=[SAMPLE], store=store, progress=False)
    yield store
    store.close()
