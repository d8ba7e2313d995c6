"""Black-box-free sandbagging detectors that act on the model: weight-noise injection and elicitation
by fine-tuning on a few demonstrations."""

from interp.sandbag.elicit import Elicitation, elicit
from interp.sandbag.noise import NoiseSweep, noise_sweep, save_weights, weight_noise

__all__ = ["Elicitation", "NoiseSweep", "elicit", "noise_sweep", "save_weights", "weight_noise"]
