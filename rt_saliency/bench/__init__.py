"""Benchmarks: hardware floor, model cost per backend, streaming pipeline, scaling, reports.

* :mod:`~rt_saliency.bench.timing`: warmed-up timers, percentiles, peak memory, machine info;
* :mod:`~rt_saliency.bench.floor`: this machine's dense conv / GEMM rate (the floor);
* :mod:`~rt_saliency.bench.model_bench`: params, MACs and time per frame per backend;
* :mod:`~rt_saliency.bench.pipeline_bench`: the stream at 360p/720p/1080p, S and L;
* :mod:`~rt_saliency.bench.scaling`: 1, 2, 4 ... concurrent streams;
* :mod:`~rt_saliency.bench.report`: ``results.json``, ``report.md`` and PNG plots;
* :mod:`~rt_saliency.bench.suite`: the whole run (``benchmarks/run.py``).

Nothing heavy is imported here; each module imports torch / onnxruntime where it needs them.
"""
