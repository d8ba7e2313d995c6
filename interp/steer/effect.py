"""How much a steer changed what the model predicted: the check that a steer was not a silent no-op.

Teacher-forced on the steered continuation (prompt, then the generated tokens, with the same prompt /
generated split steering uses in generation), the model's next-token distributions with and without
the steers are compared at every generated position: KL(steered || unsteered) in nats, and how often
the greedy choice differs.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import torch

from interp.models.model import Model
from interp.models.tokens import Prompt, encode
from interp.steer.steering import Steer, steering


@dataclass(frozen=True)
class SteerEffect:
    kl_first: float  # KL of the first generated token's distribution, nats
    kl_mean: float  # mean KL over the generated positions, nats per token
    n_positions: int
    argmax_changed: int  # positions where the steered greedy choice differs from the unsteered

    def describe(self) -> str:
        if self.kl_mean < 1e-6:
            return (
                "the steer did not change the next-token distributions (KL < 1e-6): "
                "raise --alpha, or check --layers, --steer-positions and --phase"
            )
        return (
            f"the steer moved the next-token distribution by KL {self.kl_first:.3g} nats at the "
            f"first generated token ({self.kl_mean:.3g} per token over {self.n_positions}); the "
            f"greedy choice changed at {self.argmax_changed} of {self.n_positions} positions"
        )

    def as_json(self) -> dict[str, float | int]:
        return {
            "kl_first": self.kl_first,
            "kl_mean": self.kl_mean,
            "n_positions": self.n_positions,
            "argmax_changed": self.argmax_changed,
        }


@torch.no_grad()
def steer_effect(
    model: Model, prompt: Prompt, generated: Sequence[int], steers: Steer | Iterable[Steer]
) -> SteerEffect:
    """KL(steered || unsteered) along `prompt` + `generated` (the steered continuation's tokens).

    >>> import interp
    >>> model = interp.load_model("organism:add-small")
    >>> ds = interp.extract_directions(model, ["Show steps.\\nQ:1+2=?\\nA:"], ["Q:1+2=?\\nA:"])
    >>> steers = interp.steers_from_directions(ds, "add", 8.0, positions="all", phase="both")
    >>> with interp.steering(model, steers):
    ...     out = interp.generate(model, "Q:1+2=?\\nA:", max_new_tokens=8)[0]
    >>> effect = interp.steer_effect(model, "Q:1+2=?\\nA:", out.token_ids, steers)
    >>> effect.kl_mean > 0, effect.argmax_changed <= effect.n_positions
    (True, True)
    """
    steers = [steers] if isinstance(steers, Steer) else list(steers)
    prompt_ids = encode(model.tokenizer, prompt).ids
    ids = torch.tensor([prompt_ids + list(generated)])
    width = len(prompt_ids)
    # Logits at position t predict token t + 1: the prompt's last position predicts the first
    # generated token; the last generated token predicts nothing we compare.
    predicting = slice(width - 1, width - 1 + max(1, len(generated)))
    clean = model.forward(ids, prompt_width=width)[0, predicting].float()
    with steering(model, steers):
        steered = model.forward(ids, prompt_width=width)[0, predicting].float()
    log_p, log_q = steered.log_softmax(-1), clean.log_softmax(-1)
    kl = (log_p.exp() * (log_p - log_q)).sum(-1).clamp(min=0)
    changed = int((steered.argmax(-1) != clean.argmax(-1)).sum())
    return SteerEffect(float(kl[0]), float(kl.mean()), int(kl.numel()), changed)
