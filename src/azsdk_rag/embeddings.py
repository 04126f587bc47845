"""Dense and sparse embedders: fastembed models (offline-capable) or Azure OpenAI.

Every loader accepts a local folder (``AZSDK_RAG_MODEL_DIR``) so that offline machines and CI never
reach a hub; without one, fastembed downloads the model by name as usual.
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from langchain_core.embeddings import Embeddings

from .azure_auth import azure_auth
from .errors import ConfigError
from .fastembed_patches import build_model
from .settings import Settings
from .types import EmbedderInfo

if TYPE_CHECKING:
    from langchain_openai import AzureOpenAIEmbeddings

# Folder names the shared model copies use, beside the default "last segment of the name" rule.
_FOLDER_ALIASES = {"sentence-transformers/all-MiniLM-L6-v2": ("all-MiniLM-L6-v2-onnx",)}


def local_model_path(model_dir: Path | None, model_name: str) -> Path | None:
    """The folder of ``model_name`` under ``model_dir`` (if given); an error if it is missing."""
    if model_dir is None:
        return None
    last = model_name.rsplit("/", 1)[-1]
    candidates = [*_FOLDER_ALIASES.get(model_name, ()), last, f"{last}-onnx",
                  model_name.replace("/", "--")]
    for name in candidates:
        if (model_dir / name).is_dir():
            return model_dir / name
    raise ConfigError(
        f"No folder for model {model_name} in {model_dir} (looked for {', '.join(candidates)})."
    )


def _fastembed_kwargs(model_dir: Path | None, model_name: str) -> dict[str, Any]:
    path = local_model_path(model_dir, model_name)
    if path is None:
        return {}
    return {"specific_model_path": str(path), "local_files_only": True}


@lru_cache(maxsize=8)
def _fastembed_model(kind: str, model_name: str, model_dir: Path | None) -> Any:
    """One fastembed model per (kind, name, folder) and process: ``kind`` is "dense" or
    "sparse". fastembed raises bare errors for a missing or broken model: one sentence here."""
    import fastembed

    cls = fastembed.TextEmbedding if kind == "dense" else fastembed.SparseTextEmbedding
    try:
        return build_model(cls, model_name, **_fastembed_kwargs(model_dir, model_name))
    except ConfigError:
        raise
    except Exception as exc:
        what = "embedding" if kind == "dense" else "sparse"
        raise ConfigError(f"Cannot load {what} model {model_name}: {exc}") from None


class FastEmbedDense(Embeddings):
    """A fastembed dense model as LangChain ``Embeddings``; one ONNX session per process."""

    def __init__(self, model_name: str, model_dir: Path | None = None, batch_size: int = 32,
                 max_length: int = 128):
        self.model_name = model_name
        self.batch_size = batch_size
        self._model = _fastembed_model("dense", model_name, model_dir)
        # MiniLM was trained on 256 word pieces; fastembed would run (slowly) up to 512.
        tokenizer = getattr(getattr(self._model, "model", None), "tokenizer", None)
        if tokenizer is not None:
            tokenizer.enable_truncation(max_length=max_length)
        self._lock = threading.Lock()  # one ONNX run at a time: it already uses every core
        self.dim = len(self.embed_query("dimension probe"))

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        with self._lock:
            return [v.tolist() for v in self._model.embed(texts, batch_size=self.batch_size)]

    def embed_query(self, text: str) -> list[float]:
        with self._lock:
            return next(iter(self._model.query_embed(text))).tolist()


@dataclass
class SparseVector:
    """A sparse vector: token ids and their weights (langchain-qdrant's shape)."""

    indices: list[int]
    values: list[float]


class SparseEmbeddings(ABC):
    """langchain-qdrant's ``SparseEmbeddings`` interface, without importing it: that import
    loads all of qdrant-client (about 1.3 s), which only a Qdrant server needs."""

    @abstractmethod
    def embed_documents(self, texts: list[str]) -> list[SparseVector]: ...

    @abstractmethod
    def embed_query(self, text: str) -> SparseVector: ...


class FastEmbedBM25(SparseEmbeddings):
    """fastembed's BM25 as ``SparseEmbeddings`` (IDF is applied by Qdrant)."""

    def __init__(self, model_name: str = "Qdrant/bm25", model_dir: Path | None = None):
        self.model_name = model_name
        self._model = _fastembed_model("sparse", model_name, model_dir)
        self._lock = threading.Lock()

    @staticmethod
    def _convert(items: Iterable[Any]) -> list[SparseVector]:
        return [SparseVector(indices=e.indices.tolist(), values=e.values.tolist()) for e in items]

    def embed_documents(self, texts: list[str]) -> list[SparseVector]:
        with self._lock:
            return self._convert(self._model.embed(texts, batch_size=256))

    def embed_query(self, text: str) -> SparseVector:
        with self._lock:
            return self._convert(self._model.query_embed(text))[0]


def make_azure_embeddings(settings: Settings) -> AzureOpenAIEmbeddings:
    """Azure OpenAI embeddings on ``settings.embedding_deployment``; key or Entra ID as for chat."""
    if not settings.azure_openai_endpoint:
        raise ConfigError(
            "Azure OpenAI embeddings need the Azure OpenAI endpoint: set AZURE_OPENAI_ENDPOINT."
        )
    from langchain_openai import AzureOpenAIEmbeddings

    # azure_deployment, api_version and timeout are the documented names (pydantic aliases).
    return AzureOpenAIEmbeddings(  # type: ignore[call-arg]
        azure_endpoint=settings.azure_openai_endpoint,
        azure_deployment=settings.embedding_deployment,
        # A deployment is usually named after its model: that picks tiktoken's encoding.
        model=settings.embedding_deployment,
        api_version=settings.openai_api_version,
        timeout=settings.request_timeout,
        max_retries=settings.max_retries,
        **azure_auth(settings),
    )


@dataclass
class Embedders:
    """The pair every point and every query is embedded with."""

    dense: Embeddings
    sparse: SparseEmbeddings
    info: EmbedderInfo


def make_embedders(settings: Settings) -> Embedders:
    """Build the dense + sparse embedders the settings ask for."""
    sparse = FastEmbedBM25(settings.sparse_model, settings.model_dir)
    if settings.embeddings == "azure":
        dense: Embeddings = make_azure_embeddings(settings)
        name = f"azure-openai:{settings.embedding_deployment}"
        dim = len(dense.embed_query("dimension probe"))
    else:
        fe = FastEmbedDense(settings.dense_model, settings.model_dir, settings.batch_size,
                            settings.embed_max_tokens)
        dense, name, dim = fe, settings.dense_model, fe.dim
    return Embedders(dense, sparse, EmbedderInfo(name, dim, settings.sparse_model))
