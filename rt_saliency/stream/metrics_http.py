"""``--metrics-port``: the stream's stats as Prometheus text on ``GET /metrics``.

A small ``http.server`` in a daemon thread, bound to 127.0.0.1 unless another host is given.
Connections are served by at most :data:`MAX_CONNECTIONS` threads at a time; one more is closed
at once (a scraper retries), and a connection idle for :data:`IDLE_TIMEOUT_S` is dropped, so a
flood of idle connections costs a bounded number of threads.
"""

from __future__ import annotations

import logging
import socket
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

from rt_saliency.errors import ConfigError
from rt_saliency.stream.stats import StreamStats

log = logging.getLogger(__name__)

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
#: connections served at once (each in its own thread)
MAX_CONNECTIONS = 8
#: seconds a connection may stay silent before it is closed
IDLE_TIMEOUT_S = 5.0


class _BoundedHTTPServer(HTTPServer):
    """``HTTPServer`` with one thread per connection, at most ``max_connections`` of them."""

    #: listen backlog: a burst of connections waits in the kernel, not in SYN retries
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], handler: Any, max_connections: int) -> None:
        super().__init__(address, handler)
        self._slots = threading.BoundedSemaphore(max_connections)
        #: connections closed unserved because every slot was busy
        self.refused = 0

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self._slots.acquire(blocking=False):
            self.refused += 1
            self.shutdown_request(request)
            return
        worker = threading.Thread(target=self._serve_one, args=(request, client_address),
                                  name="metrics-connection", daemon=True)
        worker.start()

    def _serve_one(self, request: socket.socket, client_address: Any) -> None:
        try:
            self.finish_request(request, client_address)
        except Exception:  # noqa: BLE001 - a broken client must not end the server
            log.debug("metrics connection from %s failed", client_address, exc_info=True)
        finally:
            self.shutdown_request(request)
            self._slots.release()


class MetricsServer:
    """Serves ``stats.prometheus()`` at ``/metrics``; a context manager; port 0 picks a free port."""

    def __init__(self, stats: StreamStats, port: int, host: str = "127.0.0.1",
                 max_connections: int = MAX_CONNECTIONS) -> None:
        stats_ref = stats

        class Handler(BaseHTTPRequestHandler):
            timeout = IDLE_TIMEOUT_S  # an idle connection gives its thread back

            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                if self.path.split("?")[0] not in ("/metrics", "/"):
                    self.send_error(404)
                    return
                body = stats_ref.prometheus().encode()
                self.send_response(200)
                self.send_header("Content-Type", CONTENT_TYPE)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                log.debug("metrics: " + format, *args)

        try:
            self._server = _BoundedHTTPServer((host, port), Handler, max_connections)
        except OSError as exc:
            raise ConfigError(f"cannot serve metrics on {host}:{port} ({exc.strerror})") from exc
        self.host = host
        self.port = int(self._server.server_address[1])
        self._thread = threading.Thread(target=self._server.serve_forever, name="rts-metrics",
                                        daemon=True)

    def __enter__(self) -> MetricsServer:
        self._thread.start()
        log.info("metrics on http://%s:%d/metrics", self.host, self.port)
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._thread.is_alive():
            self._server.shutdown()
        self._server.server_close()
