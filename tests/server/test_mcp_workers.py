"""Tool calls compute at most as many at once as there are cores (the rest wait their turn)."""

from __future__ import annotations

import os
import threading
import time

import anyio

from azsdk_rag.server import mcp


async def test_tool_calls_in_threads_are_capped_at_the_core_count() -> None:
    cap = max(2, os.cpu_count() or 2)
    lock = threading.Lock()
    running = peak = 0

    def work() -> int:
        nonlocal running, peak
        with lock:
            running += 1
            peak = max(peak, running)
        time.sleep(0.02)
        with lock:
            running -= 1
        return 1

    results: list[int] = []

    async def one() -> None:
        results.append(await mcp._in_thread(work))

    async with anyio.create_task_group() as tg:
        for _ in range(cap * 4):
            tg.start_soon(one)
    assert results == [1] * (cap * 4)
    assert peak == cap
