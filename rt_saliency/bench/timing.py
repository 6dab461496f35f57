"""Timing primitives shared by the benchmarks: a warmed-up timer, percentile summaries, thread
settings and a peak-memory probe.

Every benchmark times the same way (warm-up first, then ``perf_counter`` per call, or CUDA events
on a GPU), so the numbers in one report can be compared with each other.
"""

from __future__ import annotations

import contextlib
import os
import platform
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np

from rt_saliency.errors import ConfigError
from rt_saliency.optional import import_optional

#: the per-frame budget the paper reports (Table 3: 0.041 s per frame), in milliseconds
BUDGET_MS: float = 41.0


def summarize(samples_s: Sequence[float]) -> dict[str, float | int]:
    """Count, mean, p50/p95/p99, min and max of durations given in seconds, returned in ms."""
    if len(samples_s) == 0:
        return {"n": 0}
    arr = np.asarray(samples_s, dtype=np.float64) * 1e3
    p50, p95, p99 = np.percentile(arr, [50, 95, 99])
    return {
        "n": int(arr.size),
        "mean_ms": float(arr.mean()),
        "p50_ms": float(p50),
        "p95_ms": float(p95),
        "p99_ms": float(p99),
        "min_ms": float(arr.min()),
        "max_ms": float(arr.max()),
    }


def time_calls(
    fn: Callable[[], Any],
    *,
    warmup: int,
    iters: int,
    max_seconds: float | None = None,
) -> list[float]:
    """Call ``fn`` ``warmup`` times untimed, then up to ``iters`` times timed; durations in s.

    ``max_seconds`` caps the timed loop's wall time (at least one timed call always runs), so a
    slow backend cannot blow a benchmark's budget.
    """
    if warmup < 0 or iters < 1:
        raise ConfigError(f"need warmup >= 0 and iters >= 1, got {warmup} and {iters}")
    for _ in range(warmup):
        fn()
    samples: list[float] = []
    start = time.perf_counter()
    for _ in range(iters):
        t0 = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - t0)
        if max_seconds is not None and time.perf_counter() - start > max_seconds:
            break
    return samples


def time_calls_cuda(fn: Callable[[], Any], *, warmup: int, iters: int) -> list[float]:
    """Like :func:`time_calls`, timed with CUDA events around each call (GPU work included)."""
    torch = import_optional("torch")

    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    samples: list[float] = []
    for _ in range(iters):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        end.synchronize()
        samples.append(start.elapsed_time(end) / 1e3)
    return samples


@contextlib.contextmanager
def torch_threads(n: int | None) -> Iterator[None]:
    """Run the block with ``torch.set_num_threads(n)`` and restore the previous count after."""
    torch = import_optional("torch")

    if n is None:
        yield
        return
    if n < 1:
        raise ConfigError(f"threads must be >= 1, got {n}")
    previous = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def _read_status_kib(field: str) -> int | None:
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


class PeakMemory:
    """Peak resident memory of this process over a block, in MiB.

    Resets the kernel's high-water mark (``/proc/self/clear_refs`` = 5) where allowed and also
    samples ``VmRSS`` every ``interval_s`` in a thread, so the result stays meaningful where the
    reset is refused.  Use as a context manager; read :attr:`peak_mib` after the block.
    """

    def __init__(self, interval_s: float = 0.05) -> None:
        self.interval_s = interval_s
        self.peak_mib: float | None = None
        self.method = "none"
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._sampled_kib = 0
        self._reset_ok = False

    def _sample(self) -> None:
        while not self._stop.wait(self.interval_s):
            rss = _read_status_kib("VmRSS")
            if rss is not None:
                self._sampled_kib = max(self._sampled_kib, rss)

    def __enter__(self) -> PeakMemory:
        try:
            with open("/proc/self/clear_refs", "w", encoding="ascii") as fh:
                fh.write("5")
            self._reset_ok = True
        except OSError:
            self._reset_ok = False
        self._sampled_kib = _read_status_kib("VmRSS") or 0
        self._thread = threading.Thread(target=self._sample, name="bench-peakmem", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        rss = _read_status_kib("VmRSS")
        if rss is not None:
            self._sampled_kib = max(self._sampled_kib, rss)
        hwm = _read_status_kib("VmHWM") if self._reset_ok else None
        if hwm is not None:
            self.peak_mib = max(hwm, self._sampled_kib) / 1024.0
            self.method = "VmHWM after clear_refs"
        elif self._sampled_kib:
            self.peak_mib = self._sampled_kib / 1024.0
            self.method = f"VmRSS sampled every {self.interval_s * 1e3:.0f} ms"


def machine_info() -> dict[str, Any]:
    """What the numbers were measured on: CPU model, cores, load, library versions, GPU."""
    info: dict[str, Any] = {
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpu_count": os.cpu_count(),
        "cpu_model": None,
        "loadavg_at_start": None,
    }
    with contextlib.suppress(OSError):
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as fh:
            for line in fh:
                if line.startswith("model name"):
                    info["cpu_model"] = line.split(":", 1)[1].strip()
                    break
    with contextlib.suppress(OSError, AttributeError):
        info["loadavg_at_start"] = list(os.getloadavg())
    for mod in ("torch", "onnxruntime", "cv2", "numpy", "tensorrt"):
        try:
            info[f"{mod}_version"] = __import__(mod).__version__
        except Exception:  # noqa: BLE001 - absent or broken: record as missing
            info[f"{mod}_version"] = None
    try:
        torch = import_optional("torch")

        info["torch_threads"] = torch.get_num_threads()
        info["cuda"] = torch.cuda.is_available()
        info["gpu"] = torch.cuda.get_device_name(0) if info["cuda"] else None
    except Exception:  # noqa: BLE001
        info["cuda"], info["gpu"] = False, None
    return info
