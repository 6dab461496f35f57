"""RTSP over TCP: open/read timeouts and reconnection with exponential backoff."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator

from rt_saliency.errors import InputError, SourceError
from rt_saliency.redact import redact_url
from rt_saliency.stream.sources.base import Decoded
from rt_saliency.stream.sources.pyav import PyAVSource, _import_av

log = logging.getLogger(__name__)

#: how much of the stream FFmpeg reads to learn its parameters when the stream opens.  Frames read
#: then are handed over in one burst; FFmpeg's default (5 s, about 1 s in practice) made a burst
#: of ~28 frames that overflowed the rings and was dropped.  0.2 s is still enough for the size
#: and rate of H.264/HEVC over RTSP (SDP and SPS carry them).
PROBE_US = 200_000


class RtspSource(PyAVSource):
    """An RTSP stream over TCP with open/read timeouts and reconnection with exponential backoff.

    A server that goes away ends PyAV's decode loop like an end of stream (or raises after the
    read timeout when it hangs); either way the source reconnects, doubling the wait from
    ``backoff_initial`` up to ``backoff_max``, and gives up with :class:`SourceError` once it has
    failed to reconnect for ``reconnect_timeout`` seconds (0: never reconnect).
    """

    info_live_hint = True

    def __init__(
        self,
        url: str,
        *,
        open_timeout: float = 5.0,
        read_timeout: float = 5.0,
        reconnect_timeout: float = 30.0,
        backoff_initial: float = 0.25,
        backoff_max: float = 4.0,
        live: bool = True,
    ) -> None:
        self.reconnect_timeout = reconnect_timeout
        #: successful reconnections
        self.reconnects = 0
        #: reconnection attempts, successful or not
        self.reconnect_attempts = 0
        self.backoff_initial = backoff_initial
        self.backoff_max = backoff_max
        super().__init__(
            url,
            name=redact_url(url),
            live=live,
            options={"rtsp_transport": "tcp", "analyzeduration": str(PROBE_US)},
            timeout=(open_timeout, read_timeout),
        )

    def _open_error(self, exc: BaseException) -> Exception:
        text = redact_url(getattr(exc, "strerror", None) or str(exc))
        return SourceError(f"{self._name}: cannot open RTSP stream ({text})")

    def _decode_error(self, exc: BaseException) -> Exception:
        text = redact_url(getattr(exc, "strerror", None) or str(exc))
        if isinstance(exc, (_import_av().error.ExitError, _import_av().error.TimeoutError)):
            return SourceError(f"{self._name}: stream failed (timed out: no data within "
                               f"--read-timeout {self._timeout[1]:g} s)")  # type: ignore[index]
        return SourceError(f"{self._name}: stream failed ({text})")

    def _generate(self) -> Iterator[Decoded]:
        while not self._stop.is_set():
            if self._container is None:
                self._reconnect()
                if self._container is None:
                    return
            try:
                yield from self._decode(self._container)
            except SourceError as exc:
                log.warning("%s; reconnecting", exc)
            self.close()
            if self.reconnect_timeout <= 0:
                return

    def counters(self) -> dict[str, int]:
        return {**super().counters(), "reconnects": self.reconnects,
                "reconnect_attempts": self.reconnect_attempts}

    def _reconnect(self) -> None:
        """Reopen the stream with exponential backoff; raise SourceError when out of time."""
        delay = self.backoff_initial
        started = time.monotonic()
        while not self._stop.is_set():
            self.reconnect_attempts += 1
            try:
                self._container = self._open()
            except (SourceError, InputError) as exc:
                waited = time.monotonic() - started
                if waited + delay > self.reconnect_timeout:
                    raise SourceError(
                        f"{self._name}: gave up reconnecting after {self.reconnect_attempts} "
                        f"attempts in {waited:.1f} s ({exc})"
                    ) from exc
                log.info("reconnect to %s failed; retrying in %.2f s", self._name, delay)
                self._stop.wait(delay)
                delay = min(delay * 2.0, self.backoff_max)
                continue
            self.reconnects += 1
            log.info("reconnected to %s (reconnect %d)", self._name, self.reconnects)
            return
