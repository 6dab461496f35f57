"""Saliency-guided H.264: the libx264 extension wrapper, muxing, and rate-quality comparison.

Heavy imports (PyAV, OpenCV, matplotlib) happen inside the functions that need them.
"""

from rt_saliency.encode.mux import Muxer, guess_format
from rt_saliency.encode.x264 import Packet, X264Config, X264Encoder

__all__ = ["Muxer", "Packet", "X264Config", "X264Encoder", "guess_format"]
