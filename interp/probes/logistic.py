"""L2-regularised logistic regression solved in float64, and the feature standardizer probes use.

The objective is scikit-learn's `LogisticRegression(penalty="l2", C=C)`:

    F(w, b) = 0.5 * |w|^2 + C * sum_i s_i * [softplus(z_i) - y_i * z_i],    z_i = x_i . w + b

with labels y_i in {0, 1}, sample weights s_i (default 1) and the intercept b unpenalised (held at 0
unless `fit_intercept`). F is strictly convex in w, so the minimiser is unique and is where

    grad_w F = w + C * X^T (s * (sigmoid(z) - y)) = 0    (and C * sum_i s_i (sigmoid(z_i) - y_i) = 0).

Two solvers reach it, both deterministic:
- "newton": Newton's method with the exact Hessian `I + C X^T diag(s p (1-p)) X` (Cholesky) and a
  backtracking line search; quadratic convergence, costs N * d^2 per step;
- "lbfgs": `torch.optim.LBFGS` with a strong-Wolfe line search on the objective divided by C * sum(s)
  (same minimiser, gradients of order one); costs N * d per step, for wide features.
"auto" picks Newton while N * d^2 stays under `NEWTON_BUDGET` multiply-adds.

    fit = fit_logistic_regression(X, y, C=0.1)          # fit.weight: (d,), fit.bias: 0.0
    scaler = Standardizer.fit(X_train)                  # then fit on scaler(X_train)
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Literal, NamedTuple

import torch
import torch.nn.functional as F
from jaxtyping import Float
from torch import Tensor

from interp.errors import InterpError

Solver = Literal["auto", "newton", "lbfgs"]

# Newton forms a (d+1)^2 Hessian from N rows each step; above this many multiply-adds per step the
# O(N d) L-BFGS step is the cheaper road (d = 1024 at N = 20k is right at the edge).
NEWTON_BUDGET = 2e10

# Stop when the largest gradient entry falls to this fraction of its value at w = 0.
NEWTON_TOL = 1e-10
LBFGS_TOL = 1e-7


class LogisticFit(NamedTuple):
    """The minimiser of F and how well it was reached."""

    weight: Float[Tensor, " d"]  # float64
    bias: float  # 0.0 without an intercept
    n_iter: int
    rel_grad: float  # max |grad F| at the solution / max |grad F| at w = 0


def fit_logistic_regression(
    X: Float[Tensor, "n d"],
    y: Tensor,
    C: float = 0.1,
    fit_intercept: bool = False,
    max_iter: int | None = None,
    *,
    sample_weight: Float[Tensor, " n"] | None = None,
    solver: Solver = "auto",
) -> LogisticFit:
    """Minimise `0.5 |w|^2 + C sum_i s_i logloss(y_i, x_i . w + b)` in float64.

    `max_iter` defaults to 100 Newton steps or 5000 L-BFGS iterations. A run that stops short of
    the tolerance warns (`RuntimeWarning`) and still returns its best point.

    >>> X = torch.randn(200, 3); y = (X[:, 0] > 0).long()
    >>> fit = fit_logistic_regression(X, y, C=1.0)
    >>> bool(fit.weight[0] > abs(fit.weight[1:]).max())
    True
    """
    X64, y64, s64 = _check_inputs(X, y, sample_weight, C)
    n, d = X64.shape
    if solver == "auto":
        solver = "newton" if n * (d + 1) ** 2 <= NEWTON_BUDGET else "lbfgs"
    if solver == "newton":
        theta, n_iter, rel = _newton(X64, y64, s64, C, fit_intercept, max_iter or 100)
        tol = NEWTON_TOL
    elif solver == "lbfgs":
        theta, n_iter, rel = _lbfgs(X64, y64, s64, C, fit_intercept, max_iter or 5000)
        tol = LBFGS_TOL
    else:
        raise InterpError(f"unknown solver {solver!r}", fix="use 'auto', 'newton' or 'lbfgs'")
    if rel > 100 * tol:
        warnings.warn(
            f"logistic regression ({solver}) stopped after {n_iter} iterations with relative "
            f"gradient {rel:.1e} (target {tol:.0e}); raise max_iter or lower C",
            RuntimeWarning,
            stacklevel=2,
        )
    bias = float(theta[d]) if fit_intercept else 0.0
    return LogisticFit(theta[:d].clone(), bias, n_iter, rel)


def logistic_objective(
    X: Float[Tensor, "n d"],
    y: Tensor,
    weight: Float[Tensor, " d"],
    bias: float = 0.0,
    C: float = 0.1,
    sample_weight: Float[Tensor, " n"] | None = None,
) -> Tensor:
    """F(w, b) in float64, for checks and for comparing solutions.

    >>> logistic_objective(torch.zeros(4, 2), torch.tensor([0, 1, 0, 1]), torch.zeros(2), C=1.0)
    tensor(2.7726, dtype=torch.float64)
    """
    X64, y64, s64 = _check_inputs(X, y, sample_weight, C, need_both=False)
    w = weight.to(torch.float64)
    z = X64 @ w + bias
    return 0.5 * (w @ w) + C * (s64 * (F.softplus(z) - y64 * z)).sum()


# ---- solvers ---------------------------------------------------------------------------------


def _design(X: Tensor, fit_intercept: bool) -> tuple[Tensor, Tensor]:
    """The design matrix (a column of ones appended for the intercept) and the penalty mask."""
    n, d = X.shape
    penalty = torch.ones(d + int(fit_intercept), dtype=torch.float64)
    if fit_intercept:
        X = torch.cat([X, torch.ones(n, 1, dtype=torch.float64)], dim=1)  # (N, d+1)
        penalty[-1] = 0.0  # the intercept is not shrunk (scikit-learn's lbfgs convention)
    return X, penalty


def _objective_and_grad(
    Xa: Tensor, y: Tensor, s: Tensor, C: float, penalty: Tensor, theta: Tensor
) -> tuple[Tensor, Tensor, Tensor]:
    z = Xa @ theta  # (N,)
    f = 0.5 * (penalty * theta * theta).sum() + C * (s * (F.softplus(z) - y * z)).sum()
    p = torch.sigmoid(z)
    g = penalty * theta + C * (Xa.T @ (s * (p - y)))  # (p,)
    return f, g, p


def _newton(
    X: Tensor, y: Tensor, s: Tensor, C: float, fit_intercept: bool, max_iter: int
) -> tuple[Tensor, int, float]:
    Xa, penalty = _design(X, fit_intercept)
    theta = torch.zeros(Xa.shape[1], dtype=torch.float64)
    f, g, p = _objective_and_grad(Xa, y, s, C, penalty, theta)
    g0 = float(g.abs().max())
    if g0 == 0.0:
        return theta, 0, 0.0  # w = 0 already satisfies grad F = 0
    n_iter = 0
    while n_iter < max_iter:
        n_iter += 1
        curvature = C * s * p * (1.0 - p)  # (N,) diagonal of the loss Hessian in z
        H = (Xa.T * curvature) @ Xa  # (p, p)
        H.diagonal().add_(penalty)
        # The intercept's row has no penalty; a saturated fit can make it singular, so add a hair.
        H.diagonal().add_(1e-12 * float(H.diagonal().max()))
        L, info = torch.linalg.cholesky_ex(H)
        if int(info) != 0:  # not positive definite in floating point: fall back to gradient
            step = -g / float(H.diagonal().max())
        else:
            step = torch.cholesky_solve(-g[:, None], L)[:, 0]
        slope = float(g @ step)  # < 0: a descent direction; -slope is the Newton decrement^2
        # Near the optimum the predicted decrease is below float64 resolution of F, so Armijo's
        # test is noise: take the full step (the quadratic model is exact there).
        tiny = -slope <= 1e-10 * max(1.0, abs(float(f)))
        t = 1.0
        while True:
            candidate = theta + t * step
            f_new, g_new, p_new = _objective_and_grad(Xa, y, s, C, penalty, candidate)
            if tiny or f_new <= f + 1e-4 * t * slope or t < 1e-12:
                break
            t *= 0.5
        progressed = bool(g_new.abs().max() < g.abs().max()) if tiny else bool(f_new <= f)
        if not progressed:
            break  # no progress possible at float64 precision: theta is the answer
        theta, f, g, p = candidate, f_new, g_new, p_new
        if float(g.abs().max()) <= NEWTON_TOL * g0:
            break
    return theta, n_iter, float(g.abs().max()) / g0


def _lbfgs(
    X: Tensor, y: Tensor, s: Tensor, C: float, fit_intercept: bool, max_iter: int
) -> tuple[Tensor, int, float]:
    Xa, penalty = _design(X, fit_intercept)
    scale = 1.0 / (C * float(s.sum()))  # F / (C sum s): same minimiser, gradients of order one
    theta = torch.zeros(Xa.shape[1], dtype=torch.float64)
    _, g, _ = _objective_and_grad(Xa, y, s, C, penalty, theta)
    g0 = float(g.abs().max())
    if g0 == 0.0:
        return theta, 0, 0.0
    param = theta.clone()
    grad_buffer = torch.zeros_like(param)
    param.grad = grad_buffer  # LBFGS reads .grad; the closure fills it analytically
    optimizer = torch.optim.LBFGS(
        [param],
        lr=1.0,
        max_iter=max_iter,
        max_eval=int(max_iter * 1.25),
        tolerance_grad=LBFGS_TOL * g0 * scale,
        tolerance_change=1e-16,
        history_size=20,
        line_search_fn="strong_wolfe",
    )

    def closure() -> Tensor:
        # Analytic gradient: no autograd graph over the (N, d) matrix.
        f, grad, _ = _objective_and_grad(Xa, y, s, C, penalty, param)
        grad_buffer.copy_(grad * scale)
        return f * scale

    with torch.no_grad():
        optimizer.step(closure)
    n_iter = int(optimizer.state[param].get("n_iter", 0))
    _, g, _ = _objective_and_grad(Xa, y, s, C, penalty, param)
    return param.detach(), n_iter, float(g.abs().max()) / g0


def _check_inputs(
    X: Tensor, y: Tensor, sample_weight: Tensor | None, C: float, need_both: bool = True
) -> tuple[Tensor, Tensor, Tensor]:
    if not isinstance(X, Tensor) or X.ndim != 2:
        raise InterpError(
            f"features must be a 2-D (rows, d) tensor, got "
            f"{tuple(X.shape) if isinstance(X, Tensor) else type(X).__name__}",
            fix="flatten tokens into rows",
        )
    n = X.shape[0]
    y = torch.as_tensor(y).reshape(-1)
    if y.shape[0] != n:
        raise InterpError(f"{n} feature rows but {y.shape[0]} labels", fix="give one label per row")
    X64, y64 = X.detach().to("cpu", torch.float64), y.detach().to("cpu", torch.float64)
    if not bool(((y64 == 0) | (y64 == 1)).all()):
        raise InterpError("labels must be 0 or 1", fix="encode the positive class as 1")
    if need_both and (n == 0 or bool((y64 == y64[0]).all())):
        raise InterpError(
            "logistic regression needs rows of both classes",
            fix="include labelled examples of both 0 and 1",
        )
    if not bool(torch.isfinite(X64).all()):
        raise InterpError(
            "features contain NaN or infinity", fix="drop the rows or fix the capture dtype"
        )
    if not C > 0:
        raise InterpError(
            f"C must be positive, got {C}", fix="use e.g. C=0.1 (smaller = stronger L2)"
        )
    if sample_weight is None:
        s64 = torch.ones(n, dtype=torch.float64)
    else:
        s64 = torch.as_tensor(sample_weight).detach().to("cpu", torch.float64).reshape(-1)
        if s64.shape[0] != n or bool((s64 < 0).any()) or not float(s64.sum()) > 0:
            raise InterpError(
                "sample weights must be one non-negative number per row, not all zero",
                fix="pass a (rows,) tensor of weights",
            )
    return X64, y64, s64


# ---- standardization -----------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class Standardizer:
    """Per-feature z-scoring `x' = (x - mean) / std`, fitted on training rows only.

    `std` is the population standard deviation (ddof 0, as scikit-learn's StandardScaler), floored
    at `rel_floor` times the root-mean-square std: a feature constant on the training rows then maps
    to ~0 instead of dividing by zero (its L2-penalised weight is 0 anyway).

    A linear score on standardized features is a linear score on raw ones (`fold`):

        x' . w + b = x . (w / std) + (b - mean . (w / std))

    >>> scaler = Standardizer.fit(torch.tensor([[0.0, 1.0], [2.0, 1.0]]))
    >>> scaler(torch.tensor([[2.0, 1.0]]))
    tensor([[1., 0.]], dtype=torch.float64)
    """

    mean: Float[Tensor, " d"]
    std: Float[Tensor, " d"]

    @classmethod
    def fit(cls, X: Float[Tensor, "n d"], rel_floor: float = 1e-6) -> Standardizer:
        if X.ndim != 2 or X.shape[0] == 0:
            raise InterpError(
                f"cannot standardize a {tuple(X.shape)} tensor", fix="pass (rows, d) with rows > 0"
            )
        X64 = X.detach().to("cpu", torch.float64)
        mean = X64.mean(dim=0)
        std = X64.std(dim=0, correction=0)
        rms = float(std.square().mean().sqrt())
        floor = rel_floor * rms if rms > 0 else 1.0  # all features constant: leave the scale alone
        return cls(mean, std.clamp_min(floor))

    @classmethod
    def identity(cls, d: int) -> Standardizer:
        return cls(torch.zeros(d, dtype=torch.float64), torch.ones(d, dtype=torch.float64))

    @property
    def d(self) -> int:
        return int(self.mean.shape[0])

    def __call__(self, X: Float[Tensor, "*batch d"]) -> Float[Tensor, "*batch d"]:
        return (X.to(torch.float64) - self.mean.to(X.device)) / self.std.to(X.device)

    def fold(self, weight: Float[Tensor, " d"], bias: float) -> tuple[Float[Tensor, " d"], float]:
        """Raw-space weight and bias that give the same score as (`weight`, `bias`) on x'."""
        raw = weight.to(torch.float64) / self.std
        return raw, float(bias) - float(self.mean @ raw)

    def unfold(
        self, raw: Float[Tensor, " d"], raw_bias: float
    ) -> tuple[Float[Tensor, " d"], float]:
        """Inverse of `fold`: standardized-space weight and bias for a raw-space score."""
        raw = raw.to(torch.float64)
        return raw * self.std, float(raw_bias) + float(self.mean @ raw)
