"""``azsdk-rag ingest`` and ``status``: JSON output, every source, faults, and a killed ingest.

Most runs use click's CliRunner in this process (models load once); the killed ingest and one smoke
test run the installed ``azsdk-rag`` script in a subprocess. Real models, real Qdrant, real git.
"""

from __future__ import annotations

import gzip
import json
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from azsdk_rag.cli import cli
from azsdk_rag.ingest.pipeline import ingest
from azsdk_rag.settings import Settings
from azsdk_rag.store import Store
from support.ingest_fixtures import (
    CLI,
    REPO_NAMES,
    FakeRepo,
    build_git_bases,
    cli_env,
    closed_port,
    error_lines,
    sample_rows,
    store_held_by_another_process,
    tiny_rows,
    write_jsonl,
    write_tree,
)

INGEST_WORKER = Path(__file__).resolve().parent / "support" / "reliability_ingest_worker.py"


def run_cli(args: list[str], qdrant_path: Path, model_dir: Path, **env: str) -> Result:
    environment = {"AZSDK_RAG_MODEL_DIR": str(model_dir), "AZSDK_RAG_QDRANT_PATH": str(qdrant_path),
                   **env}
    return CliRunner().invoke(cli, args, env=environment)


def ids(path: Path, **settings: object) -> set[str]:
    with Store.open(Settings(qdrant_path=str(path), **settings)) as store:
        return {i for group in store.ids_by_package().values() for i in group}


def assert_one_error_line(result: Result, *fragments: str) -> str:
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    lines = error_lines(result.stderr)
    assert len(lines) == 1, result.stderr
    for fragment in fragments:
        assert fragment in lines[0]
    assert result.stdout == ""
    return lines[0]


@pytest.fixture(scope="module")
def tiny_corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_jsonl(tmp_path_factory.mktemp("corpus") / "tiny.jsonl", tiny_rows())


@pytest.fixture(scope="module")
def populated(tmp_path_factory: pytest.TempPathFactory, tiny_corpus: Path,
              model_dir: Path) -> Path:
    """An index of the tiny corpus that the fault tests must leave exactly as it is."""
    path = tmp_path_factory.mktemp("populated") / "index"
    ingest(Settings(qdrant_path=str(path), model_dir=model_dir), corpus=[tiny_corpus],
           progress=False)
    return path


@pytest.fixture(scope="module")
def git_bases(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, dict[str, FakeRepo]]:
    return build_git_bases(tmp_path_factory.mktemp("git"))


# -- output ---------------------------------------------------------------------------------------
def test_ingest_json_then_status_json(tmp_path: Path, tiny_corpus: Path, model_dir: Path) -> None:
    index = tmp_path / "index"
    first = run_cli(["ingest", "--corpus", str(tiny_corpus), "--json"], index, model_dir)
    assert first.exit_code == 0, first.output
    report = json.loads(first.stdout)
    assert set(report) == {"readmes", "chunks", "written", "updated", "deleted", "unchanged",
                           "pruned_packages", "unchanged_readmes", "seconds"}
    assert report["readmes"] == 3 and report["written"] == report["chunks"] >= 3

    again = json.loads(run_cli(["ingest", "--corpus", str(tiny_corpus), "--json"], index,
                               model_dir).stdout)
    assert again["written"] == 0 and again["unchanged"] == report["chunks"]

    status = run_cli(["status", "--json"], index, model_dir)
    assert status.exit_code == 0, status.output
    data = json.loads(status.stdout)
    assert data["location"] == str(index) and data["backend"] == "embedded"
    assert data["collection"] == "AzureSDKs" and data["exists"] is True
    assert data["embeddings"] == {"dense_model": "sentence-transformers/all-MiniLM-L6-v2",
                                  "dense_dim": 384, "sparse_model": "Qdrant/bm25"}
    assert data["points"] == report["chunks"]
    assert set(data["languages"]) == {"python", "javascript", "rust"}
    assert all(v["packages"] == 1 for v in data["languages"].values())
    assert sum(v["points"] for v in data["languages"].values()) == data["points"]


