"""Two fixes to how fastembed builds its models, for which fastembed has no option.

* ONNX sessions are made with spinning off, so their idle threads sleep while the search runs.
* BM25's punctuation test is answered per token instead of by a set of every punctuation code
  point, which fastembed builds on each load by asking ``unicodedata`` about all 1.1 million
  code points: 0.7 s of pure Python at every process start (each editor window's server, each
  ``azsdk-rag ask``). :class:`UnicodePunctuation` gives the same answer for every string.

Both replace a module attribute only while a model is being built, under one lock; a BM25
model that does not come out as expected is built again without the second fix (a missed
speed-up, never a different vector).

    model = build_model(fastembed.SparseTextEmbedding, "Qdrant/bm25")
"""

from __future__ import annotations

import contextlib
import threading
import unicodedata
from collections.abc import Iterator
from typing import Any

_LOCK = threading.Lock()


class UnicodePunctuation:
    """``token in UnicodePunctuation()`` answers as ``token in get_all_punctuation()`` (fastembed).

    That set holds every single code point whose Unicode category starts with ``P``; a longer
    string is never in it. Answers are remembered, so a corpus's tokens are looked up once.

        "," in UnicodePunctuation(), "ab" in UnicodePunctuation()   # (True, False)
    """

    def __init__(self) -> None:
        self._seen: dict[str, bool] = {}

    def __contains__(self, token: object) -> bool:
        if not isinstance(token, str) or len(token) != 1:
            return False
        try:
            return self._seen[token]
        except KeyError:
            found = self._seen[token] = unicodedata.category(token).startswith("P")
            return found


def _spinning_off(real: Any) -> Any:
    def options() -> Any:
        made = real()
        made.add_session_config_entry("session.intra_op.allow_spinning", "0")
        made.add_session_config_entry("session.inter_op.allow_spinning", "0")
        return made
    return options


@contextlib.contextmanager
def _replaced(owner: Any, name: str, value: Any) -> Iterator[None]:
    real = getattr(owner, name)
    setattr(owner, name, value)
    try:
        yield
    finally:
        setattr(owner, name, real)


def build_model(cls: Any, *args: Any, lazy_punctuation: bool = True, **kwargs: Any) -> Any:
    """``cls(*args, **kwargs)`` (a fastembed model class) with its ONNX sessions not spinning
    and, for BM25, a punctuation test that costs nothing to build.

    A spinning thread keeps a core busy after each embedding, exactly when the search runs:
    route + retrieve p50 51.7 -> 40.8 ms with the same embedding time (22 ms), measured
    question by question at load 18 on 2 cores.

        model = build_model(fastembed.SparseTextEmbedding, "Qdrant/bm25")
    """
    import onnxruntime as ort
    from fastembed.sparse import bm25

    skip_set = lazy_punctuation and hasattr(bm25, "get_all_punctuation")
    asked: list[bool] = []

    def no_set() -> tuple[str, ...]:
        asked.append(True)
        return ()

    with _LOCK, contextlib.ExitStack() as patches:
        patches.enter_context(_replaced(ort, "SessionOptions", _spinning_off(ort.SessionOptions)))
        if skip_set:
            patches.enter_context(_replaced(bm25, "get_all_punctuation", no_set))
        model = cls(*args, **kwargs)
    if not asked:
        return model
    inner = getattr(model, "model", model)
    if getattr(inner, "punctuation", None) != set():  # fastembed used the set some other way
        return build_model(cls, *args, lazy_punctuation=False, **kwargs)
    inner.punctuation = UnicodePunctuation()
    return model
