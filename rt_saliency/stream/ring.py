"""A bounded ring buffer between two threads, with a blocking or a drop-oldest policy.

Files and pipes use ``"block"``: a full ring makes the producer wait, so nothing is lost.  Live
sources use ``"drop_oldest"``: a full ring discards its oldest item to make room, and every drop is
counted and handed back to the producer (the pipeline turns each into a ``dropped`` record).
The end of a stream is an :class:`EndOfStream` item; a shared stop event aborts both sides.
A ring is bounded by a count and, optionally, by the bytes of the arrays its items carry
(:func:`payload_bytes`), so an 8K stream holds as few frames as its memory allows; an item
larger than the bound still passes alone, into an empty ring.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass, field, fields, is_dataclass
from typing import Any, Literal

Policy = Literal["block", "drop_oldest"]

_POLL_S = 0.05


@dataclass(frozen=True)
class EndOfStream:
    """The sentinel a producer puts last; ``at`` is ``time.monotonic()`` when the stream ended."""

    at: float = field(default_factory=time.monotonic)


def payload_bytes(item: Any) -> int:
    """The bytes of the arrays an item carries: its own ``nbytes``, or the sum over a
    dataclass's fields and a tuple's or list's members (anything else counts 0)."""
    nbytes = getattr(item, "nbytes", None)
    if isinstance(nbytes, int):
        return nbytes
    if is_dataclass(item) and not isinstance(item, type):
        return sum(payload_bytes(getattr(item, f.name)) for f in fields(item))
    if isinstance(item, (tuple, list)):
        return sum(payload_bytes(v) for v in item)
    return 0


class RingStopped(Exception):
    """Raised by ``put``/``get`` once the stop event is set (the pipeline is aborting)."""


class RingBuffer:
    """Bounded FIFO for one producer thread and one consumer thread."""

    def __init__(
        self,
        capacity: int,
        policy: Policy = "block",
        name: str = "ring",
        stop_event: threading.Event | None = None,
        max_bytes: int | None = None,
    ) -> None:
        if capacity < 1:
            raise ValueError(f"ring capacity must be >= 1, got {capacity}")
        if max_bytes is not None and max_bytes < 1:
            raise ValueError(f"ring max_bytes must be >= 1, got {max_bytes}")
        if policy not in ("block", "drop_oldest"):
            raise ValueError(f"unknown ring policy {policy!r}")
        self.capacity = capacity
        self.max_bytes = max_bytes
        self.policy: Policy = policy
        self.name = name
        self.stop_event = stop_event if stop_event is not None else threading.Event()
        self._items: deque[tuple[Any, int]] = deque()
        self._bytes = 0
        self._cond = threading.Condition()
        #: items discarded by the drop-oldest policy
        self.drops = 0
        self.puts = 0
        self.gets = 0
        self.max_depth = 0
        self.max_bytes_held = 0

    def __len__(self) -> int:
        with self._cond:
            return len(self._items)

    @property
    def depth(self) -> int:
        """Items waiting now."""
        return len(self)

    def put(self, item: Any) -> list[Any]:
        """Add ``item``; return the items dropped to make room (always ``[]`` when blocking).

        The end-of-stream sentinel is never dropped; with ``"drop_oldest"`` a full ring of data
        makes room for it by dropping data.
        """
        dropped: list[Any] = []
        size = payload_bytes(item)
        with self._cond:
            while not self._fits(size):
                if self.stop_event.is_set():
                    raise RingStopped(self.name)
                if self.policy == "drop_oldest" or isinstance(item, EndOfStream):
                    victim = self._oldest_droppable()
                    if victim is not None:
                        dropped.append(victim)
                        self.drops += 1
                        continue
                self._cond.wait(_POLL_S)
            if self.stop_event.is_set():
                raise RingStopped(self.name)
            self._items.append((item, size))
            self._bytes += size
            self.puts += 1
            self.max_depth = max(self.max_depth, len(self._items))
            self.max_bytes_held = max(self.max_bytes_held, self._bytes)
            self._cond.notify_all()
        return dropped

    def _fits(self, size: int) -> bool:
        if len(self._items) >= self.capacity:
            return False
        return (self.max_bytes is None or not self._items or size == 0
                or self._bytes + size <= self.max_bytes)

    def _oldest_droppable(self) -> Any | None:
        if self.policy != "drop_oldest":
            return None
        for i, (queued, size) in enumerate(self._items):
            if not isinstance(queued, EndOfStream):
                del self._items[i]
                self._bytes -= size
                return queued
        return None

    def get(self, timeout: float | None = None) -> Any:
        """Take the oldest item, waiting for one; ``TimeoutError`` after ``timeout`` seconds."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while not self._items:
                if self.stop_event.is_set():
                    raise RingStopped(self.name)
                if deadline is not None and time.monotonic() >= deadline:
                    raise TimeoutError(f"ring {self.name}: nothing within {timeout} s")
                self._cond.wait(_POLL_S)
            if self.stop_event.is_set():
                raise RingStopped(self.name)
            item, size = self._items.popleft()
            self._bytes -= size
            self.gets += 1
            self._cond.notify_all()
            return item

    def stop(self) -> None:
        """Abort: wake every waiter; further ``put``/``get`` raise :class:`RingStopped`."""
        self.stop_event.set()
        with self._cond:
            self._cond.notify_all()
