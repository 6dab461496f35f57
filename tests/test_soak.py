"""Bounded soaks of the real daemon (``rt-saliency run`` with the shipped model), marked slow.

* a live synthetic camera (640x360 at 30 fps) encoded to MP4 with NDJSON maps for
  ``RT_SALIENCY_SOAK_S`` seconds (default 1800: 30 minutes), then SIGINT;
* a real RTSP server killed and restarted 10 times under the daemon.

The child's RSS, threads and open file descriptors are sampled from ``/proc`` while it runs, and
its counters are read from its own Prometheus endpoint.  Each soak asserts that every frame read
is accounted for (maps + dropped), that the outputs hold exactly those frames, and that RSS,
threads and descriptors stay flat after a warm-up.  With ``RT_SALIENCY_SOAK_REPORT=DIR`` each soak
writes its figures (every sample included) to ``DIR/<name>.json``; ``scripts/soak_report.py``
runs both and prints the summary.
"""

from __future__ import annotations

import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import time
import urllib.request
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import pytest
from rtsp_server import RtspServer, free_port, gst_available

from rt_saliency.qp import read_ndjson

SOAK_S = float(os.environ.get("RT_SALIENCY_SOAK_S", "1800"))
#: samples before this many seconds are warm-up (model load, first allocations, encoder lookahead)
WARMUP_S = min(120.0, SOAK_S / 5)
#: RSS may move this much after the warm-up (allocator noise), not more
RSS_FLAT_MB = 25.0


@dataclass(frozen=True)
class Sample:
    t: float
    rss_mb: float
    threads: int
    fds: int
    frames_in: int
    maps: int
    dropped: int
    reconnects: int


def _proc_status(pid: int) -> tuple[float, int]:
    rss_kb, threads = 0, 0
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            rss_kb = int(line.split()[1])
        elif line.startswith("Threads:"):
            threads = int(line.split()[1])
    return rss_kb / 1024, threads


def _metrics(port: int) -> dict[str, float]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as reply:
        text = reply.read().decode()
    values: dict[str, float] = {}
    for line in text.splitlines():
        if line and not line.startswith("#") and "{" not in line:
            name, value = line.split()
            values[name.removeprefix("rt_saliency_")] = float(value)
    return values


