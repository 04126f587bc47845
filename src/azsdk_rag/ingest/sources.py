"""Where README documents come from: a corpus of JSON lines, a local SDK checkout, or GitHub.

Each source yields whole-README LangChain ``Document``s with the metadata every later stage relies
on: ``language``, ``package``, ``service``, ``plane``, ``title``, ``url``, ``path`` and ``version``.
Sources read everything before returning, so a bad file fails the ingest before anything is written.
"""

from __future__ import annotations

import gzip
import json
import logging
import os
import re
import subprocess
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path

from langchain_core.documents import Document

from ..errors import SourceError
from ..languages import LANGUAGES, Language, language_ids

REQUIRED = ("language", "package", "text")
METADATA = ("language", "package", "service", "plane", "title", "url", "path", "version", "group")
# Folders whose READMEs are not package READMEs.
SKIP_DIRS = {
    "samples", "sample", "examples", "example", "tests", "test", "perf", "perf-tests",
    "benchmarks", "benchmark", "scripts", "templates", "template", "changelog",
    "test-resources", "src", "node_modules", "target", "bin", "obj", "eng", "docs", "swagger",
    "stress", "stress-tests", "generated", "integration", "e2e",
}
SKIP_PACKAGE = re.compile(r"(template|perf|sample|test|canary|emulator|harness|benchmark)", re.I)
MIN_README_BYTES = 300
log = logging.getLogger(__name__)


def readme_document(meta: Mapping[str, object], text: str) -> Document:
    """One README as a Document, metadata normalised to strings."""
    clean = {k: str(meta.get(k) or "") for k in METADATA}
    if not clean["plane"]:
        clean["plane"] = infer_plane(clean["package"], clean["language"])
    if not clean["title"]:
        clean["title"] = first_heading(text) or clean["package"]
    return Document(page_content=text, metadata=clean)


def infer_plane(package: str, language: str) -> str:
    """``mgmt`` when the language's record calls ``package`` management plane, else ``data``."""
    lang = LANGUAGES.get(language)
    return "mgmt" if lang is not None and lang.is_management(package) else "data"


def first_heading(text: str) -> str:
    """The first H1 (else the first heading) outside code fences."""
    fallback = ""
    in_fence = False
    for line in text.splitlines():
        if line.lstrip().startswith(("```", "~~~")):
            in_fence = not in_fence
            continue
        m = None if in_fence else re.match(r"^(#{1,6})\s+(.+?)\s*#*\s*$", line)
        if m:
            if len(m.group(1)) == 1:
                return m.group(2)
            fallback = fallback or m.group(2)
    return fallback


# -- corpus files -------------------------------------------------------------------------------
def corpus_files(path: Path) -> list[Path]:
    if not path.exists():
        raise SourceError(f"Corpus not found: {path}.")
    if path.is_file():
        return [path]
    files = sorted(p for p in path.iterdir() if p.name.endswith((".jsonl", ".jsonl.gz")))
    if not files:
        raise SourceError(f"No *.jsonl or *.jsonl.gz files in {path}.")
    return files


def _lines(file: Path) -> Iterator[str]:
    opener = gzip.open if file.name.endswith(".gz") else open
    try:
        with opener(file, "rt", encoding="utf-8") as fh:
            yield from fh
    except (OSError, EOFError, UnicodeDecodeError, gzip.BadGzipFile) as exc:
        raise SourceError(f"{file}: cannot read ({type(exc).__name__}: {exc}).") from None


