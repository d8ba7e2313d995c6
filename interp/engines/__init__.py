"""Inference engines other than the Hugging Face modules: vLLM, for batched generation at scale.

`interp.engines.vllm_engine.VLLMEngine` loads the model specs `interp.load_model` takes, generates
with the `Generation` results of `interp.models.generate`, and applies `interp.steer` steers and
residual-stream capture inside vLLM's forward, per request. vLLM lives in its own environment
(`make setup-vllm`); nothing here imports it until an engine starts.
"""

from __future__ import annotations

ENGINES = ("hf", "vllm")
