"""The encode-overhead benchmark runs end to end on a tiny input (timing itself is not tested)."""

from __future__ import annotations

import pytest

from rt_saliency.bench.encode_bench import (
    EncodeBenchConfig,
    bench_encode_overhead,
    moving_maps,
    report_markdown,
)
from rt_saliency.errors import ConfigError


def test_bench_runs_and_reports(vtest_avi, tmp_path) -> None:
    config = EncodeBenchConfig(size=(144, 256), frames=4, preset="medium", repeats=1,
                               threads=1)
    result = bench_encode_overhead(vtest_avi, config, work_dir=tmp_path)
    assert set(result["ratio_to_ffmpeg"]) == {"ours_flat", "ours_map"}
    assert all(v > 0 for v in result["bytes"].values())
    assert result["bytes"]["ours_map"] != result["bytes"]["ours_flat"]  # the map is applied
    assert "| plain ffmpeg |" in report_markdown(result)
    maps = moving_maps((9, 16), 3)
    assert maps[0].argmin() != maps[-1].argmin()
    with pytest.raises(ConfigError):
        EncodeBenchConfig(codec="vp9")
