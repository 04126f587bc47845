"""MCP over stdin/stdout, with file descriptor 1 pointed at stderr while serving.

The protocol gets private copies of the original stdin and stdout; anything else that writes to
fd 1 (a library's ``print``, a native extension) lands on stderr and cannot corrupt the stream.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import AsyncIterator
from io import TextIOWrapper
from typing import Any

import anyio
from mcp.server.stdio import stdio_server


@contextlib.asynccontextmanager
async def protocol_streams() -> AsyncIterator[tuple[Any, Any]]:
    """The SDK's stdio transport over copies of fds 0 and 1; fd 1 goes to stderr meanwhile."""
    with contextlib.suppress(Exception):
        sys.stdout.flush()
    saved = os.dup(1)
    out_fd, in_fd = os.dup(1), os.dup(0)
    os.dup2(2, 1)
    stdin = anyio.wrap_file(TextIOWrapper(os.fdopen(in_fd, "rb"), encoding="utf-8",
                                          errors="replace"))
    stdout = anyio.wrap_file(TextIOWrapper(os.fdopen(out_fd, "wb"), encoding="utf-8",
                                           errors="replace", write_through=True))
    try:
        async with stdio_server(stdin, stdout) as streams:
            yield streams
    finally:
        with contextlib.suppress(Exception):
            await stdout.aclose()
        with contextlib.suppress(Exception):
            await stdin.aclose()
        with contextlib.suppress(OSError):
            os.dup2(saved, 1)
        with contextlib.suppress(OSError):
            os.close(saved)
