"""The ONNX sessions behind the fastembed embedders: idle threads sleep rather than spin."""

from __future__ import annotations

from collections.abc import Callable

import onnxruntime as ort

from azsdk_rag.embeddings import make_embedders
from azsdk_rag.settings import Settings


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
