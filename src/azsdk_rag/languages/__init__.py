"""The one place that knows the SDK languages: ids, slash commands, cues, installs, repositories.

A :class:`Language` is one record per ecosystem (``record.py``); the five built-ins are data
(``data/<id>.toml``, read by ``builtin.py``); ``registry.py`` holds the served languages and the
lookups. The router reads the cues, the answerer :meth:`Language.install_command`, the ingest
sources :attr:`Language.repository` and :meth:`Language.read_manifest`. A user serves one more
language by calling :func:`register_language` with a :class:`Language` of their own; nothing
else needs to change.

    >>> from azsdk_rag.languages import get_language
    >>> get_language("rust").install_command("azure_core")
    'cargo add azure_core'
"""

from __future__ import annotations

from .builtin import (
    BUILTIN_LANGUAGES,
    DOTNET,
    FRAGMENTS,
    JAVA,
    JAVASCRIPT,
    PYTHON,
    RUST,
    UNSUPPORTED,
    load_language,
)
from .cues import MEDIUM, STRONG, WEAK, Cue, CueKind, code, names, term
from .manifests import READERS, ManifestReader, PackageInfo
from .record import Installer, Language
from .registry import (
    LANGUAGES,
    editor_language,
    fence_language,
    find_manifests,
    get_language,
    language_ids,
    manifest_languages,
    register_language,
    registered,
    resolve_language,
    slash_command,
    unregister_language,
    unsupported_cues,
)

__all__ = [
    "BUILTIN_LANGUAGES",
    "DOTNET",
    "FRAGMENTS",
    "JAVA",
    "JAVASCRIPT",
    "LANGUAGES",
    "MEDIUM",
    "PYTHON",
    "READERS",
    "RUST",
    "STRONG",
    "UNSUPPORTED",
    "WEAK",
    "Cue",
    "CueKind",
    "Installer",
    "Language",
    "ManifestReader",
    "PackageInfo",
    "code",
    "editor_language",
    "fence_language",
    "find_manifests",
    "get_language",
    "language_ids",
    "load_language",
    "manifest_languages",
    "names",
    "register_language",
    "registered",
    "resolve_language",
    "slash_command",
    "term",
    "unregister_language",
    "unsupported_cues",
]
