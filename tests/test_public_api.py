"""The declared public API: what ``azsdk_rag`` exports, a callable ``ingest``, one history type."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from pathlib import Path

import pytest
from langchain_core.messages import AIMessage, HumanMessage

import azsdk_rag
from azsdk_rag.errors import AzsdkRagError, SourceError
from azsdk_rag.rag import AzureSdkRag
from azsdk_rag.settings import Settings
from azsdk_rag.store import Store
from support.answering import sample_rag

NEEDED = {"AzureSdkRag", "Settings", "ingest", "IngestReport", "Answer", "Route", "Source",
          "Retrieval", "Hint", "Event", "RouteEvent", "SourcesEvent", "DeltaEvent", "DoneEvent",
          "History", "AzsdkRagError", "ConfigError", "SourceError", "StoreError",
          "StoreLockedError", "EmbedderMismatchError", "EmptyIndexError", "ModelError",
          "Language", "register_language", "unregister_language"}


def test_all_names_what_users_need_and_every_name_resolves() -> None:
    assert set(azsdk_rag.__all__) >= NEEDED
    for name in azsdk_rag.__all__:
        assert getattr(azsdk_rag, name) is not None, name
    errors = [getattr(azsdk_rag, n) for n in azsdk_rag.__all__ if n.endswith("Error")]
    assert all(issubclass(e, AzsdkRagError) for e in errors)
    with pytest.raises(AttributeError, match="no attribute 'nothing'"):
        _ = azsdk_rag.nothing  # type: ignore[attr-defined]


def test_ingest_is_callable_even_after_its_modules_are_imported(tmp_path: Path) -> None:
    import azsdk_rag.ingest.pipeline  # the import system rebinds azsdk_rag.ingest to the package

    assert callable(azsdk_rag.ingest)
    assert azsdk_rag.ingest.pipeline.ingest is not None
    settings = Settings(qdrant_path=str(tmp_path / "index"))
    with pytest.raises(SourceError, match=r"missing\.jsonl"):  # the job ran: it read the sources
        azsdk_rag.ingest(settings, corpus=[tmp_path / "missing.jsonl"])


def test_every_public_method_of_azure_sdk_rag_has_a_docstring_with_an_example() -> None:
    public = [name for name, member in vars(AzureSdkRag).items()
              if not name.startswith("_")
              and (callable(member) or isinstance(member, (property, classmethod)))]
    assert len(public) >= 15
    for name in public:
        doc = inspect.getdoc(getattr(AzureSdkRag, name)) or ""
        assert "rag." in doc or "AzureSdkRag." in doc, f"{name} has no example"


@pytest.mark.slow
def test_one_history_type_route_and_retrieve_take_the_same_turns(
        sample_index: Store, settings_factory: Callable[..., Settings]) -> None:
    as_pairs = [("user", "/python upload a file to a blob container"),
                ("assistant", "Use BlobClient.upload_blob.")]
    as_dicts = [{"role": role, "content": text} for role, text in as_pairs]
    as_messages = [HumanMessage(as_pairs[0][1]), AIMessage(as_pairs[1][1])]
    with sample_rag(sample_index, settings_factory) as rag:
        routes = {rag.route("and how do I delete it?", h) for h in (as_pairs, as_dicts,
                                                                   as_messages)}
        assert len(routes) == 1 and next(iter(routes)).languages == ("python",)
        route = next(iter(routes))
        found = [[d.metadata["package"] for d in rag.retrieve(route, h, k=3, use_llm=False)]
                 for h in (as_pairs, as_dicts, as_messages)]
        assert found[0] == found[1] == found[2] and "azure-storage-blob" in found[0]
        assert rag.search_query(route, as_pairs, use_llm=False) != route.query  # topic added
