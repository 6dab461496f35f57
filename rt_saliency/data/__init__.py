"""Data sets: readers for DHF1K and the ACLNet layout, clips with flow, synthetic data, flow cache.

Layouts and formats are documented in ``docs/data.md``.  Nothing here imports torch at import
time; :class:`~rt_saliency.data.clips.ClipDataset` hands out torch tensors when indexed.
"""

from rt_saliency.data.clips import ClipDataset
from rt_saliency.data.flowcache import FlowCache, build_flow_cache
from rt_saliency.data.layout import VideoRecord, open_dataset, open_datasets
from rt_saliency.data.synth import SynthConfig, generate_synthetic

__all__ = [
    "ClipDataset",
    "FlowCache",
    "SynthConfig",
    "VideoRecord",
    "build_flow_cache",
    "generate_synthetic",
    "open_dataset",
    "open_datasets",
]
