"""Logistic regression: the optimality condition, a hand-solved 1-D case, both solvers, standardizer."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from interp.errors import InterpError
from interp.probes.logistic import Standardizer, fit_logistic_regression, logistic_objective


def _data(n: int = 400, d: int = 10, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    X = torch.randn(n, d, generator=gen, dtype=torch.float64) + 0.5
    w = torch.randn(d, generator=gen, dtype=torch.float64)
    y = (torch.rand(n, generator=gen, dtype=torch.float64) < torch.sigmoid(X @ w - 0.3)).long()
    return X, y


def _autograd_gradient(X, y, w, b, C, fit_intercept):
    """grad F written independently of the solver: autograd of 0.5|w|^2 + C sum logloss."""
    w = w.clone().requires_grad_(True)
    b = torch.tensor(b, dtype=torch.float64, requires_grad=fit_intercept)
    z = X @ w + b
    loss = 0.5 * (w * w).sum() + C * F.binary_cross_entropy_with_logits(
        z, y.double(), reduction="sum"
    )
    loss.backward()
    grads = [w.grad] + ([b.grad.reshape(1)] if fit_intercept else [])
    return torch.cat(grads)


@pytest.mark.parametrize("solver", ["newton", "lbfgs"])
@pytest.mark.parametrize("fit_intercept", [False, True])
def test_gradient_vanishes_at_the_solution(solver, fit_intercept):
    X, y = _data()
    C = 0.1
    fit = fit_logistic_regression(X, y, C=C, fit_intercept=fit_intercept, solver=solver)
    g = _autograd_gradient(X, y, fit.weight, fit.bias, C, fit_intercept)
    g0 = _autograd_gradient(X, y, torch.zeros_like(fit.weight), 0.0, C, fit_intercept)
    rel = float(g.abs().max() / g0.abs().max())
    assert rel < (1e-9 if solver == "newton" else 1e-5)
    assert fit.rel_grad == pytest.approx(rel, rel=1e-3, abs=1e-12)
    if not fit_intercept:
        assert fit.bias == 0.0


def test_solvers_agree_and_are_deterministic():
    X, y = _data(n=600, d=40, seed=1)
    newton = fit_logistic_regression(X, y, C=0.5, fit_intercept=True, solver="newton")
    lbfgs = fit_logistic_regression(X, y, C=0.5, fit_intercept=True, solver="lbfgs")
    assert torch.allclose(newton.weight, lbfgs.weight, atol=1e-5)
    assert newton.bias == pytest.approx(lbfgs.bias, abs=1e-5)
    again = fit_logistic_regression(X, y, C=0.5, fit_intercept=True, solver="newton")
    assert torch.equal(newton.weight, again.weight) and newton.bias == again.bias
    # Newton's answer is the lower objective, i.e. it is at least as close to the optimum.
    f_newton = logistic_objective(X, y, newton.weight, newton.bias, C=0.5)
    assert f_newton <= logistic_objective(X, y, lbfgs.weight, lbfgs.bias, C=0.5) + 1e-9


def test_one_dimensional_separable_case_matches_the_hand_solved_optimum():
    # x = +1 (label 1) and x = -1 (label 0), n of each, no intercept. Every row has loss
    # log(1 + e^{-w}), so F(w) = w^2/2 + 2nC log(1 + e^{-w}) and F'(w) = 0 <=> w = 2nC sigmoid(-w).
    n = 10
    X = torch.cat([torch.ones(n, 1), -torch.ones(n, 1)]).double()
    y = torch.cat([torch.ones(n), torch.zeros(n)]).long()
    previous = 0.0
    for C in (0.01, 0.1, 1.0, 10.0):
        lo, hi = 0.0, 2 * n * C  # the root lies in [0, 2nC]: bisect w - 2nC sigmoid(-w)
        for _ in range(200):
            mid = (lo + hi) / 2
            lo, hi = (mid, hi) if mid - 2 * n * C / (1 + math.exp(mid)) < 0 else (lo, mid)
        w = float(fit_logistic_regression(X, y, C=C).weight[0])
        assert w == pytest.approx(lo, rel=1e-9)
        # Separable data: a finite weight (L2 keeps it), pointing the right way, growing with C.
        assert 0 < w < float("inf") and w > previous
        previous = w
    assert previous > 3  # with weak regularisation the training rows are classified confidently


def test_uninformative_features_give_zero_weight():
    # Balanced labels on mirrored rows: w = 0 already has zero gradient.
    X = torch.tensor([[1.0, 2.0], [1.0, 2.0], [-1.0, -2.0], [-1.0, -2.0]])
    y = torch.tensor([0, 1, 0, 1])
    fit = fit_logistic_regression(X, y, C=1.0)
    assert torch.equal(fit.weight, torch.zeros(2, dtype=torch.float64))


def test_refuses_bad_inputs():
    X, y = _data(n=20, d=3)
    with pytest.raises(InterpError, match="both classes"):
        fit_logistic_regression(X, torch.ones(20, dtype=torch.long))
    with pytest.raises(InterpError, match="0 or 1"):
        fit_logistic_regression(X, y * 2)
    with pytest.raises(InterpError, match="NaN"):
        fit_logistic_regression(torch.where(X > 1, float("nan"), X), y)
    with pytest.raises(InterpError, match="labels"):
        fit_logistic_regression(X, y[:-1])
    with pytest.raises(InterpError, match="C must be positive"):
        fit_logistic_regression(X, y, C=0.0)


def test_standardizer_fold_gives_the_same_score_on_raw_features():
    gen = torch.Generator().manual_seed(3)
    X = torch.randn(50, 6, generator=gen, dtype=torch.float64) * torch.arange(1, 7) + 10
    X[:, 2] = 4.0  # a constant feature: floored std, no division by zero
    scaler = Standardizer.fit(X)
    assert torch.allclose(scaler(X).mean(0), torch.zeros(6, dtype=torch.float64), atol=1e-12)
    assert torch.allclose(scaler(X).std(0, correction=0)[[0, 1, 3, 4, 5]], torch.ones(5).double())
    assert torch.isfinite(scaler(X)).all() and scaler.std[2] > 0
    w, b = torch.randn(6, generator=gen, dtype=torch.float64), 0.7
    raw, raw_b = scaler.fold(w, b)
    assert torch.allclose(X @ raw + raw_b, scaler(X) @ w + b, atol=1e-9)
    back, back_b = scaler.unfold(raw, raw_b)
    assert torch.allclose(back, w) and back_b == pytest.approx(b)
