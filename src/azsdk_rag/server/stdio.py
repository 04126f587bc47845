"""This process's stdin and stdout as the streams of one JSON-RPC connection.

Pipes are awaited where the platform can (``connect_read_pipe``/``connect_write_pipe``); a
terminal, a file or a Windows pipe is read by a thread and written with blocking writes. While the
connection runs, file descriptor 1 points at stderr, so a stray ``print`` from any library lands
in the log instead of corrupting the protocol.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import stat
import sys
import threading
from collections.abc import Callable
from typing import Any

from azsdk_rag.server.framing import READ_CHUNK, Writer


def _is_pipe(fd: int) -> bool:
    mode = os.fstat(fd).st_mode
    return stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode)


class _BlockingWriter:
    """Writes straight to a file descriptor (a terminal, a file, Windows pipes)."""

    transport = None

    def __init__(self, fd: int) -> None:
        self._fd = fd
        self._closed = False

    def write(self, data: bytes) -> None:
        if self._closed:
            raise BrokenPipeError
        view = memoryview(data)
        try:
            while view:
                view = view[os.write(self._fd, view) :]
        except OSError:
            self._closed = True
            raise

    async def drain(self) -> None:
        return None

    def is_closing(self) -> bool:
        return self._closed

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            with contextlib.suppress(OSError):
                os.close(self._fd)

    async def wait_closed(self) -> None:
        return None

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return default


def _pump(fd: int, reader: asyncio.StreamReader, loop: asyncio.AbstractEventLoop) -> None:
    """Feed ``reader`` from a blocking descriptor (thread body, when pipes cannot be awaited)."""
    while True:
        try:
            data = os.read(fd, READ_CHUNK)
        except OSError:
            data = b""
        try:
            if data:
                loop.call_soon_threadsafe(reader.feed_data, data)
            else:
                loop.call_soon_threadsafe(reader.feed_eof)
                return
        except RuntimeError:  # the loop is gone
            return


async def open_stdio() -> tuple[asyncio.StreamReader, Writer, Callable[[], None]]:
    """Streams over stdin/stdout, with fd 1 sent to stderr meanwhile; returns a cleanup too."""
    loop = asyncio.get_running_loop()
    with contextlib.suppress(Exception):
        sys.stdout.flush()
    saved_stdout = os.dup(1)
    out_fd = os.dup(1)
    in_fd = os.dup(0)
    os.dup2(2, 1)
    use_pipes = sys.platform != "win32"

    reader = asyncio.StreamReader()
    read_transport: asyncio.BaseTransport | None = None
    if use_pipes and _is_pipe(in_fd):
        read_transport, _ = await loop.connect_read_pipe(
            lambda: asyncio.StreamReaderProtocol(reader), os.fdopen(in_fd, "rb", buffering=0)
        )
    else:
        threading.Thread(
            target=_pump, args=(in_fd, reader, loop), name="azsdk-rag-stdin", daemon=True
        ).start()

    writer: Writer
    if use_pipes and _is_pipe(out_fd):
        transport, protocol = await loop.connect_write_pipe(
            lambda: asyncio.StreamReaderProtocol(asyncio.StreamReader()),
            os.fdopen(out_fd, "wb", buffering=0),
        )
        writer = asyncio.StreamWriter(transport, protocol, None, loop)
    else:
        writer = _BlockingWriter(out_fd)

    def cleanup() -> None:
        if read_transport is not None:
            read_transport.close()
        writer.close()
        with contextlib.suppress(OSError):
            os.set_blocking(saved_stdout, True)
            os.dup2(saved_stdout, 1)
        with contextlib.suppress(OSError):
            os.close(saved_stdout)

    return reader, writer, cleanup
