"""Aggregators recover a planted direction; PCA's sign follows the contrast; bad shapes are refused."""

from __future__ import annotations

import pytest
import torch

from interp.directions.aggregators import (
    AGGREGATORS,
    class_mean_difference,
    get_aggregator,
    mean_difference,
    pca_of_differences,
)
from interp.errors import InterpError

D = 64


def cosine(a: torch.Tensor, b: torch.Tensor) -> float:
    return float(torch.nn.functional.cosine_similarity(a.double(), b.double(), dim=0))


@pytest.fixture
def planted() -> torch.Tensor:
    g = torch.Generator().manual_seed(0)
    u = torch.randn(D, generator=g)
    return u / u.norm()


def paired(
    u: torch.Tensor, n: int, seed: int, spread: float = 0.0, noise: float = 0.3
) -> tuple[torch.Tensor, torch.Tensor]:
    """Items with a shared random base; positive adds s_i * u (s_i = 3 + spread * N(0, 1))."""
    g = torch.Generator().manual_seed(seed)
    base = 5 * torch.randn(n, D, generator=g)
    strength = 3.0 + spread * torch.randn(n, 1, generator=g)
    negative = base + noise * torch.randn(n, D, generator=g)
    positive = base + strength * u + noise * torch.randn(n, D, generator=g)
    return positive, negative


def test_mean_difference_recovers_planted_direction(planted):
    pos, neg = paired(planted, n=200, seed=1)
    got = mean_difference(pos, neg)
    assert got.shape == (D,) and got.dtype == torch.float32
    assert cosine(got, planted) > 0.99
    assert got.norm() == pytest.approx(3.0, rel=0.05)  # the mean difference keeps its magnitude


def test_pca_of_differences_recovers_planted_direction(planted):
    # The per-item strength varies, so the centred differences' top component is u.
    pos, neg = paired(planted, n=200, seed=2, spread=2.0, noise=0.1)
    got = pca_of_differences(pos, neg)
    assert cosine(got, planted) > 0.99
    assert got.norm() == pytest.approx(1.0, abs=1e-5)


def test_pca_sign_agrees_with_the_mean_difference(planted):
    pos, neg = paired(planted, n=200, seed=3, spread=2.0, noise=0.1)
    forward, backward = pca_of_differences(pos, neg), pca_of_differences(neg, pos)
    assert cosine(forward, planted) > 0.99  # points from negative towards positive
    assert cosine(backward, planted) < -0.99  # swapping the sides flips it
    assert torch.dot(forward.double(), mean_difference(pos, neg).double()) > 0


def test_class_mean_difference_on_unpaired_sets_of_different_sizes(planted):
    g = torch.Generator().manual_seed(4)
    negative = torch.randn(300, D, generator=g)
    positive = torch.randn(120, D, generator=g) + 8.0 * planted
    got = class_mean_difference(positive, negative)
    assert cosine(got, planted) > 0.99


def test_registry_names_every_aggregator_and_refuses_unknown_names():
    assert set(AGGREGATORS) >= {"mean_difference", "pca_of_differences", "class_mean_difference"}
    assert get_aggregator("mean_difference") is mean_difference
    with pytest.raises(InterpError, match="unknown direction method 'probe'.*mean_difference"):
        get_aggregator("probe")


def test_results_come_back_in_float32_from_half_inputs(planted):
    pos, neg = paired(planted, n=200, seed=5)
    got = mean_difference(pos.bfloat16(), neg.bfloat16())
    assert got.dtype == torch.float32
    assert cosine(got, planted) > 0.99


@pytest.mark.parametrize("fn", [mean_difference, pca_of_differences])
def test_paired_methods_refuse_unpaired_rows(fn):
    with pytest.raises(InterpError, match="pairs rows item by item.*5 positive and 4 negative"):
        fn(torch.randn(5, D), torch.randn(4, D))


@pytest.mark.parametrize("fn", list(AGGREGATORS.values()))
def test_every_aggregator_refuses_mismatched_widths_and_bad_shapes(fn):
    with pytest.raises(InterpError, match="16 wide but negative rows are 8 wide"):
        fn(torch.randn(4, 16), torch.randn(4, 8))
    with pytest.raises(InterpError, match=r"shape \(16,\), not \(rows, d_model\)"):
        fn(torch.randn(16), torch.randn(4, 16))


def test_pca_needs_two_pairs():
    with pytest.raises(InterpError, match="at least 2 pairs"):
        pca_of_differences(torch.randn(1, D), torch.randn(1, D))


def test_probe_weights_recover_a_planted_direction():
    from interp.directions.aggregators import probe_weights

    generator = torch.Generator().manual_seed(7)
    d = 24
    planted = torch.randn(d, generator=generator)
    planted = planted / planted.norm()
    noise = lambda n: torch.randn(n, d, generator=generator)  # noqa: E731
    positive = noise(3000) + 1.5 * planted
    negative = noise(3000) - 1.5 * planted
    found = probe_weights(positive, negative)
    assert torch.nn.functional.cosine_similarity(found.double(), planted.double(), dim=0) > 0.99
