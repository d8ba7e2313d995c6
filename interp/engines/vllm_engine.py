"""`VLLMEngine`: generation, steering and capture on vLLM, with interp's results.

    with VLLMEngine("SmolLM2-135M-Instruct.Q4_1.gguf") as engine:
        plain = engine.generate(prompts, max_new_tokens=32)
        steered = engine.generate(prompts, 32, steers=[[steer_a], [steer_b], None, ...])

Prompts are tokenized here exactly as `interp.generate` tokenizes them (chat templates included) and
handed to vLLM as token ids; stops are the same tokens; the results are `Generation`s. Steers are
`interp.steer.Steer`s, one list for every prompt or one per prompt, applied inside the engine's
forward by `interp.engines.vllm_hooks`. Prefix caching is off (a cached prompt computed under one
request's steer would be reused by another's) and so is chunked prefill, so every prompt token is
computed once, in one pass, by its own request.

vLLM starts a child process: create the engine from a script's `if __name__ == "__main__":` block or
a command, not at import time of a module a child would import again.
"""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from interp.engines.availability import require_vllm
from interp.engines.model_source import (
    check_head_size,
    check_vllm_runs,
    engine_model_dir,
    position_limit,
)
from interp.engines.payload import steer_to_payload
from interp.engines.processes import reap_new_children, running_children
from interp.engines.vllm_hooks import CAPTURE_KEY, STEER_KEY, stream_point
from interp.engines.vllm_worker import EXTENSION
from interp.errors import InterpError
from interp.models.generate import Generation, _cut_at_stop
from interp.models.tokens import Chat, Prompt, encode
from interp.steer.steering import Steer

SteerPlan = Sequence[Steer] | Sequence[Sequence[Steer] | None] | None


@dataclass(frozen=True)
class EngineCapture:
    """Residual-stream rows captured in the engine, one row per prompt and hook name."""

    last: dict[str, Tensor]  # (prompts, d_model): the last prompt token
    response_mean: dict[str, Tensor]  # (prompts, d_model): mean over fed generated tokens
    response_count: dict[str, Tensor]  # (prompts,): how many tokens each mean is over


