"""``ingest --github``: shallow, sparse clones with the real git, from local repositories.

``Settings.github_base`` points at a ``file://`` folder holding repositories named like GitHub's
(azure-sdk-for-net, ...), so the clones go through the very code path a real ingest uses.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest

from azsdk_rag.errors import SourceError
from azsdk_rag.ingest.pipeline import load_documents
from azsdk_rag.ingest.sources import clone_sdk, load_github, load_repo
from azsdk_rag.settings import Settings
from support.ingest_fixtures import (
    LANGUAGES,
    REPO_NAMES,
    FakeRepo,
    build_git_bases,
    git,
)


@pytest.fixture(scope="module")
def bases(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, dict[str, FakeRepo]]:
    """(normal checkouts, bare repositories, what each holds)."""
    return build_git_bases(tmp_path_factory.mktemp("git"))


@pytest.fixture
def clone_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Temporary clones land here, so a test can see that they are removed."""
    folder = tmp_path / "clone-tmp"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


def summary(docs: list) -> list[tuple[str, str, str, dict]]:
    return sorted((d.metadata["language"], d.metadata["package"], d.page_content, d.metadata)
                  for d in docs)


def test_clone_is_shallow_sparse_and_partial(bases, tmp_path: Path) -> None:
    _, bare, repos = bases
    target = clone_sdk("python", tmp_path, bare.as_uri())

    assert target == tmp_path / "azure-sdk-for-python"
    assert git("rev-parse", "--is-shallow-repository", cwd=target).strip() == "true"
    assert git("config", "remote.origin.partialclonefilter", cwd=target).strip() == "blob:none"
    files = {p.relative_to(target).as_posix() for p in target.rglob("*")
             if p.is_file() and ".git" not in p.relative_to(target).parts}
    repo = repos["python"]
    assert set(repo.files) <= files  # every README and manifest under sdk/
    assert all(f.startswith("sdk/") for f in files)  # nothing outside sdk/ (root README, eng/)
    assert not any(f.endswith(("CHANGELOG.md", "client.txt")) for f in files)


@pytest.mark.parametrize("kind", ["bare", "normal"])
def test_github_reads_all_five_repositories_like_local_checkouts(bases, clone_tmp: Path,
                                                                 kind: str) -> None:
    work, bare, repos = bases
    base = bare if kind == "bare" else work

    docs = load_github(base.as_uri())

    assert {d.metadata["language"] for d in docs} == set(LANGUAGES)
    assert {(d.metadata["language"], d.metadata["package"]) for d in docs} == \
        {(lang, pkg) for lang, repo in repos.items() for pkg in repo.packages}
    local = [doc for lang in LANGUAGES for doc in load_repo(work / REPO_NAMES[lang])]
    assert summary(docs) == summary(local)
    # links point at GitHub, not at the place the clone came from
    assert all(d.metadata["url"].startswith("https://github.com/Azure/azure-sdk-for-")
               for d in docs)
    assert list(clone_tmp.iterdir()) == []  # the temporary clones are gone


def test_a_bare_ingest_without_a_corpus_clones_from_github_base(bases, clone_tmp: Path) -> None:
    _, bare, repos = bases
    settings = Settings(github_base=bare.as_uri(), qdrant_path=":memory:")
    assert settings.corpus is None

    docs = load_documents(settings)

    assert sorted(d.metadata["package"] for d in docs) == \
        sorted(p for repo in repos.values() for p in repo.packages)


def test_a_subset_of_languages(bases, clone_tmp: Path) -> None:
    _, bare, _ = bases
    docs = load_github(bare.as_uri(), languages=["rust", "dotnet"])
    assert {d.metadata["language"] for d in docs} == {"rust", "dotnet"}


def test_cloning_a_missing_repository_is_one_clear_error(tmp_path: Path,
                                                         clone_tmp: Path) -> None:
    base = tmp_path / "no-repos-here"
    base.mkdir()
    with pytest.raises(SourceError) as err:
        load_github(base.as_uri())
    message = str(err.value)
    assert message.startswith("git clone failed: ")
    assert "azure-sdk-for-" in message and "does not appear to be a git repository" in message
    assert "\n" not in message
    assert list(clone_tmp.iterdir()) == []


def test_a_failure_part_way_leaves_no_clones_behind(bases, tmp_path: Path,
                                                    clone_tmp: Path) -> None:
    _, bare, _ = bases
    partial = tmp_path / "partial"
    partial.mkdir()
    for lang in ("dotnet", "java"):  # the first two of five; javascript is missing
        (partial / REPO_NAMES[lang]).symlink_to(bare / REPO_NAMES[lang])
    with pytest.raises(SourceError, match="azure-sdk-for-js"):
        load_github(partial.as_uri())
    assert list(clone_tmp.iterdir()) == []


def test_without_git_on_the_path_the_error_says_to_install_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, clone_tmp: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))
    with pytest.raises(SourceError, match="git is not installed"):
        load_github((tmp_path / "anything").as_uri(), languages=["rust"])


def test_a_language_without_an_sdk_repository_is_refused_before_any_clone(
        bases, clone_tmp: Path) -> None:
    _, bare, _ = bases
    with pytest.raises(SourceError, match=r"^No SDK repository is known for 'cobol'; known: "
                                          r"dotnet, java, javascript, python, rust\.$"):
        load_github(bare.as_uri(), languages=["rust", "cobol"])
    assert list(clone_tmp.iterdir()) == []  # rust was not cloned first
