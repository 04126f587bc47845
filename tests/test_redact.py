"""The redaction filter: every configured secret is masked in every log record, for every logger
and every handler, including handlers added after it was installed."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from urllib.parse import quote

import pytest
from click.testing import CliRunner

from azsdk_rag import redact
from azsdk_rag.cli import cli
from azsdk_rag.redact import MASK, RedactingFilter, install, settings_secrets
from azsdk_rag.settings import Settings

SECRET = "unit-redact-key/8c1f+e2=="
OTHER = "unit-redact-token-5d0a"


@pytest.fixture
def late_handler() -> Iterator[io.StringIO]:
    """A handler a library adds to its own logger after the filter was installed."""
    install([SECRET, OTHER])
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(logging.Formatter("%(name)s %(message)s"))
    logger = logging.getLogger("unit.redact.httpx")
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    try:
        yield out
    finally:
        logger.removeHandler(handler)


def test_a_secret_is_masked_in_message_args_and_exception_of_a_later_handler(
        late_handler: io.StringIO) -> None:
    log = logging.getLogger("unit.redact.httpx")
    log.debug("headers=%r", [(b"x-echo", SECRET.encode())])
    log.debug(f"url=https://h/?key={quote(SECRET, safe='')} token={OTHER}")
    log.debug("%s", {"api-key": SECRET})
    try:
        raise RuntimeError(f"server said {SECRET}")
    except RuntimeError:
        log.exception("failed with %s", OTHER)
    text = late_handler.getvalue()
    assert text.count(MASK) >= 6, text
    for value in (SECRET, OTHER, quote(SECRET, safe=""), repr(SECRET)[1:-1]):
        assert value not in text
    assert "RuntimeError: server said ***" in text and "failed with ***" in text


def test_root_handlers_and_caplog_see_masked_records(caplog: pytest.LogCaptureFixture) -> None:
    install([SECRET])
    with caplog.at_level(logging.INFO):
        logging.getLogger("unit.redact.openai").info("Request options: %s", {"key": SECRET})
    assert caplog.records and SECRET not in caplog.text and MASK in caplog.text
    assert caplog.records[0].args is None  # no handler can rebuild the message from them


def test_short_values_are_not_masked_and_text_without_secrets_is_unchanged() -> None:
    f = RedactingFilter(["abc", "", SECRET])
    assert f.mask("abc 1 2 3") == "abc 1 2 3"
    assert f.mask(f"x{SECRET}y") == f"x{MASK}y"
    record = logging.LogRecord("n", logging.INFO, __file__, 1, "100%% of %s", ("it",), None)
    f.filter(record)
    assert record.getMessage() == "100% of it"


def test_the_secrets_of_settings_are_every_secret_field() -> None:
    settings = Settings(azure_openai_api_key="az-key-123456", token="tok-123456",
                        qdrant_api_key="qd-key-123456", openai_api_key="oa-key-123456")
    assert sorted(settings_secrets(settings)) == sorted(
        ["az-key-123456", "tok-123456", "qd-key-123456", "oa-key-123456"])


def test_the_cli_installs_the_filter_with_the_configured_secrets(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(redact, "_filter", RedactingFilter())
    result = CliRunner().invoke(cli, ["--qdrant-path", ":memory:", "status", "--json"],
                                env={"AZURE_OPENAI_API_KEY": "cli-redact-key-77",
                                     "AZSDK_RAG_TOKEN": "cli-redact-token-77"})
    assert result.exit_code == 0, result.output
    assert {"cli-redact-key-77", "cli-redact-token-77"} <= set(redact._filter.secrets)


def test_a_debug_traceback_goes_through_the_mask(monkeypatch: pytest.MonkeyPatch,
                                                 caplog: pytest.LogCaptureFixture) -> None:
    from azsdk_rag.store import Store

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("proxy echoed cli-debug-key-4242 back")

    monkeypatch.setattr(Store, "open", broken)
    with caplog.at_level(logging.DEBUG):
        result = CliRunner().invoke(cli, ["--debug", "--qdrant-path", ":memory:", "status"],
                                    env={"AZURE_OPENAI_API_KEY": "cli-debug-key-4242"})
    assert result.exit_code == 2, result.output
    assert "Traceback" in caplog.text and "RuntimeError: proxy echoed *** back" in caplog.text
    assert "cli-debug-key-4242" not in caplog.text + result.output
