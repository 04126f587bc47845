"""Builders for the ingest tests: tiny corpora, fake azure-sdk-for-* git repositories, a store held
by another process, and the environment of ``azsdk-rag`` subprocesses.

Plain functions, not fixtures: each test module wraps what it needs in its own fixtures, so nothing
here depends on pytest's plugin loading and every helper can be called from a script too.
"""

from __future__ import annotations

import contextlib
import gzip
import json
import os
import socket
import sqlite3
import subprocess
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from azsdk_rag.ingest.chunking import FENCE
from azsdk_rag.languages import BUILTIN_LANGUAGES

ROOT = Path(__file__).resolve().parents[2]
SHARED = Path(os.environ.get("AZSDK_RAG_SHARED", ROOT.parent / "shared"))
MODELS = SHARED / "models"
SAMPLE = SHARED / "corpus" / "sample"
TIKTOKEN = SHARED / "tiktoken"
CLI = ROOT / ".venv" / "bin" / "azsdk-rag"
# What the fake repositories are called comes from the language records, as for a real ingest.
LANGUAGES = tuple(lang.id for lang in BUILTIN_LANGUAGES)
REPO_NAMES = {lang.id: lang.repository for lang in BUILTIN_LANGUAGES}


# -- README texts and corpus files ----------------------------------------------------------------
def readme(title: str, package: str, *, extra: str = "") -> str:
    """A small package README (over the 300-byte floor) with headings and a code fence."""
    return (
        f"# {title}\n\n"
        f"{title} is a client library used by the ingest tests. It stands in for the package "
        f"{package}, with enough prose to pass the 300-byte floor of real package READMEs.\n\n"
        "## Getting started\n\n"
        "### Install the package\n\n"
        "```bash\n"
        f"install {package}\n"
        "```\n\n"
        "## Key concepts\n\n"
        f"The client is the entry point of {package}; it sends requests and returns models. "
        f"{extra}\n"
    )


def corpus_row(language: str, package: str, text: str | None = None, **meta: Any) -> dict[str, Any]:
    """One corpus line, as /work/shared/corpus/README.md describes it."""
    service = meta.pop("service", "tiny")
    return {
        "language": language,
        "package": package,
        "service": service,
        "path": f"sdk/{service}/{package}/README.md",
        "url": f"https://github.com/Azure/{REPO_NAMES[language]}/blob/main/sdk/{service}/README.md",
        "text": text if text is not None else readme(f"Tiny {package}", package),
        **meta,
    }


TINY_ROWS = (
    ("python", "azure-tiny-blob"),
    ("javascript", "@azure/tiny-queue"),
    ("rust", "azure_tiny_table"),
)


def tiny_rows() -> list[dict[str, Any]]:
    """Three one-chunk READMEs in three languages: cheap to embed."""
    return [corpus_row(lang, pkg, version="1.0.0") for lang, pkg in TINY_ROWS]


def write_jsonl(path: Path, rows: Iterable[dict[str, Any] | str]) -> Path:
    """Rows as JSON lines (strings are written as they are); gzipped when the name ends in .gz."""
    text = "".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.name.endswith(".gz"):
        path.write_bytes(gzip.compress(text.encode()))
    else:
        path.write_text(text, encoding="utf-8")
    return path


def sample_rows(*packages: str) -> list[dict[str, Any]]:
    """Rows of the shared sample corpus, by package name, in the order asked."""
    rows = {}
    for file in sorted(SAMPLE.glob("*.jsonl")):
        for line in file.read_text(encoding="utf-8").splitlines():
            row = json.loads(line)
            rows[row["package"]] = row
    return [rows[p] for p in packages]


# -- fake azure-sdk-for-* repositories -------------------------------------------------------------
def _pyproject(name: str, version: str) -> str:
    return f'[project]\nname = "{name}"\nversion = "{version}"\n'


def _package_json(name: str, version: str) -> str:
    return json.dumps({"name": name, "version": version, "main": "dist/index.js"})


