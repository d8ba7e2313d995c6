"""Black-box-free sandbagging detectors that act on the model: weight-noise injection and elicitation
by fine-tuning on a few demonstrations."""

from interp.detectors.elicit import Elicitation, elicit
from interp.detectors.noise import NoiseSweep, noise_sweep, save_weights, weight_noise

__all__ = ["Elicitation", "NoiseSweep", "elicit", "noise_sweep", "save_weights", "weight_noise"]
