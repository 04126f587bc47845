"""Manifest readers: the package name, version and group that a package folder's manifest declares.

Each ecosystem keeps that in its own file (``pyproject.toml``, ``package.json``, ``pom.xml``, a
``.csproj``, ``Cargo.toml``); a :class:`ManifestReader` names the files it reads, so a sparse
clone fetches them and a checkout can be recognised by them, and reads one folder.
"""

from __future__ import annotations

import json
import re
import sys
import xml.etree.ElementTree as ET
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

PackageInfo = dict[str, str]
"""``package`` and ``version`` (empty when unknown), and ``group`` where the ecosystem has one."""


@dataclass(frozen=True)
class ManifestReader:
    """Reads the package a folder holds from the manifest beside its README.

    ``files`` are glob patterns relative to the package folder, in the order ``parse`` tries them.
    A manifest that is missing, unreadable or without a name means "no package here" (``None``).

        reader = ManifestReader(("go.mod",), parse_go_mod)
        reader(Path("sdk/storage/azblob"))  # {"package": "github.com/...", "version": ""}
    """

    files: tuple[str, ...]
    parse: Callable[[Path], PackageInfo | None]

    def __post_init__(self) -> None:
        if not self.files or not all(isinstance(f, str) and f.strip() for f in self.files):
            raise ValueError("A manifest reader needs the file names it reads.")

    def __call__(self, folder: Path) -> PackageInfo | None:
        try:
            return self.parse(folder)
        except (OSError, ValueError, SyntaxError):  # JSON, TOML, XML and UTF-8 errors among them
            return None


def _toml(path: Path) -> dict[str, object]:
    return tomllib.loads(path.read_text("utf-8"))


def _python(folder: Path) -> PackageInfo | None:
    if (folder / "pyproject.toml").is_file():
        project = _toml(folder / "pyproject.toml").get("project", {})
        if isinstance(project, dict) and project.get("name"):
            return {"package": project["name"], "version": str(project.get("version", ""))}
    if (folder / "setup.py").is_file():
        src = (folder / "setup.py").read_text("utf-8", errors="replace")
        m = re.search(r"""PACKAGE_NAME\s*=\s*['"]([^'"]+)""", src) or re.search(
            r"""\bname\s*=\s*['"]([^'"]+)""", src
        )
        if m:
            return {"package": m.group(1), "version": ""}
    return None


def _npm(folder: Path) -> PackageInfo | None:
    if not (folder / "package.json").is_file():
        return None
    data = json.loads((folder / "package.json").read_text("utf-8"))
    if isinstance(data, dict) and data.get("name"):
        return {"package": data["name"], "version": str(data.get("version", ""))}
    return None


def _maven(folder: Path) -> PackageInfo | None:
    if not (folder / "pom.xml").is_file():
        return None
    root = ET.parse(folder / "pom.xml").getroot()
    ns = {"m": root.tag[1:].split("}")[0]} if root.tag.startswith("{") else {}

    def child(tag: str) -> str:
        el = root.find(f"m:{tag}", ns) if ns else root.find(tag)
        return (el.text or "").strip() if el is not None else ""

    if not child("artifactId"):
        return None
    return {"package": child("artifactId"), "version": child("version"), "group": child("groupId")}


def _nuget(folder: Path) -> PackageInfo | None:
    for project in sorted(folder.glob("src/*.csproj")) + sorted(folder.glob("*.csproj")):
        text = project.read_text("utf-8", errors="replace")
        m = re.search(r"<PackageId>([^<]+)</PackageId>", text) or re.search(
            r"<AssemblyName>([^<$]+)</AssemblyName>", text
        )
        version = re.search(r"<Version>([^<]+)</Version>", text)
        return {
            "package": m.group(1) if m else project.stem,
            "version": version.group(1) if version else "",
        }
    return None


def _cargo(folder: Path) -> PackageInfo | None:
    if not (folder / "Cargo.toml").is_file():
        return None
    package = _toml(folder / "Cargo.toml").get("package", {})
    if not isinstance(package, dict) or not package.get("name"):
        return None
    version = package.get("version", "")
    return {"package": package["name"], "version": version if isinstance(version, str) else ""}


READERS: Mapping[str, ManifestReader] = MappingProxyType({
    "python": ManifestReader(("pyproject.toml", "setup.py"), _python),
    "npm": ManifestReader(("package.json",), _npm),
    "maven": ManifestReader(("pom.xml",), _maven),
    "nuget": ManifestReader(("src/*.csproj", "*.csproj"), _nuget),
    "cargo": ManifestReader(("Cargo.toml",), _cargo),
})
"""The built-in languages' readers by the name their data files give (``manifest_reader``)."""
