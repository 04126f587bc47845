"""An event loop with an injected clock, so that timing-window tests do not depend on the machine.

Every timer of asyncio (``sleep``, ``wait_for``, ``wait(timeout=...)``, ``call_later``) and every
deadline the server computes reads ``loop.time()``. On :class:`VirtualClockLoop` that clock moves
only when the loop has nothing left to do: then it jumps straight to the next timer. So a 0.2 s
quiet window is exactly 0.2 s of loop time however slow the machine is, a test that waits for
it takes no real time, and "what happened before the timer" is decided by the order of events,
not by how fast they ran.

Real I/O still works (loopback sockets between a server and clients in the same loop): before
each jump the loop polls its sockets, and gives the kernel a short real grace to deliver bytes in
flight. While a thread of the loop's executor runs (``asyncio.to_thread``, ``getaddrinfo``), the
loop waits in real time and its clock follows the real one, so a blocking client in a thread
sees the same timers it would see on a normal loop.

    @virtual_clock
    async def test_a_pause_ends_a_message() -> None: ...   # a plain test, run on this loop
"""

from __future__ import annotations

import asyncio
import functools
import selectors
import time
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

T = TypeVar("T")

GRACE = 0.005  # real seconds for bytes already sent to reach a socket before the clock jumps


class _Selector(selectors.DefaultSelector):  # type: ignore[misc,valid-type]
    loop: VirtualClockLoop

    def select(self, timeout: float | None = None) -> list[tuple[Any, int]]:
        ready = super().select(0)
        if ready or (timeout is not None and timeout <= 0):
            return ready
        loop = self.loop
        if loop.threads or timeout is None:  # real work elsewhere: wait for it in real time
            started = time.monotonic()
            ready = super().select(timeout)
            loop.advance(time.monotonic() - started)
            return ready
        ready = super().select(min(GRACE, timeout))
        if not ready:
            loop.advance(timeout)  # nothing can happen before the next timer: go there
        return ready


class VirtualClockLoop(asyncio.SelectorEventLoop):
    """A selector event loop whose ``time()`` is virtual (starts at 0, see the module doc)."""

    def __init__(self) -> None:
        selector = _Selector()
        super().__init__(selector)
        selector.loop = self
        self._now = 0.0
        self.threads = 0  # executor jobs running now

    def time(self) -> float:
        return self._now

    def advance(self, seconds: float) -> None:
        self._now += max(0.0, seconds)

    def run_in_executor(self, executor: Any, func: Callable[..., T],
                        *args: Any) -> asyncio.Future[T]:
        future = super().run_in_executor(executor, func, *args)
        self.threads += 1
        future.add_done_callback(self._thread_done)
        return future

    def _thread_done(self, _future: asyncio.Future[Any]) -> None:
        self.threads -= 1


def run_virtual(coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` to completion on a fresh :class:`VirtualClockLoop`, then close the loop."""
    loop = VirtualClockLoop()
    try:
        asyncio.set_event_loop(loop)
        return loop.run_until_complete(coro)
    finally:
        try:
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.run_until_complete(loop.shutdown_default_executor())
        finally:
            asyncio.set_event_loop(None)
            loop.close()


def virtual_clock(test: Callable[..., Coroutine[Any, Any, T]]) -> Callable[..., T]:
    """Make an ``async def`` test a plain one that runs on a :class:`VirtualClockLoop`.

    Its fixtures must be synchronous (an async fixture would live on another loop).
    """

    @functools.wraps(test)
    def run(*args: Any, **kwargs: Any) -> T:
        return run_virtual(test(*args, **kwargs))

    return run
