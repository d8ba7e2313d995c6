"""Methods vLLM mixes into each of its workers (`worker_extension_cls`), called by name through
`LLM.collective_rpc`: arguments and results are plain data (msgpack, no pickle), so the same calls
reach a worker in this process, in a child process, or on another node of a Ray cluster.
"""

from __future__ import annotations

from typing import Any

from interp.engines.payload import steer_from_payload
from interp.engines.vllm_hooks import EngineInterventions

EXTENSION = "interp.engines.vllm_worker.InterpWorkerExtension"


class InterpWorkerExtension:
    """Steering and capture in this worker's model (see `interp.engines.vllm_hooks`)."""

    model_runner: Any  # set by vLLM's worker

    def _interp(self) -> EngineInterventions:
        state = getattr(self, "_interp_state", None)
        if state is None:
            state = EngineInterventions(self.model_runner)
            self._interp_state = state
        return state

    def interp_install(self) -> dict[str, int]:
        """Put the hooks on the model; returns its shape as this worker sees it."""
        state = self._interp()
        return {"n_layers": state.n_layers, "d_model": state.d_model}

    def interp_set_steers(self, table: dict[str, list[dict[str, Any]]]) -> None:
        """Steer sets by key; a request carries its key in its sampling parameters."""
        self._interp().set_steers(
            {key: [steer_from_payload(p) for p in payloads] for key, payloads in table.items()}
        )

    def interp_set_capture(self, hooks: list[str]) -> None:
        self._interp().set_capture(hooks)

    def interp_take_captures(self) -> dict[str, dict]:
        return self._interp().take_captures()

    def interp_load_weights(self, path: str) -> int:
        """Load the tensors of the safetensors file `path` (Hugging Face names) into this worker's
        model in place, through vLLM's reload: the model's loader fuses and shards them as at
        start-up and the kernels' own formats (the CPU's packed GEMM weights) are made again.
        Returns how many tensors were read."""
        from safetensors.torch import load_file

        weights = load_file(path)
        self.model_runner.reload_weights(weights_iterator=iter(weights.items()))
        _repack_kept_cpu_weights(self.model_runner.get_model())
        return len(weights)


def _repack_kept_cpu_weights(model: Any) -> None:
    """On the CPU, vLLM multiplies by a packed copy of each weight made after loading. Its reload
    packs again the layers whose weights it freed, but not those that keep theirs (the vocabulary
    embedding and a tied output head), whose copies would still hold the old values."""
    from vllm.platforms import current_platform

    if not current_platform.is_cpu():
        return
    from vllm.model_executor.layers.utils import dispatch_cpu_unquantized_gemm

    for module in model.modules():
        weight = getattr(module, "weight", None)
        if hasattr(module, "cpu_linear") and weight is not None and weight.ndim == 2:
            if weight.numel() and not weight.is_meta:
                dispatch_cpu_unquantized_gemm(module, remove_weight=False)
