"""A real RTSP server for tests: GStreamer's GstRtspServer on 127.0.0.1.

Run as a script by the *system* Python (``/usr/bin/python3``, which has the Debian ``gi``
bindings) -- ``/usr/bin/python3 tests/rtsp_server.py --port P [--file F]`` serves H.264 at
``rtsp://127.0.0.1:P/test`` -- and imported by the tests, which drive it through
:class:`RtspServer` (start / kill / restart on the same port).
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

SYSTEM_PYTHON = "/usr/bin/python3"
MOUNT = "/test"


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def gst_available() -> bool:
    """True when the system Python can load GstRtspServer."""
    if not Path(SYSTEM_PYTHON).exists():
        return False
    probe = ("import gi; gi.require_version('GstRtspServer', '1.0'); "
             "from gi.repository import GstRtspServer")
    result = subprocess.run([SYSTEM_PYTHON, "-c", probe], capture_output=True, timeout=30)
    return result.returncode == 0


class RtspServer:
    """A GstRtspServer child process serving a test pattern (or a file) on 127.0.0.1."""

    def __init__(self, port: int | None = None, *, width: int = 160, height: int = 120,
                 fps: int = 30, file: str | Path | None = None) -> None:
        self.port = port or free_port()
        self.args = ["--port", str(self.port), "--width", str(width), "--height", str(height),
                     "--fps", str(fps)]
        if file is not None:
            self.args += ["--file", str(file)]
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"rtsp://127.0.0.1:{self.port}{MOUNT}"

    def start(self, timeout: float = 15.0) -> RtspServer:
        """Start the server and wait until its port accepts connections."""
        self.proc = subprocess.Popen(
            [SYSTEM_PYTHON, str(Path(__file__).resolve()), *self.args],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                err = self.proc.stderr.read().decode(errors="replace") if self.proc.stderr else ""
                raise RuntimeError(f"RTSP server exited with {self.proc.returncode}: {err}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return self
            except OSError:
                time.sleep(0.05)
        self.kill()
        raise RuntimeError(f"RTSP server did not listen on port {self.port} in {timeout} s")

    def kill(self) -> None:
        """Kill the server abruptly (SIGKILL), as a crash would."""
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=10)
            if self.proc.stderr is not None:
                self.proc.stderr.close()
            self.proc = None

    def restart(self) -> RtspServer:
        self.kill()
        return self.start()

    def __enter__(self) -> RtspServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.kill()


def _serve(argv: list[str]) -> int:
    """The child process: build the GStreamer pipeline and serve it until killed."""
    parser = argparse.ArgumentParser(description="test RTSP server on 127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--width", type=int, default=160)
    parser.add_argument("--height", type=int, default=120)
    parser.add_argument("--fps", type=int, default=30)
    parser.add_argument("--file", default=None)
    args = parser.parse_args(argv)

    import gi

    gi.require_version("Gst", "1.0")
    gi.require_version("GstRtspServer", "1.0")
    from gi.repository import GLib, Gst, GstRtspServer

    Gst.init(None)
    caps = f"video/x-raw,width={args.width},height={args.height},framerate={args.fps}/1"
    enc = (f"x264enc tune=zerolatency speed-preset=ultrafast key-int-max={args.fps} "
           "! rtph264pay name=pay0 pt=96 config-interval=1")
    if args.file:
        src = (f"filesrc location={args.file} ! decodebin ! videoconvert ! videoscale "
               f"! videorate ! {caps},format=I420 ! queue")
    else:
        src = f"videotestsrc is-live=true pattern=ball ! {caps},format=I420"
    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(str(args.port))
    factory = GstRtspServer.RTSPMediaFactory()
    factory.set_launch(f"( {src} ! {enc} )")
    factory.set_shared(True)
    server.get_mount_points().add_factory(MOUNT, factory)
    if server.attach(None) == 0:
        print(f"cannot bind 127.0.0.1:{args.port}", file=sys.stderr)
        return 1
    loop = GLib.MainLoop()
    signal.signal(signal.SIGTERM, lambda *_: loop.quit())
    loop.run()
    return 0


if __name__ == "__main__":
    os.environ.setdefault("GST_DEBUG", "0")
    sys.exit(_serve(sys.argv[1:]))