class VLLMEngine:
    """A vLLM engine over one model, with interp's steering and capture in its workers."""

    def __init__(
        self,
        spec: str | Path,
        *,
        dtype: str = "float32",
        max_model_len: int = 2048,  # lowered to the model's own limit where that is shorter
        kv_cache_gib: int = 2,
        max_num_seqs: int = 256,
        seed: int = 0,
    ) -> None:
        require_vllm()
        os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", str(int(kv_cache_gib)))  # whole GiB
        os.environ.setdefault("VLLM_LOGGING_LEVEL", "ERROR")
        os.environ.setdefault("VLLM_NO_USAGE_STATS", "1")
        from transformers import AutoTokenizer
        from vllm import LLM, ModelRegistry

        self.spec = str(spec)
        self.model_dir = engine_model_dir(spec)
        check_vllm_runs(self.model_dir, set(ModelRegistry.get_supported_archs()))
        _check_attention_kernels(self.model_dir)
        self.tokenizer = AutoTokenizer.from_pretrained(str(self.model_dir))
        before = running_children()
        threads = torch.get_num_threads()  # vLLM sets this process's torch to one thread
        try:
            self.llm = LLM(
                model=str(self.model_dir),
                tokenizer=str(self.model_dir),
                dtype=dtype,
                enforce_eager=True,  # hooks run in Python: no graph capture, no torch.compile
                max_model_len=min(max_model_len, position_limit(self.model_dir)),
                max_num_seqs=max_num_seqs,
                max_num_batched_tokens=max(8192, max_model_len),
                enable_prefix_caching=False,
                enable_chunked_prefill=False,
                worker_extension_cls=EXTENSION,
                seed=seed,
            )
            shapes = self.llm.collective_rpc("interp_install")
        except Exception as err:  # vLLM raises many types; all mean the engine is not running
            reap_new_children(before)
            raise InterpError(
                f"the vLLM engine did not start for {spec}: {_first_line(err)}",
                fix="see vLLM's log above; --engine hf runs the model without vLLM",
            ) from None
        finally:
            torch.set_num_threads(threads)
        self.n_layers = int(shapes[0]["n_layers"])
        self.d_model = int(shapes[0]["d_model"])
        self._children = before
        self.stops = _stop_ids(self.tokenizer, self.llm)

    # ---- generation --------------------------------------------------------------------------
    def generate(
        self,
        prompts: Prompt | Sequence[Prompt],
        max_new_tokens: int = 50,
        *,
        steers: SteerPlan = None,
        greedy: bool = True,
        temperature: float = 1.0,
        seed: int | None = None,
        stop_at_eos: bool = True,
        progress: bool = False,
    ) -> list[Generation]:
        """Continue each prompt, as `interp.generate` does; `steers` is one list of steers for
        every prompt or one list (or None) per prompt."""
        generations, _ = self._run(
            prompts, max_new_tokens, steers, [], greedy, temperature, seed, stop_at_eos, progress
        )
        return generations

    def generate_with_capture(
        self,
        prompts: Prompt | Sequence[Prompt],
        hooks: Sequence[str],
        max_new_tokens: int = 50,
        *,
        steers: SteerPlan = None,
        greedy: bool = True,
        temperature: float = 1.0,
        seed: int | None = None,
        stop_at_eos: bool = True,
        progress: bool = False,
    ) -> tuple[list[Generation], EngineCapture]:
        """`generate`, also reading the residual stream at `hooks` (resid_pre / resid_post) for
        each prompt's last token and the mean of its generated tokens (after any steer there)."""
        if not hooks:
            raise InterpError(
                "no hook points to capture", fix="name e.g. blocks.10.hook_resid_post"
            )
        names = [stream_point(h, self.n_layers)[1] for h in hooks]
        return self._run(
            prompts, max_new_tokens, steers, names, greedy, temperature, seed, stop_at_eos, progress
        )

    def load_weights(self, named: Iterable[tuple[str, Tensor]]) -> int:
        """Replace weights of the served model by these tensors (Hugging Face names, e.g. a
        perturbed model's `state_dict().items()`); the engine's own loader fuses and shards them.
        They travel through a safetensors file (no pickle) in `engine_weights_dir()`, which every
        worker must be able to read (shared storage on a multi-node cluster). Returns how many
        tensors each worker read."""
        from safetensors.torch import save_file

        if self.llm is None:
            raise InterpError("the vLLM engine is closed", fix="start a new VLLMEngine")
        tensors: dict[str, Tensor] = {}
        seen: set[int] = set()
        for name, tensor in named:
            if tensor.data_ptr() in seen:  # tied weights: the engine ties them itself
                continue
            seen.add(tensor.data_ptr())
            tensors[name] = tensor.detach().to("cpu").contiguous()
        if not tensors:
            raise InterpError("no weights to load", fix="pass named tensors")
        folder = engine_weights_dir()
        folder.mkdir(parents=True, exist_ok=True)
        handle, path = tempfile.mkstemp(suffix=".safetensors", dir=folder)
        os.close(handle)
        try:
            save_file(tensors, path)
            counts = self.llm.collective_rpc("interp_load_weights", args=(path,))
        finally:
            Path(path).unlink(missing_ok=True)
        return int(counts[0])

    def close(self) -> None:
        """Stop the engine and its processes."""
        llm = getattr(self, "llm", None)
        if llm is None:
            return
        self.llm = None
        try:
            llm.llm_engine.engine_core.shutdown()
        finally:
            reap_new_children(self._children)

    def __enter__(self) -> VLLMEngine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- internals ---------------------------------------------------------------------------
    def _run(
        self, prompts, max_new_tokens, steers, hooks, greedy, temperature, seed, stop, progress
    ):
        from vllm import SamplingParams

        if self.llm is None:
            raise InterpError("the vLLM engine is closed", fix="start a new VLLMEngine")
        if isinstance(prompts, str | Chat):
            prompts = [prompts]
        prompts = list(prompts)
        if max_new_tokens < 1:
            raise InterpError(f"max_new_tokens is {max_new_tokens}", fix="use 1 or more")
        if not greedy and temperature <= 0:
            raise InterpError(
                f"temperature {temperature} must be positive when sampling", fix="use e.g. 1.0"
            )
        keys, table = self._steer_table(steers, len(prompts))
        ids = [encode(self.tokenizer, p).ids for p in prompts]
        params = []
        for i, key in enumerate(keys):
            extra: dict[str, Any] = {}
            if key is not None:
                extra[STEER_KEY] = key
            if hooks:
                extra[CAPTURE_KEY] = f"p{i}"
            params.append(
                SamplingParams(
                    max_tokens=max_new_tokens,
                    temperature=0.0 if greedy else temperature,
                    seed=None if greedy or seed is None else seed + i,
                    ignore_eos=True,  # our stops below, the same as the hf path's
                    stop_token_ids=sorted(self.stops) if stop else None,
                    detokenize=False,
                    extra_args=extra or None,
                )
            )
        self.llm.collective_rpc("interp_set_steers", args=(table,))
        self.llm.collective_rpc("interp_set_capture", args=(list(hooks),))
        try:
            outputs = self.llm.generate(
                [{"prompt_token_ids": row} for row in ids], params, use_tqdm=progress
            )
            taken = self.llm.collective_rpc("interp_take_captures") if hooks else []
        finally:
            self.llm.collective_rpc("interp_set_steers", args=({},))
            self.llm.collective_rpc("interp_set_capture", args=([],))
        results = []
        for prompt, output in zip(prompts, outputs, strict=True):
            tokens = _cut_at_stop(list(output.outputs[0].token_ids), self.stops if stop else set())
            text = str(self.tokenizer.decode(tokens, skip_special_tokens=True))
            results.append(Generation(prompt, text, tokens))
        capture = _engine_capture(taken, hooks, len(prompts), self.d_model) if hooks else None
        return results, capture

    def _steer_table(self, steers: SteerPlan, n: int) -> tuple[list[str | None], dict]:
        """A key per prompt and the steer sets by key (each distinct list sent once)."""
        if not steers:
            return [None] * n, {}
        plan: list[Sequence[Steer] | None]
        if all(isinstance(s, Steer) for s in steers):
            plan = [steers] * n  # type: ignore[list-item]
        else:
            plan = list(steers)  # type: ignore[arg-type]
            if len(plan) != n:
                raise InterpError(
                    f"{len(plan)} steer lists for {n} prompts",
                    fix="give one list (or None) per prompt, or one list for all",
                )
        keys: list[str | None] = []
        table: dict[str, list[dict]] = {}
        seen: dict[int, str] = {}
        for entry in plan:
            if not entry:
                keys.append(None)
                continue
            key = seen.setdefault(id(entry), f"s{len(seen)}")
            if key not in table:
                table[key] = [self._checked(s) for s in entry]
            keys.append(key)
        return keys, table

    def _checked(self, steer: Steer) -> dict:
        if not isinstance(steer, Steer):
            raise InterpError(
                f"a steer list holds a {type(steer).__name__}", fix="pass interp.Steer objects"
            )
        if steer.vectors.shape[-1] != self.d_model:
            raise InterpError(
                f"a steering direction at {steer.hook} has width {steer.vectors.shape[-1]} but the model's is {self.d_model}",
                fix="use directions extracted from (or aligned to) this model",
            )
        stream_point(steer.hook, self.n_layers)
        return steer_to_payload(steer)