def _pom(artifact: str, version: str, group: str = "com.azure") -> str:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<project xmlns="http://maven.apache.org/POM/4.0.0">\n'
        "  <modelVersion>4.0.0</modelVersion>\n"
        "  <parent><groupId>com.azure</groupId><artifactId>azure-client-sdk-parent</artifactId>"
        "<version>1.7.0</version></parent>\n"
        f"  <groupId>{group}</groupId>\n  <artifactId>{artifact}</artifactId>\n"
        f"  <version>{version}</version>\n</project>\n"
    )


def _csproj(version: str, package_id: str | None = None) -> str:
    pid = f"<PackageId>{package_id}</PackageId>" if package_id else ""
    return (
        '<Project Sdk="Microsoft.NET.Sdk">\n  <PropertyGroup>\n'
        f"    {pid}<Version>{version}</Version>\n"
        "    <TargetFrameworks>net8.0</TargetFrameworks>\n  </PropertyGroup>\n</Project>\n"
    )


def _cargo(name: str, version: str | None) -> str:
    ver = f'version = "{version}"' if version else "version.workspace = true"
    return f'[package]\nname = "{name}"\n{ver}\nedition = "2021"\n'


@dataclass
class FakeRepo:
    """Files of one fake SDK checkout and what reading it must yield."""

    language: str
    files: dict[str, str] = field(default_factory=dict)
    packages: dict[str, dict[str, str]] = field(default_factory=dict)  # name -> expected metadata
    skipped: list[str] = field(default_factory=list)  # README paths that must not be read

    def package(self, folder: str, manifest: str, body: str, name: str, **meta: str) -> None:
        self.files[f"{folder}/README.md"] = readme(f"{name} client library", name)
        self.files[f"{folder}/{manifest}"] = body
        self.packages[name] = {"path": f"{folder}/README.md", "service": folder.split("/")[1],
                               **meta}

    def skip(self, path: str, manifest: str | None = None, body: str = "") -> None:
        """A README (with its manifest) that a package reader must pass over."""
        name = path.rsplit("/", 2)[-2]
        self.files[path] = readme(f"{name} (not a package README)", name)
        if manifest:
            self.files[f"{path.rsplit('/', 1)[0]}/{manifest}"] = body
        self.skipped.append(path)


