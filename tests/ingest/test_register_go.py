"""A language registered at run time is served end to end, ingest included.

Go is not built in. Registered as one :class:`Language` record (repository, go.mod reader,
management rule, install command, slash commands), it is ingested by ``azsdk-rag ingest --repo``
from a checkout shaped like azure-sdk-for-go (``tests/fixtures/azure-sdk-for-go``) and answered
offline, citing its README; nothing else in the package is told about Go.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from azsdk_rag.cli import cli
from azsdk_rag.errors import SourceError
from azsdk_rag.ingest.sources import load_repo, repo_language, sparse_patterns
from azsdk_rag.languages import (
    LANGUAGES,
    Installer,
    Language,
    ManifestReader,
    PackageInfo,
    code,
    names,
    registered,
)

CHECKOUT = Path(__file__).resolve().parents[1] / "fixtures" / "azure-sdk-for-go"
MODULE = "github.com/Azure/azure-sdk-for-go/sdk"
AZBLOB, ARMSTORAGE = f"{MODULE}/storage/azblob", f"{MODULE}/resourcemanager/storage/armstorage"
AZBLOB_URL = "https://github.com/Azure/azure-sdk-for-go/blob/main/sdk/storage/azblob/README.md"


def read_go_mod(folder: Path) -> PackageInfo | None:
    """A Go module's path is its package name; its version lives in git tags, not in go.mod."""
    found = re.search(r"^module\s+(\S+)", (folder / "go.mod").read_text("utf-8"), re.MULTILINE)
    return {"package": found.group(1), "version": ""} if found else None


GO = Language(
    id="go",
    name="Go",
    slash_commands=("/go", "/golang"),
    fence_tags=("go", "golang"),
    cues=(names("golang", "go get", "go.mod"), code(r"\berr\s*!=\s*nil\b", label="err != nil")),
    package_pattern=r"github\.com/Azure/azure-sdk-for-go/sdk/.+",
    installer=Installer("go get {package}", pinned="go get {package}@{version}"),
    editor_ids=("go",),
    manifests=("go.mod",),
    repository="azure-sdk-for-go",
    manifest_reader=ManifestReader(("go.mod",), read_go_mod),
    management_pattern=r".*/arm\w+$",
)


@pytest.fixture
def go() -> Iterator[Language]:
    assert "go" not in LANGUAGES
    with registered(GO) as lang:
        yield lang
    assert "go" not in LANGUAGES  # the registry is as it was for every later test


def run(args: list[str], index: Path, model_dir: Path) -> Result:
    env = {"AZSDK_RAG_QDRANT_PATH": str(index), "AZSDK_RAG_MODEL_DIR": str(model_dir)}
    return CliRunner().invoke(cli, args, env=env, catch_exceptions=False)


def test_without_go_registered_the_checkout_is_not_an_sdk_repository() -> None:
    with pytest.raises(SourceError, match="is not an Azure SDK repository"):
        load_repo(CHECKOUT)


def test_the_go_record_is_all_that_reading_a_go_checkout_needs(go: Language) -> None:
    assert repo_language(CHECKOUT) is go
    docs = {d.metadata["package"]: d.metadata for d in load_repo(CHECKOUT)}
    assert set(docs) == {AZBLOB, ARMSTORAGE}  # the template module is passed over
    assert docs[AZBLOB]["plane"] == "data" and docs[ARMSTORAGE]["plane"] == "mgmt"
    assert docs[AZBLOB]["language"] == "go" and docs[AZBLOB]["service"] == "storage"
    assert docs[AZBLOB]["url"] == AZBLOB_URL
    assert sparse_patterns(go) == ["/sdk/**/README.md", "/sdk/**/go.mod"]


def test_go_goes_from_ingest_repo_to_a_routed_offline_answer(
        go: Language, tmp_path: Path, model_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # no manifests here: the project's pyproject.toml would hint Python
    index = tmp_path / "index"

    ingested = run(["ingest", "--json", "--repo", str(CHECKOUT)], index, model_dir)
    assert ingested.exit_code == 0, ingested.output
    assert json.loads(ingested.stdout)["readmes"] == 2

    for question in ("/go upload a file to a blob container",
                     "my UploadFile call fails: if err != nil { log.Fatal(err) }"):
        asked = run(["ask", "--json", question], index, model_dir)
        assert asked.exit_code == 0, asked.output
        answer = json.loads(asked.stdout)
        assert answer["route"]["languages"] == ["go"], question
        assert answer["sources"][0]["package"] == AZBLOB
        assert answer["sources"][0]["url"] == AZBLOB_URL
        assert AZBLOB_URL in answer["text"]  # the answer cites the README it quotes
        assert f"go get {AZBLOB}" in answer["text"]
