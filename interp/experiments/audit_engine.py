"""Where the audit's models answer: on their Hugging Face modules, or on vLLM (`"engine": "vllm"`).

Every greedy answer the audit grades comes from an `Answerer`: the reference's answers and control
answers, the probe model's contrast transcripts, the benign models' and each suspect's answers, and
the answers scored under weight noise and after fine-tuning. On the vLLM engine the weights still
change on the Hugging Face model (same seeds, same optimizer, same restore); before a scoring under
changed weights they are loaded into the engine, and before the next clean scoring the restored ones
are. What reads activations stays on hf: the probe's reading of transcripts, the noise sweep's drift
measure, and the latent attack with its scorings.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from interp.experiments.audit_config import AuditConfig
from interp.models.generate import generate
from interp.models.model import Model

if TYPE_CHECKING:
    from interp.engines.vllm_engine import VLLMEngine


class Answerer:
    """Greedy continuations of one model, on hf (`engine` None) or on its vLLM engine."""

    def __init__(self, model: Model, engine: VLLMEngine | None = None) -> None:
        self.model = model
        self.engine = engine
        self._engine_weights_changed = False  # the engine holds weights other than the model's

    def respond(
        self, prompts: list[str], max_new_tokens: int, batch_size: int, changed: bool = False
    ) -> list[str]:
        """Continue each prompt. `changed`: the model's weights differ from those it was loaded
        with (noise, fine-tuning), so the engine takes them first."""
        if self.engine is None:
            outs = generate(self.model, prompts, max_new_tokens, batch_size=batch_size)
            return [o.text for o in outs]
        if changed or self._engine_weights_changed:
            self.engine.load_weights(self.model.hf.state_dict().items())
            self._engine_weights_changed = changed
        return [o.text for o in self.engine.generate(prompts, max_new_tokens)]


def as_answerer(who: Model | Answerer) -> Answerer:
    return who if isinstance(who, Answerer) else Answerer(who)


def require_engine(config: AuditConfig) -> None:
    """A missing vLLM is said in one line before any model is loaded."""
    if config.engine == "vllm":
        from interp.engines.availability import require_vllm

        require_vllm()


@contextmanager
def answerer(config: AuditConfig, spec: str, model: Model) -> Iterator[Answerer]:
    """`model` (loaded from `spec`) as an `Answerer` on the configured engine, for the block's
    duration: a vLLM engine over `spec` starts here and stops on leaving."""
    if config.engine != "vllm":
        yield Answerer(model)
        return
    from interp.engines.vllm_engine import VLLMEngine

    with VLLMEngine(
        spec, dtype=config.dtype or "float32", seed=config.seed, kv_cache_gib=1
    ) as engine:
        yield Answerer(model, engine)