def _unicode_error(value: str) -> str | None:
    """Why ``value`` cannot be stored as UTF-8 (a lone surrogate such as ``"\\ud800"``), if so."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        return f"a lone surrogate U+{ord(value[exc.start]):04X} at character {exc.start}"
    return None


def _check_row(row: object, where: str) -> dict[str, object]:
    """A corpus row's fields as a README needs them, or a :class:`SourceError` naming ``where``.

    Every check runs here, while reading, so a bad row stops the ingest before the store is opened.
    """
    if not isinstance(row, dict):
        raise SourceError(f"{where}: expected a JSON object.")
    missing = [k for k in REQUIRED if row.get(k) is None or (k != "text" and not row.get(k))]
    if missing:
        raise SourceError(f"{where}: missing field(s) {', '.join(missing)}.")
    for key in REQUIRED:
        if not isinstance(row[key], str):
            raise SourceError(f"{where}: field {key} must be a string.")
    for key, value in row.items():
        if key in METADATA or key == "text":
            if not isinstance(value, (str, int, float)) and value is not None:
                raise SourceError(f"{where}: field {key} must be a string.")
            why = _unicode_error(value) if isinstance(value, str) else None
            if why:
                raise SourceError(f"{where}: field {key} is not valid Unicode text ({why}).")
    known = language_ids()
    if row["language"] not in known:
        raise SourceError(f"{where}: unknown language {row['language']!r}; known: "
                          f"{', '.join(known)}.")
    return row


def _lines_list(numbers: list[int], most: int = 5) -> str:
    shown = ", ".join(str(n) for n in numbers[:most])
    return shown + (f" and {len(numbers) - most} more" if len(numbers) > most else "")


def load_corpus(paths: Iterable[Path]) -> list[Document]:
    """Read corpus files (JSON lines, optionally gzipped) into README documents.

    Every row is checked before any is returned (JSON, fields, language, UTF-8 text); rows whose
    text is blank are skipped and files without a README are reported, as warnings with counts.
    """
    docs: list[Document] = []
    for root in paths:
        for file in corpus_files(Path(root)):
            blank: list[int] = []
            read = 0
            for n, line in enumerate(_lines(file), 1):
                if not line.strip():
                    continue
                try:
                    row = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise SourceError(f"{file}:{n}: not valid JSON ({exc.msg}).") from None
                row = _check_row(row, f"{file}:{n}")
                text = str(row["text"])
                if not text.strip():
                    blank.append(n)
                    continue
                read += 1
                docs.append(readme_document(row, text))
            if blank:
                log.warning("%s: skipped %d row(s) with blank text (line %s).", file, len(blank),
                            _lines_list(blank))
            if not read and not blank:
                log.warning("%s: no README rows (the file is empty).", file)
    return docs


# -- a local checkout of an azure-sdk-for-* repository ------------------------------------------
def _ingestible() -> list[Language]:
    """The registered languages that name their SDK repository and can read its manifests."""
    return [lang for lang in LANGUAGES.values() if lang.repository and lang.manifest_reader]


def _named_language(name: str) -> Language | None:
    """The language whose repository is ``name`` (or ``name-<suffix>``, as in a GitHub zip)."""
    name = name.lower()
    for lang in _ingestible():
        repo = lang.repository.lower()
        if name == repo or name.startswith(repo + "-"):
            return lang
    return None


def _manifest_language(sdk: Path) -> Language | None:
    """The language whose manifests the most package folders (``sdk/<service>/<package>``) hold."""
    best, most = None, 0
    for lang in _ingestible():
        files = lang.manifest_reader.files if lang.manifest_reader else ()
        folders = {p.relative_to(sdk).parts[:2] for f in files for p in sdk.glob(f"*/*/{f}")}
        if len(folders) > most:
            best, most = lang, len(folders)
    return best


def _expected_repositories() -> str:
    repos = [lang.repository for lang in _ingestible()]
    prefix = repos[0] if len(repos) > 1 else ""
    for repo in repos[1:]:
        while not repo.startswith(prefix):
            prefix = prefix[:-1]
    if prefix:
        return prefix + "{" + ",".join(repo[len(prefix):] for repo in repos) + "}"
    return " or ".join(repos) or "Azure SDK"


def repo_language(root: Path) -> Language:
    """Which SDK a checkout is, from its folder name, its git remote, or its manifests."""
    names = [root.resolve().name]
    try:
        url = subprocess.run(["git", "-C", str(root), "remote", "get-url", "origin"],
                             capture_output=True, text=True, timeout=10).stdout.strip()
        names.append(url.rstrip("/").removesuffix(".git").rsplit("/", 1)[-1])
    except (OSError, subprocess.SubprocessError):
        pass
    for name in names:
        lang = _named_language(name)
        if lang is not None:
            return lang
    sdk = root / "sdk"
    lang = _manifest_language(sdk) if sdk.is_dir() else None
    if lang is not None:
        return lang
    raise SourceError(
        f"{root} is not an Azure SDK repository (expected an {_expected_repositories()} "
        "checkout with an sdk/ folder)."
    )


def _skipped(rel: Path) -> bool:
    return any(part.lower() in SKIP_DIRS for part in rel.parts[:-1])


def load_repo(root: Path, base_url: str = "https://github.com/Azure") -> list[Document]:
    """Per-package READMEs of a local azure-sdk-for-* checkout."""
    root = Path(root)
    if not root.is_dir():
        raise SourceError(f"Repository folder not found: {root}.")
    language = repo_language(root)
    sdk = root / "sdk"
    if not sdk.is_dir():
        raise SourceError(f"{root} has no sdk/ folder; is it an Azure SDK repository?")
    docs: list[Document] = []
    seen: set[str] = set()
    inside = root.resolve()
    for readme in sorted(sdk.rglob("README.md")):
        rel = readme.relative_to(root)
        if len(rel.parts) < 4 or _skipped(rel.relative_to("sdk")):
            continue
        if not readme.resolve().is_relative_to(inside):  # a symlink out of the checkout
            continue
        info = language.read_manifest(readme.parent)
        if info is None or SKIP_PACKAGE.search(info["package"]) or info["package"] in seen:
            continue
        text = readme.read_text("utf-8", errors="replace")
        if len(text.encode()) < MIN_README_BYTES:
            continue
        for key, value in info.items():  # a manifest's JSON may hold a lone surrogate too
            why = _unicode_error(value)
            if why:
                raise SourceError(f"{readme.parent}: the manifest's {key} is not valid Unicode "
                                  f"text ({why}).")
        seen.add(info["package"])
        path = rel.as_posix()
        meta = {**info, "language": language.id, "service": rel.parts[1], "path": path,
                "url": f"{base_url.rstrip('/')}/{language.repository}/blob/main/{path}"}
        docs.append(readme_document(meta, text))
    if not docs:
        raise SourceError(f"No package READMEs found under {sdk}.")
    return docs


# -- GitHub (or any git server): shallow, sparse clones ------------------------------------------
def sparse_patterns(language: Language) -> list[str]:
    """What a clone of ``language``'s repository fetches: READMEs and the manifests it reads."""
    files = language.manifest_reader.files if language.manifest_reader else ()
    return list(dict.fromkeys(["/sdk/**/README.md", *(f"/sdk/**/{Path(f).name}" for f in files)]))


