"""The old name of `interp.detectors`, kept while the audit modules still import from it.

Remove it (and `interp/sandbag/noise.py`) once `interp.experiments.audit*` import `interp.detectors`.
"""

from interp.detectors import elicit, noise_sweep

__all__ = ["elicit", "noise_sweep"]
