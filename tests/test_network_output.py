"""``run -o URL --format F``: the encode streamed to a real listener on 127.0.0.1 (a Python TCP
and UDP receiver, FFmpeg as SRT and RTMP server), received, and decoded with every frame."""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
from pathlib import Path

import av
import pytest

FRAMES = 40
TIMEOUT = 120


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory, ffmpeg_bin: str) -> Path:
    path = tmp_path_factory.mktemp("net") / "clip.mkv"
    subprocess.run([ffmpeg_bin, "-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i",
                    "testsrc2=size=192x108:rate=25", "-frames:v", str(FRAMES), "-c:v", "ffv1",
                    str(path)], check=True, timeout=60)
    return path


def _run(clip: Path, target: str, fmt: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "rt_saliency", "-q", "run", "-i", str(clip), "-o", target,
         "--format", fmt, "--backend", "prior", "--preset", "ultrafast", "--no-table"],
        capture_output=True, text=True, timeout=TIMEOUT)


def _frames(path: Path) -> int:
    with av.open(str(path)) as container:
        return sum(1 for _ in container.decode(video=0))


def _free_port(kind: int = socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class _Receiver(threading.Thread):
    """Everything sent to a TCP or UDP socket on 127.0.0.1, until the sender is done."""

    def __init__(self, kind: int) -> None:
        super().__init__(daemon=True)
        self.sock = socket.socket(socket.AF_INET, kind)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.kind = kind
        self.data = bytearray()
        if kind == socket.SOCK_STREAM:
            self.sock.listen(1)
        else:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
        self.sock.settimeout(TIMEOUT)

    def run(self) -> None:
        if self.kind == socket.SOCK_STREAM:
            conn, _ = self.sock.accept()
            with conn:
                while chunk := conn.recv(65536):
                    self.data += chunk
        else:
            self.sock.settimeout(3.0)  # the stream has ended when nothing comes for 3 s
            try:
                while True:
                    self.data += self.sock.recv(65536)
            except TimeoutError:
                pass
        self.sock.close()


@pytest.mark.parametrize("scheme,kind", [("tcp", socket.SOCK_STREAM), ("udp", socket.SOCK_DGRAM)])
def test_mpegts_to_a_local_listener(clip: Path, tmp_path: Path, scheme: str, kind: int) -> None:
    receiver = _Receiver(kind)
    receiver.start()
    url = f"{scheme}://127.0.0.1:{receiver.port}" + ("?pkt_size=1316" if scheme == "udp" else "")
    result = _run(clip, url, "mpegts")
    receiver.join(TIMEOUT)
    assert result.returncode == 0, result.stderr
    got = tmp_path / "got.ts"
    got.write_bytes(receiver.data)
    assert _frames(got) == FRAMES


def _ffmpeg_listener(ffmpeg_bin: str, url: str, fmt: str, out: Path,
                     extra: tuple[str, ...] = ()) -> subprocess.Popen:
    return subprocess.Popen([ffmpeg_bin, "-hide_banner", "-loglevel", "error", "-y", *extra,
                             "-f", fmt, "-i", url, "-c", "copy", str(out)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def test_flv_over_rtmp_to_ffmpegs_rtmp_server(clip: Path, tmp_path: Path, ffmpeg_bin: str) -> None:
    port = _free_port()
    out = tmp_path / "got.flv"
    server = _ffmpeg_listener(ffmpeg_bin, f"rtmp://127.0.0.1:{port}/live/test", "flv", out,
                              ("-listen", "1", "-timeout", "30"))
    try:
        result = _run(clip, f"rtmp://127.0.0.1:{port}/live/test", "flv")
        server.wait(timeout=TIMEOUT)
    finally:
        server.kill()
    if result.returncode == 2 and "no rtmp:// protocol" in result.stderr:
        pytest.skip("the FFmpeg that PyAV links has no rtmp://")
    assert result.returncode == 0, result.stderr
    assert _frames(out) == FRAMES


def test_srt_to_ffmpegs_listener_or_one_clean_refusal(clip: Path, tmp_path: Path,
                                                      ffmpeg_bin: str) -> None:
    port = _free_port(socket.SOCK_DGRAM)
    out = tmp_path / "got.ts"
    server = _ffmpeg_listener(ffmpeg_bin, f"srt://127.0.0.1:{port}?mode=listener", "mpegts", out)
    try:
        result = _run(clip, f"srt://127.0.0.1:{port}?mode=caller", "mpegts")
        if result.returncode == 0:
            server.wait(timeout=TIMEOUT)
    finally:
        server.kill()
    if result.returncode != 0:
        # PyAV's own FFmpeg may be built without libsrt: one line, exit 2, no traceback
        assert result.returncode == 2, result.stderr
        assert "Traceback" not in result.stderr
        assert "srt://" in result.stderr and "protocol" in result.stderr
        return
    assert _frames(out) == FRAMES


def test_a_url_without_a_format_is_refused(clip: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "rt_saliency", "-q", "run", "-i", str(clip), "-o",
         "udp://127.0.0.1:9", "--backend", "prior", "--no-table"],
        capture_output=True, text=True, timeout=TIMEOUT)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr and "--format mpegts" in result.stderr
