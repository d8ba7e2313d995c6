"""The old path of `interp.detectors.noise`; see `interp/sandbag/__init__.py`."""

from interp.detectors.noise import MAX_EXTRA_LEVELS

__all__ = ["MAX_EXTRA_LEVELS"]
