"""Fixtures for the socket adapter tests (helpers live in tests/support/socket_clients.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from azsdk_rag.server import Server
from support.fake_rag import FakeRag
from support.socket_clients import running


@pytest.fixture
def rag() -> FakeRag:
    return FakeRag()


@pytest.fixture
async def server(rag: FakeRag) -> AsyncIterator[Server]:
    async with running(rag) as srv:
        yield srv