def _git(args: list[str], cwd: Path | None = None) -> None:
    env = {**os.environ, "GIT_TERMINAL_PROMPT": "0"}  # never wait for a password prompt
    try:
        proc = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True,
                              timeout=1800, env=env)
    except FileNotFoundError:
        raise SourceError("git is not installed; install git to use 'ingest --github'.") from None
    except subprocess.TimeoutExpired:
        raise SourceError(f"git {args[0]} timed out.") from None
    if proc.returncode != 0:
        lines = [line.strip() for line in proc.stderr.splitlines() if line.strip()]
        # the first fatal line says what went wrong; git's last line is often generic advice
        fatal = [line.split(":", 1)[1].strip() for line in lines
                 if line.startswith(("fatal:", "error:"))]
        why = fatal[0] if fatal else lines[-1] if lines else "no message"
        raise SourceError(f"git {args[0]} failed: {why}")


def _repository_of(language_id: str) -> Language:
    lang = LANGUAGES.get(language_id)
    if lang is None or lang not in _ingestible():
        known = ", ".join(lang.id for lang in _ingestible())
        raise SourceError(f"No SDK repository is known for {language_id!r}; known: {known}.")
    return lang


def clone_sdk(language: str, dest: Path, base_url: str) -> Path:
    """Shallow, sparse clone (READMEs and manifests only) of one SDK repository."""
    lang = _repository_of(language)
    url = f"{base_url.rstrip('/')}/{lang.repository}"
    target = dest / lang.repository
    _git(["clone", "--depth", "1", "--filter=blob:none", "--sparse", "--quiet", url, str(target)])
    _git(["sparse-checkout", "set", "--no-cone", *sparse_patterns(lang)], cwd=target)
    return target


def load_github(base_url: str, languages: Iterable[str] | None = None) -> list[Document]:
    """Clone each SDK repository (default: every registered one) and read it as a checkout."""
    wanted = [lang.id for lang in _ingestible()] if languages is None else list(languages)
    for language in wanted:
        _repository_of(language)  # an unknown language fails before anything is cloned
    docs: list[Document] = []
    with tempfile.TemporaryDirectory(prefix="azsdk-rag-clone-") as tmp:
        for lang in wanted:
            repo = clone_sdk(lang, Path(tmp), base_url)
            docs.extend(load_repo(repo, base_url="https://github.com/Azure"))
    return docs