def test_text_output_of_ingest_and_status(tmp_path: Path, tiny_corpus: Path,
                                          model_dir: Path) -> None:
    index = tmp_path / "index"
    result = run_cli(["ingest", "--corpus", str(tiny_corpus)], index, model_dir)
    assert result.exit_code == 0, result.output
    assert "3 READMEs" in result.stdout and f"AzureSDKs at {index}" in result.stdout

    status = run_cli(["status"], index, model_dir)
    assert status.exit_code == 0
    assert f"location:   {index} (embedded)" in status.stdout
    assert "sentence-transformers/all-MiniLM-L6-v2 (384-d) + Qdrant/bm25" in status.stdout
    for lang in ("python", "javascript", "rust"):
        assert lang in status.stdout


def test_status_of_an_index_not_built_yet(tmp_path: Path, model_dir: Path) -> None:
    result = run_cli(["status", "--json"], tmp_path / "empty", model_dir)
    assert result.exit_code == 0
    data = json.loads(result.stdout)
    assert data["exists"] is False and data["points"] == 0


def test_a_bare_ingest_reads_the_configured_corpus(tmp_path: Path, tiny_corpus: Path,
                                                   model_dir: Path) -> None:
    result = run_cli(["ingest", "--json"], tmp_path / "index", model_dir,
                     AZSDK_RAG_CORPUS=str(tiny_corpus))
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["readmes"] == 3


@pytest.mark.slow  # git clones of five repositories
def test_a_bare_ingest_without_a_corpus_clones_the_five_repositories(
        tmp_path: Path, model_dir: Path, git_bases) -> None:
    _, bare, repos = git_bases
    index = tmp_path / "index"
    result = run_cli(["ingest", "--json"], index, model_dir, AZSDK_RAG_GITHUB_BASE=bare.as_uri())
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["readmes"] == sum(len(r.packages) for r in repos.values())

    data = json.loads(run_cli(["status", "--json"], index, model_dir).stdout)
    assert {lang: v["packages"] for lang, v in data["languages"].items()} == \
        {lang: len(r.packages) for lang, r in repos.items()}


def test_ingest_of_a_local_checkout_and_prune(tmp_path: Path, model_dir: Path, git_bases) -> None:
    work, _, repos = git_bases
    index = tmp_path / "index"
    checkout = work / REPO_NAMES["rust"]
    result = run_cli(["ingest", "--repo", str(checkout), "--json"], index, model_dir)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["readmes"] == len(repos["rust"].packages) == 2

    # the same checkout with one crate removed: --prune drops it
    smaller = write_tree(tmp_path / REPO_NAMES["rust"],
                         {p: t for p, t in repos["rust"].files.items()
                          if not p.startswith("sdk/core/azure_core/")})
    report = json.loads(run_cli(["ingest", "--repo", str(smaller), "--prune", "--json"], index,
                                model_dir).stdout)
    assert report["pruned_packages"] == 1 and report["deleted"] > 0 and report["written"] == 0
    data = json.loads(run_cli(["status", "--json"], index, model_dir).stdout)
    assert data["languages"] == {"rust": {"packages": 1,
                                          "points": data["points"]}}


# -- faults: one line, exit 1, the index as it was -------------------------------------------------
def _corrupt_gz(tmp: Path) -> list[str]:
    data = gzip.compress("\n".join(json.dumps(r) for r in tiny_rows()).encode())
    (tmp / "cut.jsonl.gz").write_bytes(data[:40])
    return ["ingest", "--corpus", str(tmp / "cut.jsonl.gz")]


def _invalid_json(tmp: Path) -> list[str]:
    path = write_jsonl(tmp / "bad.jsonl", [*tiny_rows(), '{"language": "python", "package"'])
    return ["ingest", "--corpus", str(path)]


def _missing_package(tmp: Path) -> list[str]:
    row = {k: v for k, v in tiny_rows()[0].items() if k != "package"}
    return ["ingest", "--corpus", str(write_jsonl(tmp / "nopkg.jsonl", [*tiny_rows(), row]))]


def _not_a_repo(tmp: Path) -> list[str]:
    folder = write_tree(tmp / "project", {"README.md": "# Mine\n", "src/main.py": "print(1)\n"})
    return ["ingest", "--repo", str(folder)]


