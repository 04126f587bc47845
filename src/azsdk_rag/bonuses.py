"""Bonuses: score a package gains from what the question itself shows, beyond its chunks' match.

- **Names and identifiers** (:func:`package_bonus`): the question spells the package's name
  (``azure-mgmt-compute``, ``@azure/arm-storage``, ``Azure.ResourceManager``) or shows an
  identifier that only a few READMEs' code shows (``ComputeManagementClient``: the index's
  identifier table, :mod:`azsdk_rag.evidence`).
- **Management plane** (:func:`is_management`, :func:`management_bonus`): a question about
  managing resources gets the management package whose service it names lifted (and a second
  search with :data:`MGMT_TERMS`, see the retriever).

    is_management("create a storage account in a resource group")  # True
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from .evidence import PackageEvidence
from .search import Hits

NAME_BONUS = 0.03
"""Score a package gains when the question spells its name (fused scores are ~0.03 per list)."""
IDENT_BONUS = 0.008
"""Score shared by the few packages (at most :data:`IDENT_MAX_PACKAGES`) whose README code shows
an identifier of the question."""
IDENT_MAX_PACKAGES = 5
MGMT_BONUS = 0.03
"""Score a management-plane package gains when a management question names its service."""
MGMT_TERMS = "management resourcemanager mgmt arm"
"""Added to a management question's second search, so resource-manager READMEs are among the
candidates even when data-plane READMEs of the same service fill the first search."""

MANAGEMENT = re.compile(
    r"\bmgmt\b|\bmanagement (?:client|plane|libs?|librar(?:y|ies)|sdk|api|package)|"
    r"ManagementClient\b|\bArmClient\b|\bResourceManager\b|\bresource[- ]?manager\b|"
    r"\bresource groups?\b|\bsubscription[ _-]?id\b|\barm-\w|\bARM\b|\bprovision|"
    r"\b(?:create|creating|delete|deleting|list|listing|deploy|deploying|manage|manages|managing|"
    r"provision)\s+(?:an?\s+|the\s+|all\s+(?:the\s+)?|my\s+)?(?:new\s+)?"
    r"(?:storage accounts?|vms?|virtual machines?|key ?vaults?|namespaces?|clusters?|"
    r"web ?apps?|app services?|databases?|accounts?|resources?)\b",
    re.IGNORECASE)
_MGMT_PREFIX = re.compile(r"^(?:azure-mgmt-|@azure(?:-rest)?/arm-|Azure\.ResourceManager\.?|"
                          r"azure-resourcemanager-?)", re.IGNORECASE)
_SERVICE_ALIASES = {"compute": r"\bvms?\b|\bvirtual machines?\b",
                    "resource": r"\bresource groups?\b|\bresources\b",
                    "resources": r"\bresource groups?\b|\bresources\b"}
_TOKEN = re.compile(r"[@\w][\w.@/-]*")


def spelled_names(text: str) -> set[str]:
    """The package-name-shaped words of ``text``, lower-case, trailing dots and dashes cut
    (``Azure.Storage.Blobs.`` -> ``azure.storage.blobs``)."""
    return {m.group(0).rstrip(".-/").lower() for m in _TOKEN.finditer(text)}


def package_bonus(query: str, hits: Hits, evidence: PackageEvidence | None,
                  languages: Sequence[str]) -> dict[tuple[str, str], float]:
    """Extra score per (language, package) from what the question itself shows: the package's
    name spelled out, and identifiers that only a few READMEs' code shows."""
    bonus: dict[tuple[str, str], float] = {}
    keys = {(d.metadata.get("language", ""), d.metadata.get("package", "")) for d, _ in hits}
    spelled = spelled_names(query)
    for key in keys:
        if key[1] and key[1].lower() in spelled:
            bonus[key] = bonus.get(key, 0.0) + NAME_BONUS
    if evidence:
        for ident in evidence.known(query):
            owners = [k for k in evidence.packages_of(ident)
                      if not languages or k[0] in languages]
            if not owners or len(owners) > IDENT_MAX_PACKAGES:
                continue
            for key in owners:
                bonus[key] = bonus.get(key, 0.0) + IDENT_BONUS / len(owners)
    return bonus


def is_management(query: str) -> bool:
    """Whether a question is about managing Azure resources (the management plane)."""
    return MANAGEMENT.search(query) is not None


def service_words(package: str) -> list[str]:
    """The service a management package manages, as words: ``azure-mgmt-compute`` ->
    ``["compute"]``, ``@azure/arm-postgresql-flexible`` -> ``["postgresql", "flexible"]``;
    the resource manager itself (``Azure.ResourceManager``) -> ``["resource"]``."""
    tail = _MGMT_PREFIX.sub("", package)
    if tail == package:
        return []
    words = [w.lower() for w in re.split(r"[-._]", tail) if w.isalpha() and len(w) >= 3]
    return words or ["resource"]


def _names_service(words: Sequence[str], query: str) -> bool:
    for word in words:
        alias = _SERVICE_ALIASES.get(word)
        if not (re.search(rf"\b{re.escape(word)}", query, re.IGNORECASE)
                or (alias and re.search(alias, query, re.IGNORECASE))):
            return False
    return bool(words)


def management_bonus(query: str, hits: Hits) -> dict[tuple[str, str], float]:
    """:data:`MGMT_BONUS` for each management package whose service a management question
    names (``create a storage account`` -> ``azure-mgmt-storage``, ``@azure/arm-storage``)."""
    if not is_management(query):
        return {}
    bonus: dict[tuple[str, str], float] = {}
    for doc, _score in hits:
        m = doc.metadata
        key = (m.get("language", ""), m.get("package", ""))
        if key in bonus or m.get("plane") != "mgmt":
            continue
        if _names_service(service_words(key[1]), query):
            bonus[key] = MGMT_BONUS
    return bonus


def question_bonus(query: str, hits: Hits, evidence: PackageEvidence | None,
                   languages: Sequence[str]) -> dict[tuple[str, str], float]:
    """Every bonus the question earns its packages: names, identifiers, management services."""
    bonus = package_bonus(query, hits, evidence, languages)
    for key, value in management_bonus(query, hits).items():
        bonus[key] = bonus.get(key, 0.0) + value
    return bonus
