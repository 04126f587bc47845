"""The retriever over the sample index: language filters, per-package diversity, modes, context.

Everything runs against real Qdrant local mode (the session's sample index) through the chains
the RAG builds, except the pure ranking helpers, which get hand-made hits.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator

import pytest
from langchain_core.documents import Document

from azsdk_rag.bonuses import package_bonus
from azsdk_rag.context import format_context
from azsdk_rag.evidence import PackageEvidence
from azsdk_rag.query_focus import focus
from azsdk_rag.rag import AzureSdkRag
from azsdk_rag.ranking import diversify, lift_support, rank_packages, topics
from azsdk_rag.retrieval import SOURCE_FLOOR, to_sources
from azsdk_rag.settings import Settings
from azsdk_rag.store import Store
from azsdk_rag.tokens import encoding
from support.answering import LANGUAGES, distinct, packages, sample_rag, sample_settings

BLOB = {
    "dotnet": "Azure.Storage.Blobs",
    "java": "azure-storage-blob",
    "javascript": "@azure/storage-blob",
    "python": "azure-storage-blob",
    "rust": "azure_storage_blob",
}
QUESTIONS = (
    "upload a blob",
    "read a secret from key vault",
    "send messages to a service bus queue",
    "authenticate with DefaultAzureCredential",
    "query items in a cosmos container",
)


@pytest.fixture(scope="module")
def rag(sample_index: Store, settings_factory: Callable[..., Settings]) -> Iterator[AzureSdkRag]:
    with sample_rag(sample_index, settings_factory) as r:
        yield r


def chain_docs(rag: AzureSdkRag, languages: tuple[str, ...], query: str) -> list[Document]:
    """What the chain for ``languages`` retrieves (the chain's own output, not the retriever's)."""
    chain = rag.chains.for_languages(languages)
    return chain.invoke({"question": query, "query": query, "history": []})["docs"]


# -- language filter through the chains ----------------------------------------------------------


@pytest.mark.parametrize("language", LANGUAGES)
def test_a_language_chain_returns_only_that_language(rag: AzureSdkRag, language: str) -> None:
    for query in QUESTIONS[:3]:
        docs = chain_docs(rag, (language,), query)
        assert docs, query
        assert {d.metadata["language"] for d in docs} == {language}, query


def test_a_routed_python_question_searches_python_only(rag: AzureSdkRag) -> None:
    answer = rag.ask("how do I upload a file to blob storage from my Django app?")
    assert answer.route.languages == ("python",)
    assert answer.sources and {s.language for s in answer.sources} == {"python"}
    assert answer.sources[0].package == "azure-storage-blob"


def test_a_two_language_route_returns_both_languages_labelled(rag: AzureSdkRag) -> None:
    docs = chain_docs(rag, ("java", "python"), "upload a blob to a container")
    assert {d.metadata["language"] for d in docs} == {"java", "python"}
    assert ("java", "azure-storage-blob") in packages(docs)
    assert ("python", "azure-storage-blob") in packages(docs)

    context = format_context(docs, 3000)
    assert "language: java" in context and "language: python" in context

    answer = rag.ask("upload a blob in python and in java")
    assert answer.route.languages == ("java", "python")
    assert {s.language for s in answer.sources} == {"java", "python"}
    assert "`azure-storage-blob` (Java)" in answer.text
    assert "`azure-storage-blob` (Python)" in answer.text


def test_no_route_searches_every_language(rag: AzureSdkRag) -> None:
    for query in ("upload a blob", "read a secret from key vault"):
        answer = rag.ask(query)
        assert answer.route.languages == ()
        assert len({s.language for s in answer.sources}) >= 3, answer.sources
    docs = chain_docs(rag, (), "upload a blob")
    assert len({d.metadata["language"] for d in docs}) >= 3


# -- diversity -----------------------------------------------------------------------------------


@pytest.mark.parametrize("k", [3, 5, 8])
def test_top_k_spans_several_packages_at_most_two_chunks_each(rag: AzureSdkRag, k: int) -> None:
    for language in ("python", "javascript"):
        retriever = rag.retriever((language,))
        for query in QUESTIONS:
            docs = retriever.invoke(query, k=k)
            assert 0 < len(docs) <= k, (language, query)
            counts = Counter(packages(docs))
            assert max(counts.values()) <= 2, counts
            assert len(counts) >= 2, counts


def test_k_chunks_when_the_language_has_enough_packages(rag: AzureSdkRag) -> None:
    for k in (5, 8):
        docs = rag.retriever(("python",)).invoke("query items in a cosmos container", k=k)
        assert len(docs) == k
        assert max(Counter(packages(docs)).values()) <= 2


def test_chunks_of_a_package_stay_together_best_package_first(rag: AzureSdkRag) -> None:
    docs = rag.retriever(("python",)).invoke("upload a blob to a container", k=6)
    order = distinct(packages(docs))
    assert order[0] == ("python", "azure-storage-blob")
    # a package's chunks are adjacent, packages by falling package score
    assert packages(docs) == [p for p in order for q in packages(docs) if q == p]
    scores = [d.metadata["package_score"] for d in docs]
    assert scores == sorted(scores, reverse=True)


def test_retriever_kwargs_override_k_and_languages(rag: AzureSdkRag) -> None:
    retriever = rag.retriever(("python",))
    assert len(retriever.invoke("list secrets", k=2)) == 2
    docs = retriever.invoke("list secrets", languages=("rust",))
    assert {d.metadata["language"] for d in docs} == {"rust"}


# -- retrieval modes -----------------------------------------------------------------------------


@pytest.fixture(scope="module", params=["hybrid", "dense", "sparse"])
def mode_rag(request: pytest.FixtureRequest, sample_index: Store,
             settings_factory: Callable[..., Settings]) -> Iterator[AzureSdkRag]:
    settings = sample_settings(settings_factory, sample_index, retrieval_mode=request.param)
    with AzureSdkRag(settings, store=sample_index) as r:
        yield r


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_mode_puts_the_blob_package_first(mode_rag: AzureSdkRag, language: str) -> None:
    for query in ("upload a blob", "upload a file to blob storage"):
        docs = mode_rag.retriever((language,)).invoke(query)
        assert docs, (mode_rag.settings.retrieval_mode, language, query)
        assert docs[0].metadata["package"] == BLOB[language]


def test_the_mode_setting_reaches_the_search(mode_rag: AzureSdkRag) -> None:
    """Each mode scores on its own scale: RRF (< 0.04), cosine (<= 1), BM25 (> 1)."""
    mode = mode_rag.settings.retrieval_mode
    assert mode_rag.retriever(("python",)).mode == mode
    docs = chain_docs(mode_rag, ("python",), "upload a blob to a container")
    best = max(d.metadata["score"] for d in docs)
    if mode == "hybrid":
        assert best < 0.04
    elif mode == "dense":
        assert 0.2 < best <= 1.0
    else:
        assert best > 1.0


# -- context and sources ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def many_docs(rag: AzureSdkRag) -> list[Document]:
    return rag.retriever(()).invoke("upload a blob", k=12)


@pytest.mark.parametrize("budget", [120, 300, 777, 1500, 3000, 100_000])
def test_format_context_stays_within_its_token_budget(many_docs: list[Document],
                                                      budget: int) -> None:
    context = format_context(many_docs, budget)
    assert len(encoding().encode(context, disallowed_special=())) <= budget
    if budget >= 300:
        assert context.startswith("[1] ")


def _long_doc(n: int) -> Document:
    text = " ".join(f"word{n}-{i}" for i in range(300))
    return Document(page_content=f"header {n}\n\n{text}", metadata={
        "title": f"README {n}", "package": f"pkg-{n}", "language": "python",
        "section": "Usage", "url": f"https://github.com/Azure/x/pkg-{n}/README.md"})


def test_format_context_cuts_the_excerpt_that_overflows_and_drops_the_rest() -> None:
    docs = [_long_doc(n) for n in range(3)]
    whole = format_context(docs, 100_000)
    first_block = whole.split("\n[2] ", 1)[0]
    budget = len(encoding().encode(first_block)) + 200

    cut = format_context(docs, budget)

    assert cut.startswith(first_block)  # the first excerpt whole, in order
    assert "[2] README 1 | package: pkg-1" in cut
    assert "README: https://github.com/Azure/x/pkg-1/README.md" in cut
    assert cut.rstrip().endswith("[...]")  # the second one cut
    assert "pkg-2" not in cut  # the third one dropped
    assert len(encoding().encode(cut)) <= budget
    # a budget too small for a useful piece of an excerpt leaves it out entirely
    assert "[2]" not in format_context(docs, len(encoding().encode(first_block)) + 40)


def test_every_excerpt_names_package_section_and_readme_url(many_docs: list[Document]) -> None:
    context = format_context(many_docs, 100_000)
    blocks = ["[" + b for b in context.split("\n[") if b.strip()]
    blocks[0] = blocks[0][1:]
    assert len(blocks) == len(many_docs)
    for n, (block, doc) in enumerate(zip(blocks, many_docs, strict=True), 1):
        head, url_line = block.splitlines()[:2]
        m = doc.metadata
        assert head.startswith(f"[{n}] {m['title']}")
        assert f"package: {m['package']}" in head
        assert f"language: {m['language']}" in head
        assert f"section: {m['section'] or 'Overview'}" in head
        assert url_line == f"README: {m['url']}"
        assert m["url"].startswith("https://github.com/Azure/")


def test_to_sources_gives_one_source_per_readme_in_order(many_docs: list[Document]) -> None:
    sources = to_sources(many_docs, floor=0.0)
    assert [(s.language, s.package) for s in sources] == distinct(packages(many_docs))
    for source in sources:
        first = next(d for d in many_docs
                     if (d.metadata["language"], d.metadata["package"])
                     == (source.language, source.package))
        assert source.url == first.metadata["url"] and source.title == first.metadata["title"]
        assert source.score == pytest.approx(first.metadata["package_score"])
        assert source.section == first.metadata["section"]


# -- ranking helpers on hand-made hits ------------------------------------------------------------


def _hit(language: str, package: str, n: int, score: float) -> tuple[Document, float]:
    return Document(page_content=f"{package} chunk {n}",
                    metadata={"language": language, "package": package, "_id": f"{package}-{n}"}
                    ), score


def test_rank_packages_sums_a_packages_best_chunks_with_decay() -> None:
    hits = [_hit("python", "one-great", 0, 0.9),
            _hit("python", "many-good", 0, 0.6), _hit("python", "many-good", 1, 0.6),
            _hit("python", "many-good", 2, 0.6), _hit("python", "many-good", 3, 0.6)]
    ranked = rank_packages(hits)
    assert [key[1] for key, _, _ in ranked] == ["many-good", "one-great"]
    # best + half of the 2nd + a quarter of the 3rd; the 4th does not count
    assert ranked[0][1] == pytest.approx(0.6 * 1.75)
    assert ranked[1][1] == pytest.approx(0.9)


def test_same_package_name_in_two_languages_is_two_packages() -> None:
    hits = [_hit("python", "azure-core", 0, 0.5), _hit("java", "azure-core", 0, 0.4)]
    assert {key for key, _, _ in rank_packages(hits)} == {("python", "azure-core"),
                                                         ("java", "azure-core")}


def test_diversify_caps_chunks_per_package_and_fills_k() -> None:
    hits = [_hit("python", "a", n, 1.0 - n / 100) for n in range(10)]
    hits += [_hit("python", "b", n, 0.5 - n / 100) for n in range(3)]
    hits += [_hit("python", "c", 0, 0.1)]
    docs = diversify(hits, k=5, max_per_package=2)
    assert [d.metadata["package"] for d in docs] == ["a", "a", "b", "b", "c"]
    assert docs[0].metadata["score"] == pytest.approx(1.0)
    assert all("package_score" in d.metadata for d in docs)
    # one package only: at most max_per_package chunks, even if k is larger
    assert len(diversify(hits[:10], k=5, max_per_package=2)) == 2
    assert len(diversify(hits, k=5, max_per_package=1)) == 3


# -- the question's own evidence -------------------------------------------------------------------


def test_sources_below_the_floor_of_the_best_are_left_out() -> None:
    docs = [Document(page_content="x", metadata={"language": "python", "package": p,
                                                 "package_score": score})
            for p, score in (("best", 0.04), ("close", 0.03), ("far", 0.04 * SOURCE_FLOOR * 0.9))]
    assert [s.package for s in to_sources(docs)] == ["best", "close"]
    assert [s.package for s in to_sources(docs, floor=0.0)] == ["best", "close", "far"]


def test_a_short_question_is_searched_as_it_is() -> None:
    assert focus("upload a blob with python") == ("upload a blob with python",) * 2


def test_a_long_post_is_embedded_on_its_title_and_questions() -> None:
    listing = "\n".join(f"    at com.example.Worker.step{i}(Worker.java:{i})" for i in range(40))
    post = ("Upload fails with a timeout. We run a nightly job that copies files and it worked "
            "for months without any trouble at all until the last release of the library. "
            f"Here is the trace:\n{listing}\nHow do I raise the timeout of the client? "
            "Thanks a lot for any help on this one.")
    dense, sparse = focus(post)
    assert dense == "Upload fails with a timeout. How do I raise the timeout of the client?"
    assert sparse == post


def test_a_spelled_package_name_and_a_rare_identifier_add_score() -> None:
    hits = [_hit("python", "azure-mgmt-compute", 0, 0.027), _hit("python", "azure-mgmt-network", 0,
                                                              0.03)]
    table = PackageEvidence({("python", "azure-mgmt-compute"): ["ComputeManagementClient"],
                             ("python", "azure-mgmt-network"): ["NetworkManagementClient"],
                             ("javascript", "@azure/arm-compute"): ["ComputeManagementClient"]})
    bonus = package_bonus("ComputeManagementClient(credential) fails", hits, table, ["python"])
    assert set(bonus) == {("python", "azure-mgmt-compute")}  # javascript is not routed
    assert bonus[("python", "azure-mgmt-compute")] > 0
    spelled = package_bonus("pip install azure-mgmt-compute", hits, None, ["python"])
    assert set(spelled) == {("python", "azure-mgmt-compute")}
    ranked = rank_packages(hits, bonus)
    assert ranked[0][0] == ("python", "azure-mgmt-compute")
    assert package_bonus("azure-mgmt-compute-extra", hits, None, ["python"]) == {}


def test_a_cross_cutting_question_lifts_the_languages_support_readme() -> None:
    assert topics("how do I set the retry policy and a proxy?") == ["core"]
    assert "identity" in topics("which credential for managed identity?")
    hits = [_hit("python", "azure-storage-blob", 0, 0.05), _hit("python", "azure-ai-agents", 0,
                                                               0.04),
            _hit("python", "azure-storage-queue", 0, 0.03), _hit("python", "azure-core", 0, 0.02)]
    ranked = lift_support(rank_packages(hits), "blob upload retries", ["python"])
    assert [key[1] for key, _s, _i in ranked][:2] == ["azure-storage-blob", "azure-core"]
    same = lift_support(rank_packages(hits), "blob upload", ["python"])
    assert [key[1] for key, _s, _i in same][1] == "azure-ai-agents"


def test_a_management_question_prefers_the_service_it_names() -> None:
    from azsdk_rag.bonuses import is_management, management_bonus, service_words

    assert is_management("create a storage account from code")
    assert is_management("new ComputeManagementClient(credential, subscriptionId)")
    assert not is_management("upload a file to a blob container")
    assert service_words("azure-mgmt-storage") == ["storage"]
    assert service_words("@azure/arm-postgresql-flexible") == ["postgresql", "flexible"]
    assert service_words("Azure.ResourceManager") == ["resource"]
    assert service_words("azure-storage-blob") == []

    def hit(package: str, plane: str) -> tuple[Document, float]:
        return Document(page_content=package, metadata={"language": "python", "package": package,
                                                        "plane": plane, "_id": package}), 0.01

    hits = [hit("azure-storage-blob", "data"), hit("azure-mgmt-storage", "mgmt"),
            hit("azure-mgmt-compute", "mgmt")]
    assert set(management_bonus("create a storage account", hits)) == {
        ("python", "azure-mgmt-storage")}
    assert set(management_bonus("list the VMs in a resource group", hits)) == {
        ("python", "azure-mgmt-compute")}
    assert management_bonus("storage account connection string for blobs", hits) == {}


def test_identifiers_are_also_read_as_words() -> None:
    from azsdk_rag.query_focus import split_identifiers

    assert split_identifiers("the MessageText prop and get_blob_client()") == \
        "message text get blob client"
    assert split_identifiers("plain words only") == ""


def test_a_two_language_cross_cutting_question_lifts_both_support_readmes() -> None:
    hits = [_hit("python", "azure-cosmos", 0, 0.05), _hit("python", "azure-batch", 0, 0.04),
            _hit("javascript", "@azure/cosmos", 0, 0.035), _hit("python", "azure-core", 0, 0.02),
            _hit("javascript", "@azure/logger", 0, 0.01)]
    ranked = lift_support(rank_packages(hits), "how does sdk logging work in python vs js?",
                          ["javascript", "python"])
    top = [key for key, _s, _i in ranked][:3]
    assert set(top[1:]) == {("python", "azure-core"), ("javascript", "@azure/logger")}
