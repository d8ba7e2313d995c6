"""ProbeBank: probes stacked once, scoring exactly as score_many does on a list of the same probes."""

from __future__ import annotations

import pytest
import torch

from interp.errors import InterpError
from interp.probes import ProbeBank
from interp.probes.logistic import Standardizer
from interp.probes.probe import LinearProbe
from interp.probes.scoring import score_many, stack_probes

D = 24


def random_probes(k: int, d: int = D, seed: int = 0) -> list[LinearProbe]:
    """k probes with random weights, biases and standardizers (so folding matters)."""
    gen = torch.Generator().manual_seed(seed)
    return [
        LinearProbe(
            torch.randn(d, generator=gen, dtype=torch.float64),
            Standardizer(
                3 * torch.randn(d, generator=gen, dtype=torch.float64),
                torch.rand(d, generator=gen, dtype=torch.float64) + 0.5,
            ),
            bias=float(torch.randn(1, generator=gen, dtype=torch.float64)),
        )
        for _ in range(k)
    ]


def test_bank_scores_equal_score_many_on_a_list():
    probes = random_probes(7)
    bank = ProbeBank(probes)
    assert len(bank) == bank.k == 7 and bank.d_model == D and bank.probes == tuple(probes)
    V, bias = stack_probes(probes)
    assert bank.V.dtype == bank.bias.dtype == torch.float64
    assert torch.equal(bank.V, V) and torch.equal(bank.bias, bias)

    acts = torch.randn(3, 11, D, generator=torch.Generator().manual_seed(1))  # any leading shape
    wide = acts.double()
    exact = bank.score(wide)
    assert exact.shape == (3, 11, 7) and exact.dtype == torch.float64
    assert torch.equal(exact, score_many(wide, probes))  # the same float64 path, bit for bit
    assert torch.equal(score_many(wide, bank), exact)  # score_many takes a bank as well
    assert torch.allclose(exact, wide @ V + bias, atol=1e-12, rtol=0)

    single = bank.score(acts)
    assert single.shape == (3, 11, 7) and single.dtype == torch.float32
    assert torch.allclose(single, score_many(acts, probes), atol=1e-5, rtol=0)
    assert torch.allclose(single.double(), exact, atol=1e-4, rtol=1e-5)
    assert bank.score(acts.bfloat16()).dtype == torch.float32


def test_bank_keeps_its_device_copies():
    bank = ProbeBank(random_probes(3))
    V32, b32 = bank.weights("cpu")
    assert V32.dtype == b32.dtype == torch.float32 and V32.shape == (D, 3)
    again = bank.weights(torch.device("cpu"))
    assert again[0] is V32 and again[1] is b32  # made once, then reused
    with torch.inference_mode():
        fresh = ProbeBank(random_probes(3))
        fresh.score(torch.zeros(2, D))
    # Copies made under inference_mode still serve a scoring with autograd on.
    acts = torch.randn(2, D, requires_grad=True)
    fresh.score(acts).sum().backward()
    assert acts.grad is not None and acts.grad.shape == (2, D)


def test_bank_of_one_equals_score_tokens():
    (probe,) = random_probes(1, seed=3)
    bank = ProbeBank([probe])
    acts = torch.randn(4, 9, D, generator=torch.Generator().manual_seed(2))
    assert torch.equal(bank.score(acts)[..., 0], probe.score_tokens(acts))
    assert torch.equal(bank.score(acts.double())[..., 0], probe.score_tokens(acts.double()))


def test_bank_refuses_mixed_widths_and_no_probes():
    probes = random_probes(2) + random_probes(1, d=D + 1)
    with pytest.raises(InterpError, match="different widths"):
        ProbeBank(probes)
    with pytest.raises(InterpError, match="different widths"):
        score_many(torch.zeros(2, D), probes)
    with pytest.raises(InterpError, match="no probes"):
        ProbeBank([])
    with pytest.raises(InterpError, match="no probes"):
        score_many(torch.zeros(2, D), [])


def test_bank_refuses_activations_of_another_width():
    bank = ProbeBank(random_probes(2))
    with pytest.raises(InterpError, match=f"expects d_model {D}"):
        bank.score(torch.zeros(5, D + 3))
    with pytest.raises(InterpError, match=f"expects d_model {D}"):
        score_many(torch.zeros(5, D + 3), bank)
