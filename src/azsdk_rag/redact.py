"""One logging filter that masks every configured secret in every log record, whoever logs it.

``--debug`` turns on the HTTP clients' own debug logs (httpx, httpcore, openai), which print
response headers and bodies verbatim: an endpoint or proxy that echoes the key back would have it
printed. The filter is installed through the log record factory, so it sees each record once, as
it is made, for every logger and every handler (root's, and any added later by a library), and
rewrites the message, its arguments, exception and stack text with each secret replaced by
``***``. Example::

    install(["s3cr3t-key"])
    logging.getLogger("httpx").warning("header api-key: %s", "s3cr3t-key")
    # WARNING httpx: header api-key: ***
"""

from __future__ import annotations

import logging
import threading
import traceback
from collections.abc import Iterable
from urllib.parse import quote

MASK = "***"
MIN_LENGTH = 6
"""Shorter values are not masked: masking "1" would garble every log line, and a secret that
short is refused off loopback anyway."""


def _variants(secret: str) -> set[str]:
    """The spellings a secret takes in logs: as is, URL-quoted, and escaped inside a repr."""
    return {secret, quote(secret, safe=""), repr(secret)[1:-1],
            secret.encode("unicode_escape").decode("ascii")} - {""}


class RedactingFilter(logging.Filter):
    """Masks the secrets it knows in a record's message, arguments, exception and stack text.

    The record is rendered once (``getMessage``) and its arguments dropped, so no handler or
    formatter can put a secret back together from them.
    """

    def __init__(self, secrets: Iterable[str] = ()):
        super().__init__()
        self._lock = threading.Lock()
        self._secrets: tuple[str, ...] = ()
        self.add(secrets)

    def add(self, secrets: Iterable[str]) -> None:
        """Mask these too (values shorter than :data:`MIN_LENGTH` are ignored)."""
        with self._lock:
            known = set(self._secrets)
            for secret in secrets:
                if secret and len(secret) >= MIN_LENGTH:
                    known |= _variants(secret)
            # longest first, so a secret containing another is masked whole
            self._secrets = tuple(sorted(known, key=len, reverse=True))

    @property
    def secrets(self) -> tuple[str, ...]:
        return self._secrets

    def mask(self, text: str) -> str:
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, MASK)
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        if not self._secrets:
            return True
        try:
            message = record.getMessage()
        except Exception:  # a malformed record: keep logging's own error path, masked
            message = f"{record.msg!s} {record.args!r}"
        record.msg, record.args = self.mask(message), None
        if record.exc_info and not record.exc_text:
            record.exc_text = "".join(traceback.format_exception(*record.exc_info)).rstrip("\n")
        if record.exc_text:
            record.exc_text = self.mask(record.exc_text)
        if record.stack_info:
            record.stack_info = self.mask(record.stack_info)
        return True


_filter = RedactingFilter()
_installed = False
_install_lock = threading.Lock()


def install(secrets: Iterable[str] = ()) -> RedactingFilter:
    """Mask ``secrets`` in every log record from now on (idempotent; later calls add secrets).

    Wraps the log record factory, so every logger's records are masked before any filter or
    handler sees them, and adds the filter to root's handlers as well, for records made
    by :func:`logging.makeLogRecord` (e.g. from another process).
    """
    global _installed
    _filter.add(secrets)
    with _install_lock:
        if not _installed:
            make = logging.getLogRecordFactory()

            def factory(*args: object, **kwargs: object) -> logging.LogRecord:
                record = make(*args, **kwargs)
                _filter.filter(record)
                return record

            logging.setLogRecordFactory(factory)
            _installed = True
        for handler in logging.getLogger().handlers:
            if _filter not in handler.filters:
                handler.addFilter(_filter)
    return _filter


def settings_secrets(settings: object) -> list[str]:
    """The secret values of a :class:`~azsdk_rag.settings.Settings` (every ``SecretStr`` field)."""
    from pydantic import SecretStr

    values = []
    for name in type(settings).model_fields:  # type: ignore[attr-defined]
        value = getattr(settings, name, None)
        if isinstance(value, SecretStr) and value.get_secret_value():
            values.append(value.get_secret_value())
    return values
