"""Sources: corpus files (JSON lines, gzipped or not) and local azure-sdk-for-* checkouts.

Everything runs on real files in tmp_path and the shared sample corpus; git is the real git.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from azsdk_rag.errors import SourceError
from azsdk_rag.ingest.pipeline import load_documents
from azsdk_rag.ingest.sources import METADATA, load_corpus, load_repo, repo_language
from azsdk_rag.settings import Settings
from support.ingest_fixtures import (
    LANGUAGES,
    REPO_NAMES,
    SAMPLE,
    build_checkout,
    corpus_row,
    fake_repos,
    git,
    readme,
    tiny_rows,
    write_jsonl,
    write_tree,
)


def sample_rows() -> list[dict[str, str]]:
    return [json.loads(line) for f in sorted(SAMPLE.glob("*.jsonl"))
            for line in f.read_text(encoding="utf-8").splitlines() if line.strip()]


# -- corpus files ---------------------------------------------------------------------------------
def test_sample_corpus_yields_one_document_per_line_with_its_metadata() -> None:
    rows = sample_rows()
    docs = load_corpus([SAMPLE])

    assert len(docs) == len(rows) == 29
    assert {d.metadata["language"] for d in docs} == set(LANGUAGES)
    by_key = {(r["language"], r["package"]): r for r in rows}
    for doc in docs:
        row = by_key[(doc.metadata["language"], doc.metadata["package"])]
        assert set(METADATA) <= set(doc.metadata)
        assert doc.page_content == row["text"]
        for key in ("service", "plane", "title", "url", "path", "version"):
            assert doc.metadata[key] == (row.get(key) or ""), key
        assert doc.metadata["title"] and doc.metadata["url"].startswith("https://github.com/Azure/")
        assert all(isinstance(v, str) for v in doc.metadata.values())


def test_version_and_group_are_kept_where_the_corpus_knows_them() -> None:
    docs = {(d.metadata["language"], d.metadata["package"]): d.metadata
            for d in load_corpus([SAMPLE])}
    assert docs[("rust", "azure_storage_blob")]["version"] == "1.1.0-beta.3"
    assert docs[("java", "azure-resourcemanager-storage")]["group"] == "com.azure.resourcemanager"
    assert docs[("dotnet", "Azure.Identity")]["version"] == ""  # unknown stays empty
    assert docs[("python", "azure-mgmt-storage")]["plane"] == "mgmt"


def test_a_single_file_a_folder_and_gzip_read_the_same(tmp_path: Path) -> None:
    rows = tiny_rows()
    plain = write_jsonl(tmp_path / "plain" / "tiny.jsonl", rows)
    zipped = write_jsonl(tmp_path / "zipped" / "tiny.jsonl.gz", rows)
    (tmp_path / "zipped" / "notes.txt").write_text("not a corpus file")

    from_file = load_corpus([plain])
    from_folder = load_corpus([zipped.parent])

    assert [d.metadata["package"] for d in from_file] == [r["package"] for r in rows]
    assert [(d.page_content, d.metadata) for d in from_folder] == \
        [(d.page_content, d.metadata) for d in from_file]


def test_several_paths_and_blank_lines(tmp_path: Path) -> None:
    one, two = tiny_rows()[:1], tiny_rows()[1:]
    a = write_jsonl(tmp_path / "a.jsonl", ["", *one, "   "])
    b = write_jsonl(tmp_path / "b" / "b.jsonl.gz", two)
    docs = load_corpus([a, b.parent])
    assert [d.metadata["package"] for d in docs] == [r["package"] for r in one + two]


def test_missing_fields_are_filled_title_from_first_h1_outside_code(tmp_path: Path) -> None:
    text = ("Intro line.\n\n```bash\n# not the title, a shell comment\n```\n\n"
            "## Second level first\n\n# The Real Title\n\nBody.\n")
    bare = {"language": "javascript", "package": "@azure/arm-widgets", "text": text}
    no_heading = {"language": "python", "package": "azure-plain", "text": "plain text " * 40}
    only_h2 = {"language": "python", "package": "azure-h2", "text": "## Only H2\n\ntext\n"}
    docs = load_corpus([write_jsonl(tmp_path / "c.jsonl", [bare, no_heading, only_h2])])

    assert docs[0].metadata["title"] == "The Real Title"
    assert docs[0].metadata["plane"] == "mgmt"  # @azure/arm-* is management plane
    assert docs[0].metadata["url"] == "" and docs[0].metadata["version"] == ""
    assert docs[1].metadata["title"] == "azure-plain"  # no heading: the package name
    assert docs[1].metadata["plane"] == "data"
    assert docs[2].metadata["title"] == "Only H2"


GOOD = json.dumps(corpus_row("python", "azure-good"))


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        ("bad.jsonl", f"{GOOD}\n{{not json\n", r"bad\.jsonl:2: not valid JSON"),
        ("nopkg.jsonl", json.dumps({"language": "python", "text": "x" * 400}) + "\n",
         r"nopkg\.jsonl:1: missing field\(s\) package"),
        ("empty-pkg.jsonl", json.dumps({"language": "rust", "package": "", "text": "t"}) + "\n",
         r"empty-pkg\.jsonl:1: missing field\(s\) package"),
        ("list.jsonl", "[1, 2]\n", r"list\.jsonl:1: expected a JSON object"),
        ("text.jsonl", json.dumps({"language": "rust", "package": "p", "text": 5}) + "\n",
         r"text\.jsonl:1: .*text"),
        ("latin1.jsonl", b'{"language": "rust", "package": "caf\xe9", "text": "x"}\n',
         r"latin1\.jsonl: cannot read"),
        ("notgzip.jsonl.gz", f"{GOOD}\n", r"notgzip\.jsonl\.gz: cannot read"),
    ],
)
def test_a_bad_line_or_file_is_one_clear_error(tmp_path: Path, name: str, content: str | bytes,
                                               expected: str) -> None:
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    with pytest.raises(SourceError, match=expected) as err:
        load_corpus([path])
    assert "\n" not in str(err.value)


def _lone_surrogate(field: str) -> dict[str, str]:
    row = corpus_row("python", "azure-odd")
    row[field] = row.get(field, "Odd") + "\ud800"  # valid JSON ("\\ud800"), not encodable as UTF-8
    return row


@pytest.mark.parametrize(
    ("rows", "expected"),
    [
        ([GOOD, _lone_surrogate("text")],
         r"odd\.jsonl:2: field text is not valid Unicode text \(a lone surrogate U\+D800 at "
         r"character \d+\)\.$"),
        ([_lone_surrogate("title")], r"odd\.jsonl:1: field title is not valid Unicode text"),
        ([GOOD, GOOD, {**corpus_row("python", "azure-cobol"), "language": "cobol"}],
         r"odd\.jsonl:3: unknown language 'cobol'; known: dotnet, java, javascript, python, "
         r"rust\.$"),
        ([{**corpus_row("python", "azure-odd"), "service": {"name": "x"}}],
         r"odd\.jsonl:1: field service must be a string\.$"),
    ],
    ids=["lone surrogate in text", "lone surrogate in metadata", "unknown language",
         "an object as metadata"],
)
def test_odd_text_and_unknown_languages_are_refused_with_file_and_line(
        tmp_path: Path, rows: list[dict[str, str] | str], expected: str) -> None:
    path = write_jsonl(tmp_path / "odd.jsonl", rows)
    for line in path.read_text(encoding="utf-8").splitlines():
        json.loads(line)  # every row is valid JSON
    with pytest.raises(SourceError, match=expected) as err:
        load_corpus([path])
    assert "\n" not in str(err.value)


def test_blank_texts_and_empty_files_are_warned_with_counts(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    blank = [{**corpus_row("python", f"azure-blank{n}"), "text": text}
             for n, text in enumerate(["", "   \n\t "])]
    mixed = write_jsonl(tmp_path / "mixed.jsonl", [blank[0], GOOD, blank[1]])
    empty = write_jsonl(tmp_path / "empty.jsonl", [])
    with caplog.at_level("WARNING", logger="azsdk_rag.ingest.sources"):
        docs = load_corpus([mixed, empty])
    assert [d.metadata["package"] for d in docs] == ["azure-good"]
    assert caplog.messages == [
        f"{mixed}: skipped 2 row(s) with blank text (line 1, 3).",
        f"{empty}: no README rows (the file is empty).",
    ]


def test_nothing_read_at_all_is_an_error_before_anything_is_written(tmp_path: Path) -> None:
    blank = write_jsonl(tmp_path / "blank.jsonl", [{**corpus_row("rust", "p"), "text": " "}])
    empty = write_jsonl(tmp_path / "empty.jsonl.gz", [])
    settings = Settings(qdrant_path=str(tmp_path / "index"))
    with pytest.raises(SourceError, match=r"^No README text was read from the sources"):
        load_documents(settings, corpus=[blank, empty])
    assert load_documents(settings, corpus=[blank, write_jsonl(tmp_path / "g.jsonl", [GOOD])])


def test_a_manifest_with_a_lone_surrogate_is_refused_with_its_folder(tmp_path: Path) -> None:
    root = write_tree(tmp_path / "azure-sdk-for-js", {
        "sdk/odd/odd-pkg/package.json": '{"name": "@azure/odd-\\ud800", "version": "1.0.0"}',
        "sdk/odd/odd-pkg/README.md": readme("Odd client library", "@azure/odd"),
    })
    with pytest.raises(SourceError, match=r"odd-pkg: the manifest's package is not valid Unicode "
                                          r"text \(a lone surrogate U\+D800 at character 11\)"):
        load_repo(root)


def test_a_truncated_gzip_file_is_one_clear_error(tmp_path: Path) -> None:
    data = gzip.compress(("\n".join(json.dumps(r) for r in tiny_rows()) + "\n").encode())
    path = tmp_path / "cut.jsonl.gz"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(SourceError, match=r"cut\.jsonl\.gz: cannot read"):
        load_corpus([path])


def test_a_missing_corpus_or_an_empty_folder_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match=r"Corpus not found: .*nowhere"):
        load_corpus([tmp_path / "nowhere"])
    (tmp_path / "empty").mkdir()
    with pytest.raises(SourceError, match=r"No \*\.jsonl or \*\.jsonl\.gz files in .*empty"):
        load_corpus([tmp_path / "empty"])


def test_the_configured_corpus_is_what_a_bare_ingest_reads(tmp_path: Path) -> None:
    corpus = write_jsonl(tmp_path / "c.jsonl", tiny_rows())
    settings = Settings(corpus=corpus, qdrant_path=":memory:")
    docs = load_documents(settings)
    assert [d.metadata["package"] for d in docs] == [r["package"] for r in tiny_rows()]


# -- local checkouts -----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def checkouts(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("checkouts")
    return {lang: build_checkout(root / REPO_NAMES[lang], repo)
            for lang, repo in fake_repos().items()}


@pytest.mark.parametrize("language", LANGUAGES)
def test_a_checkout_yields_its_package_readmes_with_manifest_metadata(
        checkouts: dict[str, Path], language: str) -> None:
    repo = fake_repos()[language]
    docs = load_repo(checkouts[language])

    got = {d.metadata["package"]: d for d in docs}
    assert set(got) == set(repo.packages)
    for name, expected in repo.packages.items():
        meta = got[name].metadata
        assert meta["language"] == language
        assert meta["path"] == expected["path"]
        assert meta["service"] == expected["service"]
        assert meta["version"] == expected["version"]
        assert meta["group"] == expected.get("group", "")
        assert meta["plane"] == expected.get("plane", "data")
        assert meta["title"] == f"{name} client library"
        assert meta["url"] == \
            f"https://github.com/Azure/{REPO_NAMES[language]}/blob/main/{expected['path']}"
        assert got[name].page_content == readme(f"{name} client library", name)
    read = {d.metadata["path"] for d in docs}
    assert not read & set(repo.skipped)  # samples, tests, perf, templates, short, no manifest


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_language_comes_from_the_manifests_of_an_unnamed_folder(
        tmp_path: Path, language: str) -> None:
    folder = write_tree(tmp_path / "checkout", fake_repos()[language].files)
    assert repo_language(folder).id == language
    assert {d.metadata["language"] for d in load_repo(folder)} == {language}


def test_the_language_comes_from_the_git_remote_or_the_folder_name(tmp_path: Path) -> None:
    # python manifests, but the remote says java: the remote wins over the manifests
    clone = write_tree(tmp_path / "clone", fake_repos()["python"].files)
    git("init", "-q", str(clone))
    git("remote", "add", "origin", "https://github.com/Azure/azure-sdk-for-java.git", cwd=clone)
    assert repo_language(clone).id == "java"
    unzipped = write_tree(tmp_path / "azure-sdk-for-rust-main", fake_repos()["python"].files)
    assert repo_language(unzipped).id == "rust"


def test_a_folder_that_is_not_an_sdk_repository_is_refused(tmp_path: Path) -> None:
    other = write_tree(tmp_path / "my-project", {"README.md": readme("Mine", "mine"),
                                                 "src/app.py": "print('hi')\n"})
    with pytest.raises(SourceError, match="is not an Azure SDK repository") as err:
        load_repo(other)
    assert "(expected an azure-sdk-for-{net,java,js,python,rust} checkout" in str(err.value)
    with pytest.raises(SourceError, match="not found"):
        load_repo(tmp_path / "missing")
    named = (tmp_path / "azure-sdk-for-python")
    named.mkdir()
    with pytest.raises(SourceError, match="has no sdk/ folder"):
        load_repo(named)


def test_a_checkout_without_package_readmes_is_an_error(tmp_path: Path) -> None:
    repo = fake_repos()["python"]
    only_skipped = {p: t for p, t in repo.files.items()
                    if not any(p.startswith(v["path"].rsplit("/", 1)[0] + "/")
                               for v in repo.packages.values())}
    folder = write_tree(tmp_path / "azure-sdk-for-python", only_skipped)
    with pytest.raises(SourceError, match="No package READMEs found"):
        load_repo(folder)
