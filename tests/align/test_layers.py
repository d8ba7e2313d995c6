"""Layer matching: the UNLOCK depth rule exactly, and linear CKA's defining invariances."""

from __future__ import annotations

import math

import pytest
import torch

from interp.align.layers import cka_layer_map, depth_layer_map, linear_cka
from interp.errors import InterpError


@pytest.mark.parametrize(("n_source", "n_target"), [(5, 8), (8, 5), (4, 4), (12, 3)])
def test_depth_map_matches_the_formula_and_pins_the_ends(n_source, n_target):
    got = depth_layer_map(n_source, n_target)
    expected = [
        min(math.floor((n_source - 1) * j / (n_target - 1)), n_source - 1) for j in range(n_target)
    ]
    assert got == expected
    assert len(got) == n_target
    assert got[0] == 0 and got[-1] == n_source - 1  # first to first, last to last
    assert got == sorted(got)  # deeper target layers never read shallower source layers


def test_depth_map_known_values_and_edge_cases():
    assert depth_layer_map(4, 4) == [0, 1, 2, 3]
    assert depth_layer_map(12, 3) == [0, 5, 11]
    assert depth_layer_map(5, 8) == [0, 0, 1, 1, 2, 2, 3, 4]
    assert depth_layer_map(7, 1) == [6]  # one target layer: the formula divides by zero
    assert depth_layer_map(1, 3) == [0, 0, 0]
    # Integer arithmetic: the float formula would round 0.999... down at large depths.
    assert depth_layer_map(81, 41) == [2 * j for j in range(41)]
    with pytest.raises(InterpError, match="positive integer"):
        depth_layer_map(0, 4)


def test_cka_of_a_matrix_with_itself_is_one():
    x = torch.randn(40, 12, generator=torch.Generator().manual_seed(0))
    assert linear_cka(x, x) == pytest.approx(1.0, abs=1e-12)


@pytest.mark.parametrize("n", [30, 6])  # features form (n > d) and Gram form (n < d)
def test_cka_is_invariant_to_orthogonal_maps_and_isotropic_scaling(n):
    g = torch.Generator().manual_seed(1)
    x, y = torch.randn(n, 10, generator=g), torch.randn(n, 14, generator=g)
    q_x, _ = torch.linalg.qr(torch.randn(10, 10, generator=g, dtype=torch.float64))
    q_y, _ = torch.linalg.qr(torch.randn(14, 14, generator=g, dtype=torch.float64))
    base = linear_cka(x, y)
    assert 0.0 < base < 1.0
    assert linear_cka(x.double() @ q_x, y) == pytest.approx(base, abs=1e-10)
    assert linear_cka(x, 7.5 * y.double() @ q_y) == pytest.approx(base, abs=1e-10)
    assert linear_cka(x + 3.0, y - 1.0) == pytest.approx(base, abs=1e-6)  # centring removes offsets
    assert linear_cka(x, x.double() @ q_x * 0.1) == pytest.approx(1.0, abs=1e-10)


def test_cka_gram_and_feature_forms_agree():
    g = torch.Generator().manual_seed(2)
    x, y = torch.randn(8, 20, generator=g), torch.randn(8, 30, generator=g)
    x, y = x.double(), y.double()
    xc, yc = x - x.mean(0), y - y.mean(0)
    feature_form = (yc.T @ xc).square().sum() / ((xc.T @ xc).norm() * (yc.T @ yc).norm())
    assert linear_cka(x, y) == pytest.approx(float(feature_form), abs=1e-12)


def test_cka_layer_map_finds_the_planted_matches():
    g = torch.Generator().manual_seed(3)
    source = [torch.randn(50, 16, generator=g) for _ in range(4)]
    # Target layer j is a rotated, rescaled copy of source layer planted[j] plus a little noise.
    planted = [0, 2, 2, 3, 1]
    target = []
    for i in planted:
        q, _ = torch.linalg.qr(torch.randn(16, 24, generator=g).T)  # (24, 16) orthonormal columns
        target.append(2.0 * source[i] @ q.T + 0.05 * torch.randn(50, 24, generator=g))
    layer_map, cka = cka_layer_map(source, target)
    assert layer_map == planted
    assert cka.shape == (5, 4)
    assert all(cka[j, i] > 0.99 for j, i in enumerate(planted))


def test_cka_refuses_mismatched_items():
    with pytest.raises(InterpError, match="same items on both sides, got 5 and 6 rows"):
        linear_cka(torch.randn(5, 3), torch.randn(6, 3))
    with pytest.raises(InterpError, match="do not vary"):
        linear_cka(torch.ones(5, 3), torch.randn(5, 3))
