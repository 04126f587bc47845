"""Errors that reach users as one clear sentence.

Every failure we expect (bad input, a locked store, an unreachable server, a model that refuses) is
raised as an :class:`AzsdkRagError` subclass whose message is fit to show as-is:
no traceback, no key.
"""

from __future__ import annotations


class AzsdkRagError(Exception):
    """Base of all errors whose message is meant for the user."""


class ConfigError(AzsdkRagError):
    """Settings that cannot work together."""


class SourceError(AzsdkRagError):
    """A corpus file, repository or clone that cannot be read."""


class StoreError(AzsdkRagError):
    """The Qdrant store cannot be opened or used."""


class StoreLockedError(StoreError):
    """Another ingest is writing the embedded index (readers are never locked out)."""


class EmbedderMismatchError(StoreError):
    """The collection was built with another embedding model."""


class EmptyIndexError(StoreError):
    """The collection is missing or empty."""


class ModelError(AzsdkRagError):
    """The chat or embedding model failed (auth, throttling, timeout, content filter)."""
