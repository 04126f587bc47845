"""azsdk-rag: answers developers' questions about the Azure SDKs from the SDKs' own READMEs.

The entry point is :class:`AzureSdkRag` (``AzureSdkRag.from_env()``); results are
:class:`Answer`, :class:`Route` and :class:`Source`; configuration is one :class:`Settings`.
Attributes load lazily, so ``import azsdk_rag`` stays fast for the CLI.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_EXPORTS = {
    "AzureSdkRag": "rag",
    "Settings": "settings",
    "Answer": "types",
    "Route": "types",
    "Source": "types",
    "Hint": "types",
    "Retrieval": "types",
    "AzsdkRagError": "errors",
    "LanguageRouter": "router",
    "ExtractiveChatModel": "extractive",
    "AzureSdkRetriever": "retrieval",
}
__all__ = [*_EXPORTS, "__version__"]

if TYPE_CHECKING:
    from .errors import AzsdkRagError as AzsdkRagError
    from .extractive import ExtractiveChatModel as ExtractiveChatModel
    from .rag import AzureSdkRag as AzureSdkRag
    from .retrieval import AzureSdkRetriever as AzureSdkRetriever
    from .router import LanguageRouter as LanguageRouter
    from .settings import Settings as Settings
    from .types import Answer as Answer
    from .types import Hint as Hint
    from .types import Retrieval as Retrieval
    from .types import Route as Route
    from .types import Source as Source


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        from importlib import import_module

        return getattr(import_module(f".{_EXPORTS[name]}", __name__), name)
    raise AttributeError(f"module 'azsdk_rag' has no attribute {name!r}")
