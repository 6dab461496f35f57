"""A bounded ring buffer between two threads, with a blocking or a drop-oldest policy.

Files and pipes use ``"block"``: a full ring makes the producer wait, so nothing is lost.  Live
sources use ``"drop_oldest"``: a full ring discards its oldest item to make room, and every drop is
counted and handed back to the producer (the pipeline turns each into a ``dropped`` record).
The end of a stream is an :class:`EndOfStream` item; a shared stop event aborts both sides.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Literal

Policy = Literal["block", "drop_oldest"]

_POLL_S = 0.05


@dataclass(frozen=True)
class EndOfStream:
    """The sentinel a producer puts last; ``at`` is ``time.monotonic()`` when the stream ended."""

    at: float = field(default_factory=time.monotonic)


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
    ) -> None:
        if capacity < 1:
            raise ValueError(f"ring capacity must be >= 1, got {capacity}")
        if policy not in ("block", "drop_oldest"):
            raise ValueError(f"unknown ring policy {policy!r}")
        self.capacity = capacity
        self.policy: Policy = policy
        self.name = name
        self.stop_event = stop_event if stop_event is not None else threading.Event()
        self._items: deque[Any] = deque()
        self._cond = threading.Condition()
        #: items discarded by the drop-oldest policy
        self.drops = 0
        self.puts = 0
        self.gets = 0
        self.max_depth = 0

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
        with self._cond:
            while len(self._items) >= self.capacity:
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
            self._items.append(item)
            self.puts += 1
            self.max_depth = max(self.max_depth, len(self._items))
            self._cond.notify_all()
        return dropped

    def _oldest_droppable(self) -> Any | None:
        if self.policy != "drop_oldest":
            return None
        for i, queued in enumerate(self._items):
            if not isinstance(queued, EndOfStream):
                del self._items[i]
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
            item = self._items.popleft()
            self.gets += 1
            self._cond.notify_all()
            return item

    def stop(self) -> None:
        """Abort: wake every waiter; further ``put``/``get`` raise :class:`RingStopped`."""
        self.stop_event.set()
        with self._cond:
            self._cond.notify_all()