FAULTS: dict[str, tuple[Callable[[Path], list[str]], dict[str, str], tuple[str, ...]]] = {
    "missing corpus": (lambda tmp: ["ingest", "--corpus", str(tmp / "nowhere.jsonl")], {},
                       ("Corpus not found", "nowhere.jsonl")),
    "corrupt gzip": (_corrupt_gz, {}, ("cut.jsonl.gz: cannot read",)),
    "invalid json": (_invalid_json, {}, ("bad.jsonl:4: not valid JSON",)),
    "missing package": (_missing_package, {}, ("nopkg.jsonl:4: missing field(s) package",)),
    "not an sdk repository": (_not_a_repo, {}, ("is not an Azure SDK repository",)),
    "git failure": (lambda tmp: ["ingest", "--github"],
                    {"AZSDK_RAG_GITHUB_BASE": "file:///nonexistent/azsdk-rag-test"},
                    ("git clone failed", "azure-sdk-for-net")),
    "bare ingest, git failure": (lambda tmp: ["ingest"],
                                 {"AZSDK_RAG_GITHUB_BASE": "file:///nonexistent/azsdk-rag-test"},
                                 ("git clone failed",)),
}


@pytest.mark.parametrize("fault", list(FAULTS))
def test_a_fault_is_one_line_and_leaves_the_index_as_it_was(
        fault: str, tmp_path: Path, populated: Path, model_dir: Path) -> None:
    make_args, env, fragments = FAULTS[fault]
    before = ids(populated)
    result = run_cli(make_args(tmp_path), populated, model_dir, **env)
    line = assert_one_error_line(result, *fragments)
    assert line.startswith("error: ")
    assert ids(populated) == before


def _odd_rows(tmp: Path) -> dict[str, Path]:
    good = tiny_rows()
    return {
        "lone surrogate": write_jsonl(tmp / "odd.jsonl",
                                      [good[0], {**good[1], "text": good[1]["text"] + "\ud800"}]),
        "unknown language": write_jsonl(tmp / "cobol.jsonl", [{**good[0], "language": "cobol"}]),
        "nothing read": write_jsonl(tmp / "blank.jsonl", [{**good[0], "text": "  "}]),
        "empty file": write_jsonl(tmp / "empty.jsonl", []),
    }


ODD_LINES = {
    "lone surrogate": "odd.jsonl:2: field text is not valid Unicode text (a lone surrogate U+D800",
    "unknown language": "cobol.jsonl:1: unknown language 'cobol'; known: dotnet, java, "
                        "javascript, python, rust.",
    "nothing read": "No README text was read from the sources",
    "empty file": "No README text was read from the sources",
}


@pytest.mark.parametrize("case", list(ODD_LINES))
def test_odd_text_is_one_line_with_file_and_line_and_a_fresh_path_stays_empty(
        case: str, tmp_path: Path, populated: Path, model_dir: Path,
        caplog: pytest.LogCaptureFixture) -> None:
    corpus = _odd_rows(tmp_path)[case]
    fresh = tmp_path / "fresh-index"
    result = run_cli(["ingest", "--corpus", str(corpus)], fresh, model_dir)
    assert result.exit_code == 1, result.output
    assert error_lines(result.stderr) == [line for line in result.stderr.splitlines()
                                          if line.startswith("error:")]
    assert len(error_lines(result.stderr)) == 1 and ODD_LINES[case] in result.stderr
    assert "Traceback" not in result.output and "unexpected" not in result.output
    assert not fresh.exists()  # nothing written: no folder, no empty collection
    if case in ("nothing read", "empty file"):  # a warning says what was skipped, with counts
        # (the installed script logs it to stderr as "WARNING azsdk_rag.ingest.sources: ...")
        assert {"nothing read": "skipped 1 row(s) with blank text (line 1)",
                "empty file": "no README rows (the file is empty)"}[case] in caplog.text

    before = ids(populated)
    assert run_cli(["ingest", "--corpus", str(corpus)], populated, model_dir).exit_code == 1
    assert ids(populated) == before


