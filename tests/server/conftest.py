"""Fixtures for the socket adapter tests (helpers live in tests/support/socket_clients.py)."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parents[1]
if str(TESTS) not in sys.path:  # so that "support" imports when tests/server runs alone
    sys.path.insert(0, str(TESTS))

from azsdk_rag.server import Server  # noqa: E402
from support.fake_rag import FakeRag  # noqa: E402
from support.socket_clients import running  # noqa: E402


@pytest.fixture
def rag() -> FakeRag:
    return FakeRag()


@pytest.fixture
async def server(rag: FakeRag) -> AsyncIterator[Server]:
    async with running(rag) as srv:
        yield srv
