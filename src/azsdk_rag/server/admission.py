"""Who may hold a connection slot, and how fast a peer may guess tokens.

A connection starts *pending* (a JSON-RPC client that has not initialized, a legacy client that
has not spoken) in a small pool of its own, one for loopback peers and one for the rest, so silent
or unauthenticated sockets can never take the slots of clients that are being served, and remote
ones never those of local clients. Once it authenticates (or speaks), it moves to the main pool
of ``Limits.max_connections``. Wrong tokens are counted per peer address: each one is answered
later than the last, and after ``Limits.auth_max_failures`` the address is locked out for
``Limits.auth_lockout`` seconds. Times come from the event loop's clock (tests use a virtual one).
"""

from __future__ import annotations

import asyncio
import ipaddress
import math
import string
from collections.abc import Callable
from dataclasses import dataclass

from azsdk_rag.server.framing import Limits

MIN_TOKEN_BITS = 128
EVICT_AFTER = 1.0
"""A pending connection this old (seconds) may be closed to make room for a newcomer."""


def is_loopback_peer(host: str) -> bool:
    """Whether a peer address (as ``getpeername`` gives it) is this machine."""
    try:
        address = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return host == "stdio"
    mapped = getattr(address, "ipv4_mapped", None)
    return bool((mapped or address).is_loopback)


_HEX = frozenset(string.hexdigits.lower())
_URLSAFE = frozenset(string.ascii_letters + string.digits + "-_")
_PRINTABLE = frozenset(string.printable.strip())


def token_bits(token: str) -> float:
    """A rough upper bound of a token's entropy: its length times the bits of its alphabet.

    The alphabet is the smallest of hex (16), URL-safe base64 (64), printable ASCII (94) or
    anything else (2^16) that holds the whole token: what a generator would have drawn from, so
    ``secrets.token_hex(16)`` counts 128 bits and ``secrets.token_urlsafe(16)`` 132, whichever
    characters it happened to draw. A token of fewer than 8 distinct characters counts only
    those, which catches ``aaaa...`` and ``1212...``.

    >>> token_bits("hunter2") < MIN_TOKEN_BITS
    True
    """
    chars = set(token)
    if not chars:
        return 0.0
    for alphabet, size in ((_HEX, 16), (_URLSAFE, 64), (_PRINTABLE, 94)):
        if {c.lower() for c in chars} <= alphabet if size == 16 else chars <= alphabet:
            break
    else:
        size = 1 << 16
    if len(chars) < 8:
        size = min(size, len(chars))
    return len(token) * math.log2(size) if size > 1 else 0.0


@dataclass
class _Failures:
    count: int
    last: float


