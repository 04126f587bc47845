"""The server path over HTTP: one ``query_points`` (prefetch + RRF on the server) per search, and
the same top packages as Qdrant Edge on the public question set (the best one, and the same
three).

There is no Qdrant server binary here: the real ``qdrant_client`` REST client talks to
``FakeQdrantServer`` (Qdrant's REST API over an in-memory Qdrant), holding a copy of the sample
index's points (same ids, vectors and payload as the Edge index they are compared with).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from langchain_core.documents import Document

from azsdk_rag.embeddings import Embedders, make_embedders
from azsdk_rag.ranking import rank_packages
from azsdk_rag.search import RRF_K, StoreSearch, embed_query
from azsdk_rag.settings import Settings
from azsdk_rag.store import ServerStore, Store
from azsdk_rag.store.edge import EdgeStore
from support.answering import copy_points
from support.reliability_qdrant import FakeQdrantServer

SLASH = re.compile(r"^/\w+\s+")
EVAL = Path(os.environ.get("AZSDK_RAG_SHARED", Path(__file__).resolve().parents[2] / "shared")
            ) / "eval" / "questions.jsonl"


@pytest.fixture(scope="module")
def embedders(settings_factory: Callable[..., Settings]) -> Embedders:
    return make_embedders(settings_factory())


@pytest.fixture(scope="module")
def server(sample_index: Store, settings_factory: Callable[..., Settings]
           ) -> Iterator[tuple[FakeQdrantServer, ServerStore]]:
    with FakeQdrantServer() as fake:
        copy_points(sample_index, ServerStore(fake.backend, sample_index.settings))
        with Store.open(settings_factory(qdrant_url=fake.url)) as store:
            assert isinstance(store, ServerStore)
            yield fake, store


def questions() -> list[dict[str, object]]:
    if not EVAL.is_file():
        pytest.skip(f"the public question set is not at {EVAL}")
    return [json.loads(line) for line in EVAL.read_text("utf-8").splitlines() if line.strip()]


def top_packages(hits: list[tuple[Document, float]], n: int = 3) -> list[tuple[str, str]]:
    return [key for key, _score, _items in rank_packages(hits)][:n]


def test_a_hybrid_search_is_one_query_points_with_prefetch_and_rrf(
        server: tuple[FakeQdrantServer, ServerStore], embedders: Embedders) -> None:
    fake, store = server
    fake.bodies.clear()
    hits = StoreSearch(store).search(embed_query(embedders, "upload a blob", "hybrid"),
                                     ("python",), 20, "hybrid")
    assert hits and {d.metadata["language"] for d, _ in hits} == {"python"}
    assert [op for op, _ in fake.bodies] == ["query"]  # one request, nothing fused in Python
    (_op, body), = fake.bodies
    assert body["query"] == {"rrf": {"k": RRF_K}}
    assert [p["using"] for p in body["prefetch"]] == ["dense", "sparse"]
    for prefetch in body["prefetch"]:
        assert prefetch["filter"]["must"][0]["key"] == "metadata.language"
        assert prefetch["limit"] == 20
    assert body["prefetch"][1]["params"]["idf"]["corpus"]["must"][0]["match"] == {
        "value": "python"}  # IDF over the searched language


def test_edge_and_the_server_give_the_same_top_packages_on_the_public_questions(
        sample_index: Store, server: tuple[FakeQdrantServer, ServerStore],
        embedders: Embedders) -> None:
    assert isinstance(sample_index, EdgeStore)
    edge, remote = StoreSearch(sample_index), StoreSearch(server[1])
    first: list[str] = []
    three: list[str] = []
    rows = questions()
    for row in rows:
        query = embed_query(embedders, SLASH.sub("", str(row["question"])), "hybrid")
        languages = tuple(row.get("languages") or ())  # type: ignore[arg-type]
        ours = top_packages(edge.search(query, languages, 60, "hybrid"))
        theirs = top_packages(remote.search(query, languages, 60, "hybrid"))
        if ours[:1] != theirs[:1]:
            first.append(f"{row['id']}: {ours} != {theirs}")
        if set(ours) != set(theirs):
            three.append(f"{row['id']}: {ours} != {theirs}")
    assert len(rows) > 200
    # Scores that tie in one engine may come out in either order (RRF over equal ranks):
    # allow one question in a hundred a different best package, three a different top three.
    assert len(first) <= len(rows) // 100, first
    assert len(three) <= 3 * len(rows) // 100, three