def fake_repos() -> dict[str, FakeRepo]:
    """Small checkouts of all five SDKs: packages, plus samples/perf/template READMEs to skip."""
    py = FakeRepo("python")
    py.package("sdk/storage/azure-storage-blob", "pyproject.toml",
               _pyproject("azure-storage-blob", "12.0.0"), "azure-storage-blob", version="12.0.0")
    py.package("sdk/core/azure-core", "setup.py",
               'PACKAGE_NAME = "azure-core"\nsetup(name=PACKAGE_NAME, version="1.30.0")\n',
               "azure-core", version="")
    # like most of azure-sdk-for-python: a pyproject.toml with tool settings only, beside setup.py
    py.files["sdk/core/azure-core/pyproject.toml"] = "[tool.azure-sdk-build]\npyright = false\n"
    py.package("sdk/storage/azure-mgmt-storage", "pyproject.toml",
               _pyproject("azure-mgmt-storage", "21.0.0"), "azure-mgmt-storage",
               version="21.0.0", plane="mgmt")
    py.skip("sdk/storage/azure-storage-blob/samples/README.md")
    py.skip("sdk/storage/azure-storage-blob/tests/perfstress_tests/README.md")
    py.skip("sdk/storage/azure-storage-perf/README.md", "pyproject.toml",
            _pyproject("azure-storage-perf", "0.0.1"))
    py.skip("sdk/template/azure-template/README.md", "pyproject.toml",
            _pyproject("azure-template", "0.0.1"))
    py.files["sdk/core/azure-core-tiny/README.md"] = "# azure-core-tiny\n\nToo short.\n"
    py.files["sdk/core/azure-core-tiny/pyproject.toml"] = _pyproject("azure-core-tiny", "1.0")
    py.skipped.append("sdk/core/azure-core-tiny/README.md")
    py.skip("sdk/core/azure-nomanifest/README.md")  # no manifest beside it

    js = FakeRepo("javascript")
    js.package("sdk/storage/storage-blob", "package.json",
               _package_json("@azure/storage-blob", "12.1.0"), "@azure/storage-blob",
               version="12.1.0")
    js.package("sdk/storage/arm-storage", "package.json",
               _package_json("@azure/arm-storage", "18.0.0"), "@azure/arm-storage",
               version="18.0.0", plane="mgmt")
    js.skip("sdk/storage/storage-blob/samples/v12/javascript/README.md", "package.json",
            _package_json("@azure-samples/storage-blob-js", "1.0.0"))
    js.skip("sdk/test-utils/perf/README.md", "package.json",
            _package_json("@azure-tools/test-perf", "1.0.0"))
    js.skip("sdk/template/template/README.md", "package.json",
            _package_json("@azure/template", "1.0.0"))

    java = FakeRepo("java")
    java.package("sdk/storage/azure-storage-blob", "pom.xml", _pom("azure-storage-blob", "12.2.0"),
                 "azure-storage-blob", version="12.2.0", group="com.azure")
    java.package("sdk/resourcemanager/azure-resourcemanager-storage", "pom.xml",
                 _pom("azure-resourcemanager-storage", "2.40.0", "com.azure.resourcemanager"),
                 "azure-resourcemanager-storage", version="2.40.0",
                 group="com.azure.resourcemanager", plane="mgmt")
    java.skip("sdk/storage/azure-storage-perf/README.md", "pom.xml",
              _pom("azure-storage-perf", "1.0.0-beta.1"))

    net = FakeRepo("dotnet")
    net.package("sdk/storage/Azure.Storage.Blobs", "src/Azure.Storage.Blobs.csproj",
                _csproj("12.3.0"), "Azure.Storage.Blobs", version="12.3.0")
    net.package("sdk/identity/Azure.Identity", "src/Azure.Identity.csproj",
                _csproj("1.13.0", package_id="Azure.Identity"), "Azure.Identity",
                version="1.13.0")
    net.skip("sdk/storage/Azure.Storage.Blobs/samples/README.md")
    net.skip("sdk/storage/Azure.Storage.Blobs/perf/Azure.Storage.Blobs.Perf/README.md",
             "Azure.Storage.Blobs.Perf.csproj", _csproj("1.0.0"))

    rust = FakeRepo("rust")
    rust.package("sdk/storage/azure_storage_blob", "Cargo.toml",
                 _cargo("azure_storage_blob", None), "azure_storage_blob", version="")
    rust.package("sdk/core/azure_core", "Cargo.toml", _cargo("azure_core", "0.30.0"),
                 "azure_core", version="0.30.0")
    rust.skip("sdk/cosmos/azure_data_cosmos_perf/README.md", "Cargo.toml",
              _cargo("azure_data_cosmos_perf", "0.1.0"))
    rust.skip("sdk/core/azure_core/examples/README.md")
    return {r.language: r for r in (py, js, java, net, rust)}


def git(*args: str, cwd: Path | None = None) -> str:
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.invalid",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.invalid",
           "GIT_CONFIG_NOSYSTEM": "1"}
    proc = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, env=env,
                          check=True, timeout=60)
    return proc.stdout


def write_tree(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text, encoding="utf-8")
    return root


