"""Applications over the library: evaluation, rate-quality comparison, the demo, ablations,
export parity checks.  They sit above ``stream``, ``runtime`` and ``train`` and below ``cli``."""
