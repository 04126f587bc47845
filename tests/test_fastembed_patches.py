"""What we change in fastembed's models: ONNX sessions that don't spin, and a BM25 punctuation
test that costs nothing to build and answers exactly as fastembed's set does."""

from __future__ import annotations

import string
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import fastembed
import onnxruntime as ort
from fastembed.common.utils import get_all_punctuation
from fastembed.sparse import bm25

from azsdk_rag.embeddings import make_embedders
from azsdk_rag.fastembed_patches import UnicodePunctuation, build_model
from azsdk_rag.settings import Settings

TEXTS = [
    "Upload a blob: BlobClient.upload_blob(data) -- then list_blobs()!",
    "¿Qué pasa? «Guillemets», “curly quotes”, en–dash, em—dash… 【CJK brackets】 and ‼",
    "err != nil {return fmt.Errorf(\"%w\", err)}; // Go's way; #[derive(Debug)] in Rust",
    "@azure/storage-blob@12.8.0 vs com.azure:azure-storage-blob:12.8.0 vs Azure.Storage.Blobs",
    "".join(string.punctuation) + " ¡¿§¶·‐‑‒–—―‖‗‘’‚‛“”„‟†‡•‣․‥…‧‰‱′″‴‵‶‷‸‹›※‼‽‾‿⁀⁁⁂⁃",
]


def test_the_dense_session_does_not_spin_and_onnxruntime_is_left_as_it_was(
        settings_factory: Callable[..., Settings]) -> None:
    real = ort.SessionOptions
    embedders = make_embedders(settings_factory())
    session = embedders.dense._model.model.model  # fastembed's InferenceSession
    options = session.get_session_options()
    assert options.get_session_config_entry("session.intra_op.allow_spinning") == "0"
    assert options.get_session_config_entry("session.inter_op.allow_spinning") == "0"
    assert ort.SessionOptions is real
    assert len(embedders.dense.embed_query("upload a blob")) == 384


def test_the_punctuation_test_answers_as_fastembeds_set_for_every_code_point() -> None:
    full, lazy = get_all_punctuation(), UnicodePunctuation()
    differ = [hex(i) for i in range(sys.maxunicode + 1) if (chr(i) in full) != (chr(i) in lazy)]
    assert differ == []
    assert "ab" not in lazy and "" not in lazy and None not in lazy  # type: ignore[operator]


def _bm25(model_dir: Path, **kwargs: Any) -> Any:
    return dict(specific_model_path=str(model_dir / "bm25"), local_files_only=True, **kwargs)


def test_bm25_built_with_the_patch_embeds_exactly_as_fastembed_does(model_dir: Path) -> None:
    real = bm25.get_all_punctuation
    ours = build_model(fastembed.SparseTextEmbedding, "Qdrant/bm25", **_bm25(model_dir))
    stock = fastembed.SparseTextEmbedding("Qdrant/bm25", **_bm25(model_dir))
    assert isinstance(ours.model.punctuation, UnicodePunctuation)
    assert bm25.get_all_punctuation is real  # put back after the build
    for mine, theirs in zip(ours.embed(TEXTS), stock.embed(TEXTS), strict=True):
        assert mine.indices.tolist() == theirs.indices.tolist()
        assert mine.values.tolist() == theirs.values.tolist()
    for text in TEXTS:
        mine, theirs = next(iter(ours.query_embed(text))), next(iter(stock.query_embed(text)))
        assert mine.indices.tolist() == theirs.indices.tolist()


class _MovedOn(bm25.Bm25):
    """A later fastembed that keeps the punctuation set under another name."""

    builds = 0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _MovedOn.builds += 1
        self.symbols, self.punctuation = self.punctuation, None


def test_a_bm25_that_does_not_come_out_as_expected_is_built_again_as_fastembed_would(
        model_dir: Path) -> None:
    model = build_model(_MovedOn, "Qdrant/bm25", **_bm25(model_dir))
    assert _MovedOn.builds == 2
    assert model.symbols == get_all_punctuation()


def test_a_dense_model_is_built_once_and_as_it_was() -> None:
    built = []

    class Dense:
        def __init__(self, name: str) -> None:
            built.append(name)

    assert isinstance(build_model(Dense, "minilm"), Dense)
    assert built == ["minilm"]
