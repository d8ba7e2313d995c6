"""Black-box-free sandbagging detectors that act on the model: weight-noise injection (and, later,
elicitation by fine-tuning)."""

from interp.sandbag.noise import NoiseSweep, noise_sweep, weight_noise

__all__ = ["NoiseSweep", "noise_sweep", "weight_noise"]
