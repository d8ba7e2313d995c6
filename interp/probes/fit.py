"""The probe fitters: one signature, token rows in, a `LinearProbe` out.

Both take token rows, one label per prompt and each row's prompt id (`labels[prompt_index[i]]` is
row i's label; without `prompt_index` every row is its own prompt):

    probe = fit_logistic_probe(rows, labels, prompt_index, C=0.1, model=model, hook=hook)
    base = fit_mass_mean_probe(rows, labels, prompt_index, model=model, hook=hook)
"""

from __future__ import annotations

import torch
from jaxtyping import Float, Int
from torch import Tensor

from interp.errors import InterpError
from interp.probes.logistic import Solver, Standardizer, fit_logistic_regression
from interp.probes.probe import LinearProbe
from interp.store.artifacts import ModelLike, ModelRef


def fit_logistic_probe(
    acts: Float[Tensor, "rows d_model"],
    labels: Tensor,
    groups: Int[Tensor, " rows"] | None = None,
    C: float = 0.1,
    *,
    fit_intercept: bool = False,
    model: ModelLike | ModelRef | None = None,
    hook: str | None = None,
    dataset_hash: str = "",
    solver: Solver = "auto",
) -> LinearProbe:
    """Logistic regression on standardized token rows (Apollo's recipe: strong L2, no intercept).

    Standardizer fitted on `acts`; then `w = argmin 0.5 |w|^2 + C sum_rows logloss(y, x' . w)`
    (see `fit_logistic_regression`). `labels[groups[i]]` is row i's label (0 honest, 1 positive).

    >>> probe = fit_logistic_probe(rows, labels, prompt_index, C=0.1, model=model,   # doctest: +SKIP
    ...                            hook="blocks.3.hook_resid_post", dataset_hash=h)
    """
    rows, y, groups = _rows_and_labels(acts, labels, groups)
    scaler = Standardizer.fit(rows)
    fit = fit_logistic_regression(scaler(rows), y, C=C, fit_intercept=fit_intercept, solver=solver)
    return _make_probe(
        fit.weight, fit.bias, scaler, "logistic", C, rows, labels, groups, model, hook, dataset_hash
    )


def fit_mass_mean_probe(
    acts: Float[Tensor, "rows d_model"],
    labels: Tensor,
    groups: Int[Tensor, " rows"] | None = None,
    *,
    model: ModelLike | ModelRef | None = None,
    hook: str | None = None,
    dataset_hash: str = "",
) -> LinearProbe:
    """The baseline probe: the difference of class means, `w_raw = mu_1 - mu_0` over token rows.

    The bias puts the midpoint of the two class means at score 0:
    `b_raw = -w_raw . (mu_1 + mu_0) / 2`. Stored like any probe (standardized weight `w_raw * std`),
    so scoring, files and `score_many` treat both methods alike.

    >>> base = fit_mass_mean_probe(rows, labels, prompt_index, model=model, hook=hook)   # doctest: +SKIP
    """
    rows, y, groups = _rows_and_labels(acts, labels, groups)
    x = rows.detach().to("cpu", torch.float64)
    mu1, mu0 = x[y == 1].mean(dim=0), x[y == 0].mean(dim=0)
    raw = mu1 - mu0
    scaler = Standardizer.fit(x)
    weight, bias = scaler.unfold(raw, -float(raw @ (mu1 + mu0)) / 2)
    return _make_probe(
        weight, bias, scaler, "mass_mean", None, rows, labels, groups, model, hook, dataset_hash
    )


def _rows_and_labels(
    acts: Tensor, labels: Tensor, groups: Tensor | None
) -> tuple[Tensor, Tensor, Tensor]:
    """Check shapes; return rows, each row's 0/1 label, and each row's prompt id."""
    if not isinstance(acts, Tensor) or acts.ndim != 2:
        raise InterpError(
            f"probe activations must be a 2-D (rows, d_model) tensor, got "
            f"{tuple(acts.shape) if isinstance(acts, Tensor) else type(acts).__name__}",
            fix="pass token rows with their prompt ids (capture(...).activations[hook], .prompt_index)",
        )
    labels = torch.as_tensor(labels).detach().cpu().reshape(-1)
    n = acts.shape[0]
    if groups is None:
        groups = torch.arange(n)
    groups = torch.as_tensor(groups).detach().cpu().reshape(-1).long()
    if groups.shape[0] != n:
        raise InterpError(
            f"{n} activation rows but {groups.shape[0]} prompt ids",
            fix="give one prompt id per row",
        )
    if n and (int(groups.min()) < 0 or int(groups.max()) >= labels.shape[0]):
        raise InterpError(
            f"prompt ids run to {int(groups.max())} but there are {labels.shape[0]} labels",
            fix="give one label per prompt, indexed by prompt id (labels[prompt_index])",
        )
    y = labels[groups].long()
    if not bool(((y == 0) | (y == 1)).all()):
        raise InterpError("probe labels must be 0 or 1", fix="encode the positive class as 1")
    if y.unique().numel() < 2:
        raise InterpError(
            "probe training rows are all of one class", fix="include prompts labelled 0 and 1"
        )
    return acts, y, groups


def _make_probe(
    weight: Tensor,
    bias: float,
    scaler: Standardizer,
    method: str,
    C: float | None,
    rows: Tensor,
    labels: Tensor,
    groups: Tensor,
    model: ModelLike | ModelRef | None,
    hook: str | None,
    dataset_hash: str,
) -> LinearProbe:
    prompts = groups.unique()
    prompt_labels = torch.as_tensor(labels).reshape(-1)[prompts].long()
    return LinearProbe(
        weight=weight.to(torch.float64),
        standardizer=scaler,
        bias=bias,
        hook=hook,
        model=ModelRef.of(model) if model is not None else None,
        method=method,
        C=C,
        dataset_hash=dataset_hash,
        n_prompts=int(prompts.numel()),
        n_rows=int(rows.shape[0]),
        n_positive=int((prompt_labels == 1).sum()),
        n_negative=int((prompt_labels == 0).sum()),
    )