@pytest.mark.slow  # another process
def test_a_second_ingest_while_one_runs_is_one_line_and_status_still_works(
        populated: Path, tiny_corpus: Path, model_dir: Path) -> None:
    before = ids(populated)
    with store_held_by_another_process(populated):
        result = run_cli(["ingest", "--corpus", str(tiny_corpus)], populated, model_dir)
        status = run_cli(["status"], populated, model_dir)
    line = assert_one_error_line(result, str(populated), "Another 'azsdk-rag ingest'")
    assert "wait for it" in line
    assert status.exit_code == 0 and "points:" in status.stdout
    assert ids(populated) == before


def test_an_unreachable_qdrant_server(populated: Path, tiny_corpus: Path,
                                      model_dir: Path) -> None:
    before = ids(populated)
    url = f"http://127.0.0.1:{closed_port()}"
    result = run_cli(["--qdrant-url", url, "ingest", "--corpus", str(tiny_corpus)], populated,
                     model_dir)
    assert_one_error_line(result, f"Cannot reach the Qdrant server at {url}")
    assert ids(populated) == before


@pytest.mark.slow  # another process
def test_the_installed_script_prints_one_line_and_no_traceback(tmp_path: Path) -> None:
    proc = subprocess.run([str(CLI), "ingest", "--corpus", str(tmp_path / "missing")],
                          env=cli_env(tmp_path / "index"), capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 1
    assert proc.stdout == "" and "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines() == [f"error: Corpus not found: {tmp_path / 'missing'}."]


# -- an ingest killed half-way -------------------------------------------------------------------
@pytest.mark.slow  # another process
def test_an_ingest_killed_half_way_and_run_again_equals_a_clean_run(
        tmp_path: Path, model_dir: Path) -> None:
    small = {"AZSDK_RAG_BATCH_SIZE": "4", "AZSDK_RAG_CHUNK_TOKENS": "96",
             "AZSDK_RAG_CHUNK_OVERLAP": "8"}
    knobs = {"batch_size": 4, "chunk_tokens": 96, "chunk_overlap": 8, "model_dir": model_dir}
    old, other = sample_rows("azure-mgmt-storage", "azure-resourcemanager-storage")
    # the index starts with an older version of one README, so the killed run also replaces
    older = {**old, "title": f"{old['title']} (2019)",
             "text": old["text"].replace("Storage", "Storage (2019)")}
    index, clean = tmp_path / "index", tmp_path / "clean"
    ingest(Settings(qdrant_path=str(index), **knobs),
           corpus=[write_jsonl(tmp_path / "v1.jsonl", [older])], progress=False)
    corpus = write_jsonl(tmp_path / "v2.jsonl", [old, other])
    start = len(ids(index))

    reference = ingest(Settings(qdrant_path=str(clean), **knobs), corpus=[corpus],
                       progress=False)
    cut = 6  # new points written when the kill lands: half-way through the second batch of 4
    assert reference.written > 2 * cut  # really half-way

    # The real command line, stopped at exactly that point by the worker (it prints "paused 6"
    # and waits), then killed: no polling of the store, no race with the ingest's end.
    log = tmp_path / "killed.stderr"
    with log.open("w") as err:
        proc = subprocess.Popen([sys.executable, str(INGEST_WORKER), "--pause-at", str(cut),
                                 "--cli", "ingest", "--corpus", str(corpus)],
                                env=cli_env(index, **small), stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, stderr=err, text=True)
    try:
        assert proc.stdout is not None
        paused = proc.stdout.readline().strip()  # bounded by the test timeout
        assert paused == f"paused {cut}", f"the ingest did not stop: {log.read_text()}"
    finally:
        proc.kill()
        proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    assert len(ids(index)) == start  # the previous version serves, as it was

    result = run_cli(["ingest", "--corpus", str(corpus), "--json"], index, model_dir, **small)
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)

    assert ids(index) == ids(clean)
    with Store.open(Settings(qdrant_path=str(index))) as store:
        assert store.count() == reference.chunks == reference.written
    assert report["written"] == reference.chunks - report["unchanged"]
    assert report["deleted"] == start  # the old version of the README
    leftovers = {p.name for p in (index / "AzureSDKs").iterdir()}
    assert not any(name.endswith(".tmp") for name in leftovers)  # the killed run's, cleaned