def build_checkout(path: Path, repo: FakeRepo) -> Path:
    """A normal git repository (one commit on main) holding the fake repo's files."""
    write_tree(path, {**repo.files, "README.md": f"# {REPO_NAMES[repo.language]}\n",
                      "eng/README.md": readme("Engineering system", "eng")})
    git("init", "-q", "-b", "main", str(path))
    git("add", "-A", cwd=path)
    git("commit", "-q", "-m", "fake SDK", cwd=path)
    # a second commit, so that a shallow clone has history to leave out, and files that a
    # sparse clone (READMEs and manifests only) must leave out
    for rel in repo.packages.values():
        folder = rel["path"].rsplit("/", 1)[0]
        write_tree(path, {f"{folder}/CHANGELOG.md": "# Release History\n\n## 1.0.0\n",
                          f"{folder}/code/client.txt": "source code\n"})
    git("add", "-A", cwd=path)
    git("commit", "-q", "-m", "changelogs and code", cwd=path)
    return path


def build_git_bases(root: Path) -> tuple[Path, Path, dict[str, FakeRepo]]:
    """Two folders of the five repositories, named like GitHub's: normal checkouts and bare clones.

    The bare ones allow partial-clone filters, like GitHub; either folder works as ``github_base``
    through a ``file://`` URL.
    """
    repos = fake_repos()
    work, bare = root / "work", root / "bare"
    for lang, repo in repos.items():
        checkout = build_checkout(work / REPO_NAMES[lang], repo)
        target = bare / REPO_NAMES[lang]
        git("clone", "-q", "--bare", str(checkout), str(target))
        git("config", "uploadpack.allowFilter", "true", cwd=target)
    return work, bare, repos


# -- stores, ports, subprocesses -------------------------------------------------------------------
def cli_env(qdrant_path: Path | str, **extra: str) -> dict[str, str]:
    """Environment of an ``azsdk-rag`` subprocess: offline models, no developer settings."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("AZSDK_RAG_", "AZURE_OPENAI_", "OPENAI_"))}
    env.update({
        "AZSDK_RAG_MODEL_DIR": str(MODELS),
        "AZSDK_RAG_QDRANT_PATH": str(qdrant_path),
        "TIKTOKEN_CACHE_DIR": os.environ.get("TIKTOKEN_CACHE_DIR", str(TIKTOKEN)),
        "HF_HUB_OFFLINE": "1",
        **extra,
    })
    return env


_HOLDER = """
import fcntl, os, sys
locks = os.path.join(sys.argv[1], sys.argv[2], "locks")
os.makedirs(locks, exist_ok=True)
fd = os.open(os.path.join(locks, "writer.lock"), os.O_RDWR | os.O_CREAT)
fcntl.flock(fd, fcntl.LOCK_EX)
print("holding", flush=True)
sys.stdin.read()
"""


@contextlib.contextmanager
def store_held_by_another_process(path: Path, collection: str = "AzureSDKs"
                                  ) -> Iterator[subprocess.Popen[str]]:
    """Another process holds the writer lock of the embedded index at ``path`` (as a running
    ingest does) until the block ends."""
    proc = subprocess.Popen([sys.executable, "-c", _HOLDER, str(path), collection],
                            stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if line.strip() != "holding":
            why = proc.stderr.read() if proc.stderr else ""
            raise RuntimeError(f"the holder did not start: {why}")
        yield proc
    finally:
        if proc.stdin:
            proc.stdin.close()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def stored_points(qdrant_path: Path, collection: str = "AzureSDKs") -> int:
    """Points written so far by a process holding the store (read from its sqlite file)."""
    db = qdrant_path / "collection" / collection / "storage.sqlite"
    if not db.exists():
        return 0
    try:
        with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1)) as con:
            return con.execute("SELECT count(*) FROM points").fetchone()[0]
    except sqlite3.Error:  # the table is being created
        return 0


def error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("error:")]


def open_fence_at_end(text: str) -> str | None:
    """The fence left open at the end of ``text`` (CommonMark-style), or None if all are closed."""
    opened: str | None = None
    for line in text.split("\n"):
        m = FENCE.match(line)
        if not m:
            continue
        mark, info = m.group(1), m.group(2)
        if opened is None:
            if not (mark[0] == "`" and "`" in info):  # ```inline``` is not a fence
                opened = mark
        elif mark[0] == opened[0] and len(mark) >= len(opened) and not info.strip():
            opened = None
    return opened