class DaemonProcess:
    """``rt-saliency run`` as a child process, stderr to a file (a long run must not block)."""

    def __init__(self, args: list[str], log: Path) -> None:
        self.port = free_port()
        self.log = log
        self._err = log.open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "rt_saliency", "-q", "run", *args, "--metrics-port",
             str(self.port), "--no-table", "--no-progress"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=self._err)
        self.started = time.monotonic()
        self.samples: list[Sample] = []

    def counters(self) -> dict[str, float] | None:
        try:
            return _metrics(self.port)
        except OSError:
            return None  # still loading the model, or between stop and exit

    def sample(self) -> Sample | None:
        counters = self.counters()
        if counters is None or self.proc.poll() is not None:
            return None
        rss, threads = _proc_status(self.proc.pid)
        fds = len(os.listdir(f"/proc/{self.proc.pid}/fd"))
        sample = Sample(round(time.monotonic() - self.started, 2), round(rss, 1), threads, fds,
                        int(counters["frames_in_total"]), int(counters["maps_total"]),
                        int(counters["dropped_total"]), int(counters["reconnects_total"]))
        self.samples.append(sample)
        return sample

    def wait_serving(self, timeout: float = 120.0) -> None:
        deadline = time.monotonic() + timeout
        while self.sample() is None:
            if self.proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"daemon did not start serving: {self.stop()[1]}")
            time.sleep(0.5)

    def stop(self, timeout: float = 120.0) -> tuple[int, str]:
        """SIGINT (a clean drain), the exit status and what it printed."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
        try:
            code = self.proc.wait(timeout=timeout)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
            self._err.close()
        return code, self.log.read_text(errors="replace")


def _summary(samples: list[Sample], warmup_s: float) -> dict[str, Any]:
    steady = [s for s in samples if s.t >= warmup_s] or samples[-1:]
    quarter = max(len(steady) // 4, 1)
    rss = [s.rss_mb for s in steady]
    slope = (statistics.linear_regression([s.t for s in steady], rss).slope
             if len(steady) > 1 else 0.0)
    return {
        "samples": len(samples),
        "warmup_s": warmup_s,
        "rss_mb": {"at_warmup": steady[0].rss_mb, "min": min(rss), "max": max(rss),
                   "end": rss[-1], "peak_all": max(s.rss_mb for s in samples),
                   "first_quarter_median": statistics.median(rss[:quarter]),
                   "last_quarter_median": statistics.median(rss[-quarter:]),
                   "growth_mb_per_hour": round(3600 * slope, 2)},  # least squares
        "threads": {"min": min(s.threads for s in steady), "max": max(s.threads for s in steady)},
        "fds": {"min": min(s.fds for s in steady), "max": max(s.fds for s in steady)},
    }


def _report(name: str, report: dict[str, Any], samples: list[Sample]) -> None:
    report["machine"] = {"cpu": _cpu_model(), "cores": os.cpu_count(),
                         "python": platform.python_version()}
    report["series"] = [asdict(s) for s in samples]
    print(json.dumps({k: v for k, v in report.items() if k != "series"}, indent=1))
    folder = os.environ.get("RT_SALIENCY_SOAK_REPORT")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        Path(folder, f"{name}.json").write_text(json.dumps(report, indent=1) + "\n")


def _cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor()


def _packets(path: Path) -> int:
    out = subprocess.run(["ffprobe", "-v", "error", "-count_packets", "-select_streams", "v:0",
                          "-show_entries", "stream=nb_read_packets", "-of", "csv=p=0", str(path)],
                         capture_output=True, text=True, timeout=600, check=True).stdout
    return int(out.strip().split(",")[0])


def _check_outputs(stats: Path, maps: Path, video: Path | None) -> dict[str, Any]:
    snap = json.loads(stats.read_text())
    assert snap["maps_out"] + snap["dropped"] == snap["frames_in"] > 0, snap
    frames = [r["frame"] for r in read_ndjson(maps)]
    assert frames == list(range(snap["frames_in"]))
    checked = {"frames_in": snap["frames_in"], "maps_out": snap["maps_out"],
               "dropped": snap["dropped"], "ndjson_records": len(frames),
               "reconnects": snap["reconnects"], "wall_s": snap["wall_s"],
               "service_latency_ms": snap["service_latency"]}
    if video is not None:
        checked["mp4_packets"] = _packets(video)
        assert checked["mp4_packets"] == snap["maps_out"]
    return checked


def _assert_flat(summary: dict[str, Any]) -> None:
    rss = summary["rss_mb"]
    assert rss["max"] - rss["min"] < RSS_FLAT_MB, rss
    assert summary["threads"]["max"] - summary["threads"]["min"] <= 2, summary["threads"]
    assert summary["fds"]["max"] - summary["fds"]["min"] <= 4, summary["fds"]


@pytest.mark.slow
@pytest.mark.timeout(SOAK_S + 600)
def test_soak_a_live_camera_for_thirty_minutes(tmp_path: Path) -> None:
    maps, stats, video = tmp_path / "maps.ndjson", tmp_path / "stats.json", tmp_path / "soak.mp4"
    source = "synth://640x360?frames=0&live=1&fps=30"
    daemon = DaemonProcess(["-i", source, "-o", str(video), "--qp-out", str(maps),
                     "--stats", str(stats)], tmp_path / "stderr.log")
    daemon.wait_serving()
    end = daemon.started + SOAK_S
    while time.monotonic() < end:
        time.sleep(min(10.0, max(end - time.monotonic(), 0.0)))
        if daemon.sample() is None:
            pytest.fail(f"daemon ended early: {daemon.stop()[1]}")
    code, err = daemon.stop()
    assert code == 0, err
    summary = _summary(daemon.samples, WARMUP_S)
    report = {"soak": "live synthetic camera 640x360@30, -o MP4 + NDJSON, shipped model",
              "duration_s": SOAK_S, "exit": code, "outputs": _check_outputs(stats, maps, video),
              "summary": summary}
    _report("live-synthetic", report, daemon.samples)
    _assert_flat(summary)


@pytest.mark.slow
@pytest.mark.rtsp
@pytest.mark.skipif(not gst_available(), reason="GstRtspServer (Debian) not installed")
@pytest.mark.timeout(900)
def test_soak_the_daemon_through_ten_rtsp_server_restarts(tmp_path: Path) -> None:
    restarts, every = 10, 90
    maps, stats = tmp_path / "maps.ndjson", tmp_path / "stats.json"
    with RtspServer(width=320, height=240, fps=30) as server:
        daemon = DaemonProcess(["-i", server.url, "--reconnect-timeout", "30", "--read-timeout", "3",
                         "--qp-out", str(maps), "--stats", str(stats)], tmp_path / "stderr.log")
        daemon.wait_serving()
        at_kill: list[dict[str, Any]] = []

        def wait_for(cond: Any, what: str, timeout: float = 90.0) -> Sample:
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                sample = daemon.sample()
                if sample is None:
                    pytest.fail(f"daemon ended while waiting for {what}: {daemon.stop()[1]}")
                if cond(sample):
                    return sample
                time.sleep(0.2)
            pytest.fail(f"timed out waiting for {what}: {daemon.stop()[1]}")

        for i in range(restarts):
            start = daemon.samples[-1].frames_in
            sample = wait_for(lambda s, start=start: s.frames_in >= start + every,
                              f"{every} frames before kill {i + 1}")
            at_kill.append({"kill": i + 1, **asdict(sample)})
            server.kill()
            time.sleep(0.5)
            server.start()
            wait_for(lambda s, i=i: s.reconnects > i, f"reconnect {i + 1}")
        start = daemon.samples[-1].frames_in
        wait_for(lambda s: s.frames_in >= start + every, "frames after the last restart")
        code, err = daemon.stop()
    assert code == 0, err
    outputs = _check_outputs(stats, maps, None)
    assert outputs["reconnects"] == restarts
    rss_at_kill = [row["rss_mb"] for row in at_kill]
    report = {"soak": "RTSP server (GStreamer, 320x240@30) SIGKILLed and restarted under the "
                      "daemon, NDJSON maps, shipped model",
              "restarts": restarts, "exit": code, "outputs": outputs,
              "rss_mb_at_each_kill": rss_at_kill, "at_kill": at_kill,
              "summary": _summary(daemon.samples, daemon.samples[0].t)}
    _report("rtsp-restarts", report, daemon.samples)
    # flat from the 3rd restart on (caches warm)
    assert max(rss_at_kill[2:]) - min(rss_at_kill[2:]) < RSS_FLAT_MB, rss_at_kill
