"""One shutdown path for the streaming daemon, idempotent under repeated signals.

The first SIGINT/SIGTERM (or :meth:`Shutdown.request`) drains the pipeline: the source stops,
everything already read is processed and every output is finished.  Later signals change
nothing -- they are counted, never raised as ``KeyboardInterrupt`` into the middle of an encoder
call or a file's finalisation.  A drain that outlasts ``drain_timeout`` seconds (a source stuck in
a read, a backend stuck in a call) aborts the pipeline instead; outputs are still finished with
the maps written so far, and :attr:`Shutdown.timed_out` tells the caller (exit 130).

Install the handlers before the outputs are opened and keep them until the outputs are closed,
so that no signal can land in between with Python's default handler.
"""

from __future__ import annotations

import logging
import signal
import threading
from types import FrameType, TracebackType
from typing import Any

log = logging.getLogger(__name__)

SIGNALS: tuple[signal.Signals, ...] = (signal.SIGINT, signal.SIGTERM)


class Shutdown:
    """Turns signals into one drain of the :class:`~rt_saliency.stream.pipeline.Pipeline`
    attached with :meth:`attach` (a request before that stops it as soon as it is attached)."""

    def __init__(self, drain_timeout: float = 10.0) -> None:
        self.drain_timeout = float(drain_timeout)
        self.signals = 0
        self.requested = threading.Event()
        self.timed_out = False
        self._pipeline: Any = None
        self._lock = threading.Lock()
        self._timer: threading.Timer | None = None
        self._done = False
        self._previous: dict[int, Any] = {}

    # ------------------------------------------------------------------ control
    def attach(self, pipeline: Any) -> None:
        """The pipeline to drain; stopped at once if a shutdown was already requested."""
        with self._lock:
            self._pipeline = pipeline
            pending = self.requested.is_set()
        if pending:
            self._drain()

    def request(self, reason: str = "shutdown requested") -> None:
        """Drain once; any later call is a no-op (safe from a signal handler)."""
        with self._lock:
            first = not self.requested.is_set()
            self.requested.set()
        if first:
            log.warning("%s: draining (outputs are finished; repeating it changes nothing)",
                        reason)
            self._drain()

    def _drain(self) -> None:
        with self._lock:
            pipeline = self._pipeline
            if pipeline is None or self._timer is not None or self._done:
                return
            self._timer = threading.Timer(self.drain_timeout, self._abort)
            self._timer.daemon = True
        pipeline.stop()
        self._timer.start()

    def _abort(self) -> None:
        self.timed_out = True
        log.warning("drain did not finish in %.1f s: stopping the pipeline now",
                    self.drain_timeout)
        self._pipeline.abort()

    def finished(self) -> None:
        """The pipeline has stopped: no abort from now on."""
        with self._lock:
            self._done = True
            if self._timer is not None:
                self._timer.cancel()

    # ------------------------------------------------------------------ signals
    def _handler(self, signum: int, _frame: FrameType | None) -> None:
        self.signals += 1
        if self.requested.is_set():
            return
        self.request(f"signal {signal.Signals(signum).name}")

    def __enter__(self) -> Shutdown:
        if threading.current_thread() is not threading.main_thread():
            return self  # signals can only be handled on the main thread: leave them alone
        for sig in SIGNALS:
            self._previous[sig] = signal.signal(sig, self._handler)
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.finished()
        for sig, previous in self._previous.items():
            # once shutting down, a late repeat must not kill the process on its way out
            signal.signal(sig, signal.SIG_IGN if self.requested.is_set() else previous)
        self._previous.clear()