class Admission:
    """Slot pools and the per-address record of wrong tokens (one per :class:`Server`)."""

    def __init__(self, limits: Limits) -> None:
        self._limits = limits
        self.served = 0
        """Connections in the main pool (authenticated, or legacy ones that have spoken)."""
        self.pending = {True: 0, False: 0}
        """Pending connections, by whether the peer is loopback."""
        self._failures: dict[str, _Failures] = {}
        self.waiting = 0
        """Newcomers waiting for a pending slot."""
        self._waiters: list[asyncio.Future[None]] = []
        self._slots: set[Slot] = set()
        """The pending slots (the ones a newcomer may evict)."""

    @property
    def connections(self) -> int:
        return self.served + sum(self.pending.values())

    # -- slots -------------------------------------------------------------------------------------

    async def enter(self, host: str) -> Slot | None:
        """A pending slot for a new connection from ``host``; ``None`` when none frees in time.

        A full pool first evicts its oldest connection that has been pending for over
        ``EVICT_AFTER`` seconds (a real client speaks within milliseconds; a silent socket is
        what fills a pool), then makes the newcomer wait (unread) for the place, up to
        ``first_message_timeout``, so a burst of real clients is served in turn. At most
        ``max_connections`` wait; beyond that a newcomer is refused at once.
        """
        local = is_loopback_peer(host)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._limits.first_message_timeout
        if self.pending[local] >= self._limits.max_pending:
            if self.waiting >= self._limits.max_connections:
                return None
            self.waiting += 1
            try:
                while self.pending[local] >= self._limits.max_pending:
                    now = loop.time()
                    if now >= deadline:
                        return None
                    evictable = self._evict_oldest(local, now)
                    freed = loop.create_future()
                    self._waiters.append(freed)
                    try:  # until a place frees, the deadline, or the next slot grows old enough
                        await asyncio.wait_for(freed, max(0.0, min(deadline, evictable) - now))
                    except asyncio.TimeoutError:
                        pass
                    finally:
                        if freed in self._waiters:
                            self._waiters.remove(freed)
            finally:
                self.waiting -= 1
        self.pending[local] += 1
        slot = Slot(self, local, deadline, loop.time())
        self._slots.add(slot)
        return slot

    def _evict_oldest(self, local: bool, now: float) -> float:
        """Close the oldest evictable pending connection of a pool, if one is old enough;
        return when the next one will be (``inf``: none)."""
        slots = sorted((slot for slot in self._slots if slot.local == local and not slot.evicted
                        and slot.evict is not None), key=lambda slot: slot.entered)
        if slots and now - slots[0].entered >= EVICT_AFTER:
            oldest = slots.pop(0)
            oldest.evicted = True
            assert oldest.evict is not None
            oldest.evict()
        return slots[0].entered + EVICT_AFTER if slots else math.inf

    def _free(self) -> None:
        """A pending slot was given up: wake the newcomers waiting for one (they re-check)."""
        waiters, self._waiters = self._waiters, []
        for freed in waiters:
            if not freed.done():
                freed.set_result(None)

    # -- wrong tokens ------------------------------------------------------------------------------

    def _now(self) -> float:
        return asyncio.get_running_loop().time()

    def _record(self, host: str) -> _Failures | None:
        record = self._failures.get(host)
        if record is not None and self._now() - record.last > self._limits.auth_lockout:
            del self._failures[host]  # forgiven after a quiet lockout period
            return None
        return record

    def locked_out(self, host: str) -> float | None:
        """Seconds until ``host`` may try a token again, or ``None`` if it may now."""
        record = self._record(host)
        if record is None or record.count < self._limits.auth_max_failures:
            return None
        return max(0.0, record.last + self._limits.auth_lockout - self._now())

    def failed(self, host: str) -> float:
        """Count a wrong token from ``host``; return how long to wait before answering it."""
        record = self._record(host)
        if record is None:
            record = self._failures[host] = _Failures(0, self._now())
        record.count += 1
        record.last = self._now()
        if len(self._failures) > 10_000:  # bound the memory an address sweep can cost
            oldest = min(self._failures, key=lambda key: self._failures[key].last)
            del self._failures[oldest]
        return min(self._limits.auth_delay * 2 ** (record.count - 1), self._limits.auth_lockout)

    def succeeded(self, host: str) -> None:
        self._failures.pop(host, None)


class Slot:
    """One connection's place: pending until :meth:`promote`, then in the main pool."""

    def __init__(self, admission: Admission, local: bool, deadline: float,
                 entered: float) -> None:
        self._admission = admission
        self.local = local
        self.entered = entered
        self.evict: Callable[[], object] | None = None
        """How to close this connection when a newcomer needs its pending place."""
        self.evicted = False
        self.deadline = deadline
        """When the first message is due (loop time): counted from the accept, so time spent
        waiting for a pending place counts too."""
        self.promoted = False
        self._released = False

    def first_message_wait(self, grace: float = 1.0) -> float:
        """How long to wait for the first message now; at least ``grace``, so bytes that arrived
        while the connection waited for its place are still read."""
        return max(grace, self.deadline - asyncio.get_running_loop().time())

    def promote(self) -> bool:
        """Move to the main pool; ``False`` (and still pending) when it is full."""
        if self.promoted:
            return True
        admission = self._admission
        if admission.served >= admission._limits.max_connections:
            return False
        admission.pending[self.local] -= 1
        admission.served += 1
        admission._slots.discard(self)
        self.promoted = True
        admission._free()
        return True

    def release(self) -> None:
        if self._released:
            return
        self._released = True
        if self.promoted:
            self._admission.served -= 1
        else:
            self._admission.pending[self.local] -= 1
            self._admission._slots.discard(self)
            self._admission._free()
