"""Saliency -> per-block QP offsets (negative = better quality) and map-file writers."""

from rt_saliency.qp.mapping import (
    QPConfig,
    QPMapper,
    block_activity,
    grid_shape,
    offsets_from_saliency,
    pool_blocks,
    rate_factor,
)
from rt_saliency.qp.roi_files import (
    KvazaarRoiWriter,
    SvtAv1RoiWriter,
    read_kvazaar_roi,
    read_svtav1_roi,
)
from rt_saliency.qp.writers import NdjsonWriter, NpyWriter, read_ndjson

__all__ = [
    "QPConfig", "QPMapper", "block_activity", "grid_shape", "offsets_from_saliency",
    "pool_blocks", "rate_factor",
    "KvazaarRoiWriter", "NdjsonWriter", "NpyWriter", "SvtAv1RoiWriter",
    "read_kvazaar_roi", "read_ndjson", "read_svtav1_roi",
]
