"""Fixtures for the reliability tests: one small real index, the loopback Azure OpenAI server.

The index is built once per session by the real ingest (real embedders, embedded Qdrant) from
three READMEs: two small ones of the sample corpus and one with planted instructions. It is left
closed, so every test opens it through the code under test (``AzureSdkRag(settings)``) and a
subprocess can open it too.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from azsdk_rag.settings import Settings
from support.azure_openai_server import AzureOpenAIServer
from support.reliability_fixtures import (
    KEY,
    planted_row,
    small_rows,
    write_rows,
)

INDEX_PACKAGES = ("azure-mgmt-storage", "azure-resourcemanager-storage")


@pytest.fixture(scope="session")
def reliability_corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    rows = [*small_rows(*INDEX_PACKAGES), planted_row()]
    return write_rows(tmp_path_factory.mktemp("reliability-corpus") / "corpus.jsonl", rows)


@pytest.fixture(scope="session")
def reliability_index(tmp_path_factory: pytest.TempPathFactory, reliability_corpus: Path,
                      settings_factory: Callable[..., Settings]) -> Path:
    """Path of a closed embedded index: python (2 READMEs, one planted) and java (1 README)."""
    from azsdk_rag.ingest.pipeline import ingest

    path = tmp_path_factory.mktemp("reliability-index") / "qdrant"
    report = ingest(settings_factory(qdrant_path=str(path)), corpus=[reliability_corpus],
                    progress=False)
    assert report.written > 0
    return path


@pytest.fixture
def azure_srv() -> Iterator[AzureOpenAIServer]:
    """A loopback Azure OpenAI server that wants our key (so requests prove they carried it)."""
    with AzureOpenAIServer(api_key=KEY) as srv:
        yield srv
    assert not srv.errors, f"the loopback server crashed: {srv.errors!r}"


@pytest.fixture
def azure_settings(reliability_index: Path, azure_srv: AzureOpenAIServer,
                   settings_factory: Callable[..., Settings]) -> Callable[..., Settings]:
    """Settings for AzureSdkRag(llm="azure") over the reliability index and the loopback server."""

    def make(**overrides: object) -> Settings:
        values: dict[str, object] = {
            "qdrant_path": str(reliability_index), "llm": "azure",
            "azure_openai_endpoint": azure_srv.endpoint, "azure_openai_api_key": KEY,
            "max_retries": 2, "request_timeout": 1.0,
        }
        values.update(overrides)  # a value of ... drops the setting (the environment's counts)
        return settings_factory(**{k: v for k, v in values.items() if v is not ...})

    return make