def _engine_capture(taken: list[dict], hooks: list[str], n: int, d_model: int) -> EngineCapture:
    """Per-prompt rows from every worker's captures: pipeline ranks hold different layers, and
    tensor-parallel ranks each the whole stream (the first one read is kept)."""
    last = {h: torch.full((n, d_model), float("nan")) for h in hooks}
    sums = {h: torch.zeros(n, d_model, dtype=torch.float64) for h in hooks}
    counts = {h: torch.zeros(n, dtype=torch.long) for h in hooks}
    seen: set[tuple[str, str, str]] = set()
    for worker in taken:
        for key, capture in worker.items():
            i = int(key[1:])
            for h, row in capture["last"].items():
                if ("last", key, h) not in seen:
                    seen.add(("last", key, h))
                    last[h][i] = torch.tensor(row)
            for h, row in capture["sums"].items():
                if ("sums", key, h) not in seen:
                    seen.add(("sums", key, h))
                    sums[h][i] = torch.tensor(row, dtype=torch.float64)
                    counts[h][i] = int(capture["counts"][h])
    means = {h: (sums[h] / counts[h].clamp(min=1)[:, None]).to(torch.float32) for h in hooks}
    return EngineCapture(last, means, counts)


def _check_attention_kernels(model_dir: Path) -> None:
    from vllm.platforms import current_platform

    if current_platform.is_cpu():
        from vllm.v1.attention.backends.cpu_attn import CPUAttentionBackend

        check_head_size(model_dir, CPUAttentionBackend.get_supported_head_sizes(), "CPU")


def engine_weights_dir() -> Path:
    """Where weights handed to a running engine are written for its workers to read: memory-backed
    /dev/shm where there is one, else beside the converted models."""
    root = os.environ.get("INTERP_ENGINE_WEIGHTS")
    if root:
        return Path(root)
    shm = Path("/dev/shm")
    if shm.is_dir() and os.access(shm, os.W_OK):
        return shm / "interp-engine"
    from interp.engines.model_source import engine_cache_dir

    return engine_cache_dir() / "weights"


def _stop_ids(tokenizer, llm) -> set[int]:
    """The hf path's stops (`interp.models.generate`): end of text, BOS, the config's EOS."""
    config = llm.llm_engine.model_config.hf_config
    ids = {tokenizer.eos_token_id, tokenizer.bos_token_id, getattr(config, "eos_token_id", None)}
    return {i for i in ids if isinstance(i, int)}


def _first_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return text[0] if text else type(err).__name__


if (
    __name__ == "__main__"
):  # pragma: no cover - a smoke run: python -m interp.engines.vllm_engine MODEL
    with VLLMEngine(sys.argv[1]) as engine:
        print(engine.generate(["The capital of France is"], 16)[0].text)
