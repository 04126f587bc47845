"""Scoring of question files, checked against the rules of shared/eval/README.md on hand-made
routes and rankings (no index, no model)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import pytest
from langchain_core.documents import Document

from azsdk_rag.errors import SourceError
from azsdk_rag.evaluation import (
    Question,
    distinct_packages,
    evaluate,
    first_hit,
    format_table,
    load_questions,
)
from azsdk_rag.types import Route


def doc(language: str, package: str) -> Document:
    return Document(page_content=f"{language}/{package}",
                    metadata={"language": language, "package": package})


def q(languages: Sequence[str], packages: Sequence[str], qid: str = "q",
      tags: Sequence[str] = (), question: str = "how?") -> Question:
    return Question(qid, question, tuple(sorted(languages)), tuple(packages), [], tuple(tags))


# -- hits on distinct packages ---------------------------------------------------------------------


def test_chunks_reduce_to_distinct_packages_in_rank_order() -> None:
    docs = [doc("python", "a"), doc("python", "a"), doc("java", "a"), doc("python", "b"),
            doc("java", "a")]
    assert distinct_packages(docs) == [("python", "a"), ("java", "a"), ("python", "b")]


def test_the_language_must_match_for_a_routed_question() -> None:
    ranked = [("python", "azure-storage-blob"), ("java", "azure-storage-blob")]
    java = q(["java"], ["azure-storage-blob"])
    assert first_hit(java, ranked) == 2  # the python README of the same name is no hit
    assert first_hit(q(["rust"], ["azure-storage-blob"]), ranked) is None
    assert first_hit(q(["java", "python"], ["azure-storage-blob"]), ranked) == 1


def test_any_language_counts_when_none_was_named() -> None:
    ranked = [("rust", "azure_identity"), ("java", "azure-storage-blob")]
    assert first_hit(q([], ["azure-storage-blob", "Azure.Storage.Blobs"]), ranked) == 2
    assert first_hit(q([], ["azure_identity"]), ranked) == 1


def test_any_of_the_expected_packages_is_a_hit() -> None:
    ranked = [("python", "azure-core"), ("python", "azure-identity"),
              ("python", "azure-keyvault-secrets")]
    both = q(["python"], ["azure-keyvault-secrets", "azure-identity"])
    assert first_hit(both, ranked) == 2


# -- the aggregate ---------------------------------------------------------------------------------


def run(questions: list[Question], routes: dict[str, tuple[str, ...]],
        rankings: dict[str, list[Document]], k: int = 5) -> dict:
    asked: list[tuple[str, int]] = []

    def route(question: str, history: list[dict[str, str]]) -> Route:
        return Route(routes[question], question, "text", "test")

    def retrieve(r: Route, history: list[dict[str, str]], kk: int) -> list[Document]:
        asked.append((r.query, kk))
        return rankings[r.query]

    result = evaluate(questions, route, retrieve, k)
    result["_asked"] = asked
    return result


def test_hit_at_k_and_mrr_over_retrieval_questions() -> None:
    questions = [
        q(["python"], ["p1"], "a", question="qa"),  # hit at 1
        q(["python"], ["p3"], "b", question="qb"),  # hit at 3 (p1 twice counts once)
        q(["python"], ["p9"], "c", question="qc"),  # miss
        q(["python"], ["p6"], "d", question="qd"),  # rank 6: beyond k=5
        q([], [], "e", question="qe"),  # routing-only
    ]
    ranking = [doc("python", p) for p in ("p1", "p1", "p2", "p3", "p4", "p5", "p6")]
    routes = {x.question: ("python",) for x in questions} | {"qe": ()}
    result = run(questions, routes, dict.fromkeys(("qa", "qb", "qc", "qd"), ranking))

    assert result["questions"] == 5 and result["retrieval_questions"] == 4
    assert result["hit_at_1"] == 0.25
    assert result["hit_at_5"] == 0.5
    assert result["mrr"] == pytest.approx(round((1 + 1 / 3) / 4, 4))
    assert result["routing_accuracy"] == 1.0
    assert [a[0] for a in result["_asked"]] == ["qa", "qb", "qc", "qd"]  # not the routing-only
    assert {m["id"] for m in result["misses"]} == {"c", "d"}


def test_k_is_a_cut_off_on_distinct_packages() -> None:
    questions = [q(["python"], ["p3"], "a", question="qa")]
    ranking = [doc("python", p) for p in ("p1", "p1", "p1", "p2", "p3")]
    two = run(questions, {"qa": ("python",)}, {"qa": ranking}, k=2)
    three = run(questions, {"qa": ("python",)}, {"qa": ranking}, k=3)
    assert two["hit_at_2"] == 0.0 and two["mrr"] == 0.0
    assert three["hit_at_3"] == 1.0 and three["mrr"] == pytest.approx(0.3333)
    assert three["_asked"] == [("qa", 3)] and three["k"] == 3


def test_hit_at_5_is_not_reported_from_a_shorter_cut_off() -> None:
    questions = [q(["python"], ["p4"], "a", question="qa")]
    ranking = [doc("python", p) for p in ("p1", "p2", "p3", "p4")]
    result = run(questions, {"qa": ("python",)}, {"qa": ranking}, k=3)
    assert result["hit_at_3"] == 0.0
    assert result.get("hit_at_5") in (None, 1.0)


def test_routing_is_an_exact_set_match() -> None:
    questions = [
        q(["python"], [], "exact", question="q1"),
        q(["java", "python"], [], "subset", question="q2"),
        q([], [], "picked-one", question="q3"),
        q(["javascript"], [], "superset", question="q4"),
        q([], [], "none", question="q5"),
    ]
    routes = {"q1": ("python",), "q2": ("python",), "q3": ("python",),
              "q4": ("java", "javascript"), "q5": ()}
    result = run(questions, routes, {})
    assert result["routing_accuracy"] == 0.4
    assert result["hit_at_1"] is None and result["mrr"] is None  # no retrieval questions
    assert {m["id"] for m in result["misses"]} == {"subset", "picked-one", "superset"}


def test_by_language_and_by_tag() -> None:
    questions = [
        q(["python"], ["p"], "a", ["explicit"], "qa"),
        q(["java", "python"], ["p"], "b", ["multi"], "qb"),
        q([], ["p"], "c", ["none", "explicit"], "qc"),
    ]
    routes = {"qa": ("python",), "qb": ("java", "python"), "qc": ()}
    rankings = {"qa": [doc("python", "p")], "qb": [doc("java", "x"), doc("java", "p")],
                "qc": [doc("rust", "p")]}
    result = run(questions, routes, rankings)
    assert set(result["by_language"]) == {"java", "python", "none"}
    assert result["by_language"]["python"]["questions"] == 2
    assert result["by_language"]["java"]["hit_at_1"] == 0.0
    assert result["by_language"]["none"]["hit_at_1"] == 1.0
    assert set(result["by_tag"]) == {"explicit", "multi", "none"}
    assert result["by_tag"]["explicit"]["questions"] == 2
    assert result["by_tag"]["multi"]["mrr"] == 0.5
    for part in (result, *result["by_language"].values(), *result["by_tag"].values()):
        assert set(part["latency_ms"]) == {"p50", "p95"}
    table = format_table(result)
    assert table.splitlines()[2].split()[:2] == ["all", "3"]
    assert any(line.startswith("#multi") for line in table.splitlines())


# -- question files --------------------------------------------------------------------------------


def test_load_questions_reads_the_shared_format(tmp_path: Path) -> None:
    path = tmp_path / "q.jsonl"
    rows = [
        {"id": "dev-1", "question": "/js send", "languages": ["javascript"],
         "packages": ["@azure/service-bus"], "tags": ["explicit"]},
        {"id": "dev-2", "question": "and receive?", "languages": ["python", "java"],
         "packages": ["azure-servicebus"], "tags": ["followup"],
         "history": [{"role": "user", "content": "/python send"},
                     {"role": "assistant", "content": "Use ServiceBusSender."}]},
        {"question": "Go?", "languages": [], "packages": []},
    ]
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n\n", "utf-8")

    loaded = load_questions(path)

    assert [x.id for x in loaded] == ["dev-1", "dev-2", "line-3"]
    assert loaded[1].languages == ("java", "python")  # sorted, as routes are
    assert loaded[1].history[0] == {"role": "user", "content": "/python send"}
    assert loaded[2].packages == () and loaded[2].tags == ()


def test_the_shared_question_file_loads() -> None:
    path = Path(__file__).resolve().parents[1].parent / "shared" / "eval" / "questions.jsonl"
    if not path.exists():
        pytest.skip("shared question file not present")
    loaded = load_questions(path)
    assert len(loaded) == 253
    assert sum(1 for x in loaded if x.packages) == 238


@pytest.mark.parametrize(("content", "where"), [
    ('{"question": "a"}\n{"question": \n', ":2:"),
    ('{"id": "x"}\n', ":1:"),
    ('"just a string"\n', ":1:"),
    ("", "holds no questions"),
])
def test_a_bad_file_is_one_clear_error(tmp_path: Path, content: str, where: str) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text(content, "utf-8")
    with pytest.raises(SourceError) as info:
        load_questions(path)
    assert str(path) in str(info.value) and where in str(info.value)
    assert "\n" not in str(info.value)


def test_a_missing_file_is_a_source_error(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="Cannot read question file"):
        load_questions(tmp_path / "missing.jsonl")
