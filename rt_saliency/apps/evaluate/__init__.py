"""Saliency evaluation against human fixations: videos (Table 2 protocol) and still images.

``protocol`` scores maps; ``clips`` runs a checkpoint over training-length clips; ``streaming``
runs a streaming predictor through the pipeline; ``stills`` scores gaze-image sets; ``report``
writes JSON and Markdown.
"""

from rt_saliency.apps.evaluate.clips import evaluate, evaluate_model
from rt_saliency.apps.evaluate.protocol import (
    BASELINE_NAME,
    METRICS,
    EvalOptions,
    centre_bias,
)
from rt_saliency.apps.evaluate.report import to_markdown, write_report
from rt_saliency.apps.evaluate.stills import (
    StillEvalOptions,
    evaluate_stills,
    stills_markdown,
    streaming_predict,
)
from rt_saliency.apps.evaluate.streaming import evaluate_predictor

__all__ = [
    "BASELINE_NAME",
    "METRICS",
    "EvalOptions",
    "StillEvalOptions",
    "centre_bias",
    "evaluate",
    "evaluate_model",
    "evaluate_predictor",
    "evaluate_stills",
    "stills_markdown",
    "streaming_predict",
    "to_markdown",
    "write_report",
]
