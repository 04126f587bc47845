"""azsdk-rag: answers developers' questions about the Azure SDKs from the SDKs' own READMEs.

    from azsdk_rag import AzureSdkRag, Settings, ingest

    ingest(Settings(), corpus=[Path("python.jsonl")])     # once: build the index
    with AzureSdkRag.from_env() as rag:
        answer = rag.ask("/python upload a file to a blob container")
        print(answer.text, [source.url for source in answer.sources])

The entry point is :class:`AzureSdkRag`; configuration is one :class:`Settings`; results are
:class:`Answer`, :class:`Route`, :class:`Source` and :class:`Retrieval`; ``stream``/``astream``
yield the :data:`Event` types; every expected failure is an :class:`AzsdkRagError` subclass whose
message is one sentence. ``register_language`` adds an SDK language. Names load lazily, so
``import azsdk_rag`` stays fast for the CLI.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_EXPORTS = {
    # the API and its configuration
    "AzureSdkRag": "rag",
    "Settings": "settings",
    "ingest": "ingest",
    "IngestReport": "ingest.indexer",
    # results and stream events
    "Answer": "types",
    "Route": "types",
    "Source": "types",
    "Hint": "types",
    "Retrieval": "types",
    "Event": "types",
    "RouteEvent": "types",
    "SourcesEvent": "types",
    "DeltaEvent": "types",
    "DoneEvent": "types",
    "History": "router",
    "HistoryItem": "router",
    # errors: each message is one sentence fit for a user
    "AzsdkRagError": "errors",
    "ConfigError": "errors",
    "SourceError": "errors",
    "StoreError": "errors",
    "StoreLockedError": "errors",
    "EmbedderMismatchError": "errors",
    "EmptyIndexError": "errors",
    "ModelError": "errors",
    # languages and the replaceable parts
    "Language": "languages",
    "Installer": "languages",
    "register_language": "languages",
    "unregister_language": "languages",
    "route": "router",
    "LanguageRouter": "router",
    "ExtractiveChatModel": "extractive",
    "AzureSdkRetriever": "retrieval",
}
__all__ = [*_EXPORTS, "__version__"]

if TYPE_CHECKING:
    from .errors import AzsdkRagError as AzsdkRagError
    from .errors import ConfigError as ConfigError
    from .errors import EmbedderMismatchError as EmbedderMismatchError
    from .errors import EmptyIndexError as EmptyIndexError
    from .errors import ModelError as ModelError
    from .errors import SourceError as SourceError
    from .errors import StoreError as StoreError
    from .errors import StoreLockedError as StoreLockedError
    from .extractive import ExtractiveChatModel as ExtractiveChatModel
    from .ingest.indexer import IngestReport as IngestReport
    from .languages import Installer as Installer
    from .languages import Language as Language
    from .languages import register_language as register_language
    from .languages import unregister_language as unregister_language
    from .rag import AzureSdkRag as AzureSdkRag
    from .retrieval import AzureSdkRetriever as AzureSdkRetriever
    from .router import History as History
    from .router import HistoryItem as HistoryItem
    from .router import LanguageRouter as LanguageRouter
    from .router import route as route
    from .settings import Settings as Settings
    from .types import Answer as Answer
    from .types import DeltaEvent as DeltaEvent
    from .types import DoneEvent as DoneEvent
    from .types import Event as Event
    from .types import Hint as Hint
    from .types import Retrieval as Retrieval
    from .types import Route as Route
    from .types import RouteEvent as RouteEvent
    from .types import Source as Source
    from .types import SourcesEvent as SourcesEvent


def __getattr__(name: str) -> Any:
    if name == "ingest":  # the package, which is callable as the ingest job
        return import_module(".ingest", __name__)
    if name in _EXPORTS:
        return getattr(import_module(f".{_EXPORTS[name]}", __name__), name)
    raise AttributeError(f"module 'azsdk_rag' has no attribute {name!r}")
