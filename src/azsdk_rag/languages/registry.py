"""The registry of served languages, and the lookups everything else goes through.

The built-ins are registered on import; :func:`register_language` adds one more (or replaces one),
and every lookup (slash commands, fence tags, editor ids, manifests, the ingest sources) follows.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from types import MappingProxyType

from .builtin import BUILTIN_LANGUAGES, UNSUPPORTED
from .cues import Cue
from .record import Language

_lock = threading.RLock()
_registry: dict[str, Language] = {}

LANGUAGES: Mapping[str, Language] = MappingProxyType(_registry)
"""Read-only, ordered view of the registered languages by id (it follows later registrations)."""


def _clashes(lang: Language) -> list[str]:
    problems = []
    for other in _registry.values():
        if other.id == lang.id:
            continue
        shared = set(other.slash_commands) & set(lang.slash_commands)
        if shared:
            problems.append(f"slash command {sorted(shared)[0]} is {other.name}'s")
        shared = set(other.fence_tags) & set(lang.fence_tags)
        if shared:
            problems.append(f"code-fence tag {sorted(shared)[0]!r} is {other.name}'s")
        shared = set(other.editor_ids) & set(lang.editor_ids)
        if shared:
            problems.append(f"editor language id {sorted(shared)[0]!r} is {other.name}'s")
    return problems


def register_language(lang: Language, *, replace: bool = False) -> Language:
    """Add ``lang`` (or, with ``replace=True``, swap the entry with its id) and return it.

    Slash commands and fence tags must be unique across languages, so routing stays unambiguous.

        register_language(Language(id="go", name="Go", slash_commands=("/go",), ...))
    """
    if not isinstance(lang, Language):
        raise TypeError(f"register_language() takes a Language, not {type(lang).__name__}.")
    with _lock:
        if lang.id in _registry and not replace:
            raise ValueError(f"Language {lang.id!r} is already registered (pass replace=True).")
        problems = _clashes(lang)
        if problems:
            raise ValueError(f"Cannot register {lang.name}: " + "; ".join(problems) + ".")
        _registry[lang.id] = lang
    return lang


def unregister_language(language_id: str) -> Language:
    """Remove a registered language and return it (mainly for tests and plug-ins)."""
    with _lock:
        try:
            return _registry.pop(language_id)
        except KeyError:
            raise ValueError(_unknown(language_id)) from None


@contextmanager
def registered(lang: Language) -> Iterator[Language]:
    """Register ``lang`` for the duration of a ``with`` block, then restore what was there."""
    previous = _registry.get(lang.id)
    register_language(lang, replace=True)
    try:
        yield lang
    finally:
        with _lock:
            if previous is None:
                unregister_language(lang.id)
            else:
                register_language(previous, replace=True)


def language_ids() -> tuple[str, ...]:
    """The registered ids, in registration order."""
    return tuple(_registry)


def _unknown(language_id: str) -> str:
    return f"Unknown language {language_id!r}; known: {', '.join(_registry)}."


def get_language(language_id: str) -> Language:
    """The language registered as ``language_id``."""
    try:
        return _registry[language_id]
    except KeyError:
        raise ValueError(_unknown(language_id)) from None


def resolve_language(text: str) -> Language:
    """A language from its id, display name or a slash command with or without the slash.

    Lets callers accept "csharp", "C#", "/ts", "TypeScript" or ".NET" wherever an id is expected.
    """
    key = text.strip().lower()
    if not key:
        raise ValueError("A language name is empty.")
    for lang in _registry.values():
        spellings = {lang.id, lang.name.lower(), *lang.slash_commands}
        spellings |= {c[1:] for c in lang.slash_commands}
        spellings |= {part for part in lang.name.lower().split("/") if part}
        if key in spellings or "/" + key in spellings:
            return lang
    raise ValueError(_unknown(text.strip()))


def slash_command(text: str) -> tuple[Language, str] | None:
    """The language of a leading slash command in ``text`` and the command as typed, if any.

    Case-insensitive and on a word boundary, so "/javascript" is JavaScript (not "/java" plus
    "script") and "/netflix" is no command at all.
    """
    stripped = text.lstrip()
    if not stripped.startswith("/"):
        return None
    lowered = stripped.lower()
    best: tuple[Language, str] | None = None
    for lang in _registry.values():
        for command in lang.slash_commands:
            on_boundary = not re.match(r"[\w#+]", lowered[len(command) :])
            longer = best is None or len(command) > len(best[1])
            if lowered.startswith(command) and on_boundary and longer:
                best = (lang, stripped[: len(command)])
    return best


def _listing(field: str, value: str) -> Language | None:
    """The first language whose ``field`` (a tuple of lower-case names) holds ``value``."""
    key = value.strip().lower()
    return next((lang for lang in _registry.values() if key in getattr(lang, field)), None)


def fence_language(tag: str) -> Language | None:
    """The language whose code-fence tag is ``tag`` (case-insensitive), if any."""
    return _listing("fence_tags", tag)


def editor_language(language_id: str) -> Language | None:
    """The language whose source files an editor marks ``language_id`` (``csharp``), if any."""
    return _listing("editor_ids", language_id)


def manifest_languages(file_names: Iterable[str]) -> tuple[Language, ...]:
    """The languages whose manifests are among ``file_names`` (base names), in registry order."""
    found = [Path(name).name for name in file_names if isinstance(name, str)]
    return tuple(lang for lang in _registry.values() if any(map(lang.has_manifest, found)))


def find_manifests(directory: Path) -> tuple[str, ...]:
    """The manifest file names (of any registered language) directly inside ``directory``."""
    try:
        entries = sorted(entry.name for entry in directory.iterdir() if entry.is_file())
    except OSError:
        return ()
    langs = tuple(_registry.values())
    return tuple(name for name in entries if any(lang.has_manifest(name) for lang in langs))


def unsupported_cues() -> tuple[Cue, ...]:
    """The :data:`UNSUPPORTED` cues minus those for languages that have since been registered."""
    served = {lang.name.lower() for lang in _registry.values()} | set(_registry)
    return tuple(c for c in UNSUPPORTED if c.label.lower() not in served)


for _lang in BUILTIN_LANGUAGES:
    register_language(_lang)
del _lang
