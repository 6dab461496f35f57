"""The compression report: saliency-guided encodes against plain FFmpeg at every AQ mode over a
rate ladder, on a clip (``video``) or on real human gaze (``gaze``), scored on the decoded Y
plane (PSNR, SSIM, EWPSNR, PSNR inside/outside the salient region) with BD-rates and a plot."""

from rt_saliency.apps.compare.clip import predicted_maps, read_clip, read_maps
from rt_saliency.apps.compare.gaze import compare_gaze
from rt_saliency.apps.compare.ladder import DEFAULT_CRFS, CompareConfig, Sample, run_ladder
from rt_saliency.apps.compare.report import markdown, plot
from rt_saliency.apps.compare.video import compare

__all__ = ["DEFAULT_CRFS", "CompareConfig", "Sample", "compare", "compare_gaze", "markdown",
           "plot", "predicted_maps", "read_clip", "read_maps", "run_ladder"]
