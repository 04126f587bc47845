"""The record of one SDK language: :class:`Language`, and the :class:`Installer` of its packages.

A language is everything the package knows about an ecosystem, in one value: how users name it
(ids, slash commands, code-fence tags, editor ids), the cues that give it away, how its packages
are named and installed, and where its READMEs live (the SDK repository, the manifest reader,
which packages are management-plane). The router, the answerer and the ingest sources all ask it.
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass
from pathlib import Path

from .cues import Cue
from .manifests import ManifestReader, PackageInfo

_PRERELEASE = re.compile(r"[A-Za-z]")
_SAFE_TOKEN = re.compile(r"^[A-Za-z0-9@][A-Za-z0-9@._/+-]*$")


@dataclass(frozen=True)
class Installer:
    """How an ecosystem installs a package: templates of ``{package}``, ``{version}``, ``{group}``.

    Stable versions are left out (the command installs the latest, which is what a reader wants),
    except where the ecosystem always needs one (Maven: ``always_pin``). Pre-releases are pinned,
    since the plain command would not install them.
    """

    command: str
    pinned: str = ""
    fence: str = "bash"
    always_pin: bool = False
    default_group: str = ""

    def render(self, package: str, version: str = "", group: str = "") -> str:
        package, version, group = package.strip(), version.strip(), group.strip()
        if not package:
            raise ValueError("An install command needs a package name.")
        for what, value in (("package", package), ("version", version), ("group", group)):
            if value and not _SAFE_TOKEN.match(value):
                raise ValueError(f"Not a valid {what} name for an install command: {value!r}.")
        group = group or self.default_group
        pin = (
            bool(version)
            and bool(self.pinned)
            and (self.always_pin or bool(_PRERELEASE.search(version)))
        )
        template = self.pinned if pin else self.command
        return template.format(package=package, version=version, group=group)


@dataclass(frozen=True)
class Language:
    """Everything the package knows about one SDK language (the built-ins are in ``data/*.toml``).

    ``package_pattern`` is a full-match regex of the ecosystem's Azure package names; note that
    pip names and Maven artifact ids have the same shape, so it cannot tell those two apart.
    Ingesting a checkout needs ``repository`` and ``manifest_reader``; routing needs neither.

        Language(id="go", name="Go", slash_commands=("/go",), repository="azure-sdk-for-go",
                 manifest_reader=ManifestReader(("go.mod",), read_go_mod),
                 management_pattern=r".*/arm[a-z0-9]+$")
    """

    id: str
    name: str
    slash_commands: tuple[str, ...]
    cues: tuple[Cue, ...] = ()
    fence_tags: tuple[str, ...] = ()
    package_pattern: str = ""
    installer: Installer | None = None
    editor_ids: tuple[str, ...] = ()
    """Editor language ids (VS Code's ``languageId``) of this language's source files."""
    manifests: tuple[str, ...] = ()
    """Project manifest file names, or ``fnmatch`` patterns such as ``*.csproj``."""
    support_packages: tuple[tuple[str, str], ...] = ()
    """``(topic, package)`` pairs: the READMEs that answer cross-cutting questions (``core``:
    retries, proxies, timeouts, HTTP transport, mocking; ``logging``; ``identity``:
    credentials), whichever service the question names."""
    repository: str = ""
    """The SDK repository's name under the GitHub base URL (``azure-sdk-for-python``)."""
    manifest_reader: ManifestReader | None = None
    """Reads a package folder's manifest: the package name, version and group of its README."""
    management_pattern: str = ""
    """A regex matched at the start of a package name: such packages are management plane
    (``azure-mgmt-``); every other package is data plane."""

    def __post_init__(self) -> None:
        if not re.fullmatch(r"[a-z][a-z0-9_-]*", self.id):
            raise ValueError(f"Language id must be lower-case letters/digits, not {self.id!r}.")
        if not self.name.strip():
            raise ValueError(f"Language {self.id!r} needs a display name.")
        for command in self.slash_commands:
            if not re.fullmatch(r"/[^\s/]+", command):
                raise ValueError(f"Slash command {command!r} must be '/' and one word.")
        for tag in self.fence_tags:
            if not tag or any(c.isspace() for c in tag):
                raise ValueError(f"Code-fence tag {tag!r} must be one word.")
        # Normalise the spelling so lookups can compare lower-case strings.
        object.__setattr__(self, "slash_commands", tuple(c.lower() for c in self.slash_commands))
        object.__setattr__(self, "fence_tags", tuple(t.lower() for t in self.fence_tags))
        object.__setattr__(self, "editor_ids", tuple(e.lower() for e in self.editor_ids))
        for field in ("package_pattern", "management_pattern"):
            try:
                re.compile(getattr(self, field))
            except re.error as exc:
                raise ValueError(f"{field} of {self.id!r} is not a valid regex: {exc}.") from None
        if self.repository and not re.fullmatch(r"[\w.-]+", self.repository):
            raise ValueError(f"Repository {self.repository!r} must be one name, not a path or URL.")

    def install_command(self, package: str, version: str = "", group: str = "") -> str:
        """A markdown-ready command (or Maven snippet) that installs ``package``."""
        if self.installer is None:
            raise ValueError(f"No install command is known for {self.name}.")
        return self.installer.render(package, version, group)

    @property
    def install_fence(self) -> str:
        """The code-fence tag to show :meth:`install_command` in."""
        return self.installer.fence if self.installer else "text"

    def matches_package(self, package: str) -> bool:
        """Whether ``package`` has this ecosystem's Azure package-name shape."""
        if not self.package_pattern:
            return False
        return re.fullmatch(self.package_pattern, package) is not None

    def support_package(self, topic: str) -> str | None:
        """The package answering ``topic`` questions (``logging`` falls back to ``core``)."""
        found = dict(self.support_packages)
        return found.get(topic) or (found.get("core") if topic == "logging" else None)

    def has_manifest(self, file_name: str) -> bool:
        """Whether ``file_name`` (a base name) is one of this ecosystem's project manifests."""
        return any(fnmatch.fnmatch(file_name.lower(), m.lower()) for m in self.manifests)

    def is_management(self, package: str) -> bool:
        """Whether ``package`` is a management-plane (resource manager) package."""
        if not self.management_pattern:
            return False
        return re.match(self.management_pattern, package) is not None

    def read_manifest(self, folder: Path) -> PackageInfo | None:
        """The package a folder of this ecosystem holds, from its manifest (``None``: none)."""
        return self.manifest_reader(folder) if self.manifest_reader else None
