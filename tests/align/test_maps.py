"""Alignment maps: UNLOCK against an independent numpy re-implementation of methods.md, planted
ground truth for ridge and Procrustes, held-out quality, files, and refusals of bad input."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from interp.align import (
    FITTERS,
    LayerMaps,
    LinearMap,
    depth_layer_map,
    fit_layer_maps,
    fit_procrustes,
    fit_report,
    fit_ridge,
    fit_unlock,
    get_fitter,
    mean_cosine,
    r2_score,
)
from interp.directions import DirectionSet
from interp.errors import InterpError
from interp.store.artifacts import ModelRef

SOURCE = ModelRef("organism:small", "5555aaaa", d_model=12, n_layers=5)
TARGET = ModelRef("organism:large", "8888bbbb", d_model=20, n_layers=8)


def rng(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def unlock_reference(xs: np.ndarray, xt: np.ndarray, rank: int, centre: bool) -> np.ndarray:
    """methods.md section 1 step 2, written out independently in float64 numpy."""
    xs, xt = np.array(xs, dtype=np.float64), np.array(xt, dtype=np.float64)
    if centre:
        xs, xt = xs - xs.mean(axis=0), xt - xt.mean(axis=0)
    k = min(rank, xs.shape[0])
    v_s = np.linalg.svd(xs, full_matrices=False)[2][:k]  # rows are right singular vectors
    v_t = np.linalg.svd(xt, full_matrices=False)[2][:k]
    a = xs @ v_s.T
    # pinv's cutoff, stated: singular values below max(N, k) * eps(float32) * sigma_max are dropped.
    m = np.linalg.pinv(a, rcond=max(a.shape) * np.finfo(np.float32).eps) @ (xt @ v_t.T)
    return v_s.T @ m @ v_t


# ---- UNLOCK fidelity ---------------------------------------------------------------------


@pytest.mark.parametrize("centre", [False, True])
@pytest.mark.parametrize(("n", "d_s", "d_t"), [(20, 48, 40), (90, 24, 32)])  # N < d and N > d
@pytest.mark.parametrize("rank", [1, 4, "above_n"])
def test_fit_unlock_matches_the_independent_reference(n, d_s, d_t, rank, centre):
    rank = n + 7 if rank == "above_n" else rank
    g = rng(n + d_s + int(centre))
    # Correlated, off-centre activations, like a residual stream: shared factors plus a mean.
    factors = torch.randn(n, 6, generator=g, dtype=torch.float64)
    xs = (
        factors @ torch.randn(6, d_s, generator=g, dtype=torch.float64)
        + 0.5 * torch.randn(n, d_s, generator=g, dtype=torch.float64)
        + 2.0
    )
    xt = (
        factors @ torch.randn(6, d_t, generator=g, dtype=torch.float64)
        + 0.5 * torch.randn(n, d_t, generator=g, dtype=torch.float64)
        - 1.0
    )
    got = fit_unlock(xs, xt, rank=rank, centre=centre)
    want = unlock_reference(xs.numpy(), xt.numpy(), rank, centre)
    assert got.matrix.shape == (d_s, d_t) and got.matrix.dtype == torch.float64
    scale = np.abs(
        want
    ).max()  # tolerance 1e-5 relative to the largest entry (float64: ~1e-15 seen)
    np.testing.assert_allclose(got.matrix.numpy(), want, atol=1e-5 * scale, rtol=0)
    # A direction maps as v_T = v_S @ T, with no means.
    v = torch.randn(d_s, generator=g, dtype=torch.float64)
    np.testing.assert_allclose(
        got.apply_direction(v).numpy(), v.numpy() @ want, atol=1e-5 * scale * d_s**0.5, rtol=0
    )
    assert got.rank == min(rank, n, d_s, d_t) and got.kind == "unlock"
    assert (got.source_mean is not None) == centre
    if centre:
        torch.testing.assert_close(got.source_mean, xs.mean(0))


def test_fit_unlock_in_float32_stays_close_to_the_float64_reference():
    g = rng(7)
    xs, xt = torch.randn(30, 16, generator=g), torch.randn(30, 24, generator=g)
    got = fit_unlock(xs, xt, rank=8)
    assert got.matrix.dtype == torch.float32
    np.testing.assert_allclose(
        got.matrix.numpy(), unlock_reference(xs.numpy(), xt.numpy(), 8, False), atol=1e-5
    )


def test_full_rank_unlock_recovers_a_planted_linear_map():
    g = rng(8)
    xs = torch.randn(200, 12, generator=g, dtype=torch.float64)
    w = torch.randn(12, 20, generator=g, dtype=torch.float64)
    got = fit_unlock(xs, xs @ w, rank=12)
    torch.testing.assert_close(got.matrix, w, atol=1e-8, rtol=0)


def test_unlock_does_not_depend_on_singular_vector_signs():
    # T = V_S^T M V_T is unchanged when a singular vector flips; flipping a data column flips
    # nothing in the map except that column's row.
    g = rng(9)
    xs, xt = torch.randn(40, 10, generator=g), torch.randn(40, 14, generator=g)
    flip = torch.ones(10)
    flip[3] = -1
    a, b = fit_unlock(xs, xt, rank=4), fit_unlock(xs * flip, xt, rank=4)
    torch.testing.assert_close(b.matrix, a.matrix * flip[:, None], atol=1e-5, rtol=0)


# ---- ridge and Procrustes on planted ground truth --------------------------------------------


def planted_affine(seed: int, n: int, noise: float = 0.01):
    g = rng(seed)
    xs = torch.randn(n, 16, generator=g) * torch.linspace(0.5, 3, 16) + 4.0
    w = torch.randn(16, 24, generator=g) / 4
    b = torch.randn(24, generator=g)
    return xs, xs @ w + b + noise * torch.randn(n, 24, generator=g), w, b


def test_ridge_recovers_a_planted_affine_map_on_held_out_rows():
    xs, xt, w, b = planted_affine(10, 600)
    m = fit_ridge(xs[:400], xt[:400], alpha=1e-3, affine=True)
    report = fit_report(m, xs[400:], xt[400:])
    assert report["r2"] > 0.99 and report["mean_cosine_centred"] > 0.99
    torch.testing.assert_close(m.matrix, w, atol=5e-3, rtol=0)
    torch.testing.assert_close(m.bias, b, atol=5e-2, rtol=0)
    # Without the bias the same data fit worse: the offset has nowhere to go but the weights.
    assert (
        fit_report(fit_ridge(xs[:400], xt[:400], alpha=1e-3, affine=False), xs[400:], xt[400:])[
            "r2"
        ]
        < report["r2"]
    )


@pytest.mark.parametrize("n", [50, 10])  # primal (N >= d) and dual (N < d) forms
def test_ridge_closed_form_matches_the_normal_equations(n):
    g = rng(11)
    xs, xt = (
        torch.randn(n, 16, generator=g, dtype=torch.float64),
        torch.randn(n, 5, generator=g, dtype=torch.float64),
    )
    a, x, y = 0.7, xs.numpy(), xt.numpy()
    want = np.linalg.solve(x.T @ x + a * np.eye(16), x.T @ y)
    np.testing.assert_allclose(
        fit_ridge(xs, xt, alpha=a, affine=False).matrix.numpy(), want, atol=1e-10
    )
    np.testing.assert_allclose(
        fit_ridge(xs, xt, alpha=0.0, affine=False).matrix.numpy(), np.linalg.pinv(x) @ y, atol=1e-8
    )


def test_procrustes_recovers_a_planted_rotation():
    g = rng(12)
    q, _ = torch.linalg.qr(torch.randn(16, 16, generator=g, dtype=torch.float64))
    xs = torch.randn(100, 16, generator=g, dtype=torch.float64)
    m = fit_procrustes(xs, xs @ q + 1e-3 * torch.randn(100, 16, generator=g, dtype=torch.float64))
    torch.testing.assert_close(m.matrix, q, atol=1e-3, rtol=0)
    torch.testing.assert_close(m.matrix.T @ m.matrix, torch.eye(16, dtype=torch.float64))


@pytest.mark.parametrize(("d_s", "d_t"), [(10, 16), (16, 10)])
def test_procrustes_between_widths_is_semi_orthogonal_and_recovers_the_plant(d_s, d_t):
    g = rng(13)
    # Planted semi-orthogonal map: orthonormal rows when d_s < d_t, orthonormal columns otherwise.
    q, _ = torch.linalg.qr(
        torch.randn(max(d_s, d_t), min(d_s, d_t), generator=g, dtype=torch.float64)
    )
    plant = q.T if d_s < d_t else q  # (d_s, d_t)
    # Source rows with orthogonal columns of equal norm, so the trace optimum is the plant itself.
    basis, _ = torch.linalg.qr(torch.randn(200, d_s, generator=g, dtype=torch.float64))
    xs = 3.0 * basis
    m = fit_procrustes(xs, xs @ plant)
    torch.testing.assert_close(m.matrix, plant, atol=1e-8, rtol=0)
    r = min(d_s, d_t)
    small = m.matrix @ m.matrix.T if d_s < d_t else m.matrix.T @ m.matrix
    torch.testing.assert_close(small, torch.eye(r, dtype=torch.float64))
    assert m.rank == r


# ---- the LinearMap value object ---------------------------------------------------------------


def test_rows_carry_the_means_directions_do_not():
    xs, xt, _, _ = planted_affine(14, 100)
    m = fit_unlock(xs, xt, rank=8, centre=True)
    a, b = xs[0], xs[1]
    torch.testing.assert_close(m.apply(a) - m.apply(b), m.apply_direction(a - b))
    torch.testing.assert_close(m.apply(xs[:3]), (xs[:3] - m.source_mean) @ m.matrix + m.target_mean)
    torch.testing.assert_close(m.apply(xs[:3]), xs[:3] @ m.matrix + m.bias)


def test_linear_map_round_trips_through_a_file(tmp_path):
    xs, xt, _, _ = planted_affine(15, 50)
    for m in (fit_unlock(xs, xt, rank=4, centre=True), fit_procrustes(xs, xt[:, :16])):
        m = m.with_provenance(source_spec="organism:small", layer=3)
        loaded = LinearMap.load(m.save(tmp_path / f"{m.kind}.safetensors"))
        assert loaded == m
        assert loaded.provenance["layer"] == "3" and loaded.provenance["n_items"] == "50"


def test_fitters_refuse_bad_input():
    with pytest.raises(InterpError, match="X_S has 10 rows but X_T has 9"):
        fit_unlock(torch.randn(10, 4), torch.randn(9, 4), rank=2)
    for name, fit in FITTERS.items():
        opts = {"rank": 2} if name == "unlock" else {}
        with pytest.raises(InterpError, match="rows must be the same items"):
            fit(torch.randn(10, 4), torch.randn(11, 4), **opts)
        with pytest.raises(InterpError, match=r"X_T must be an \(items, width\) tensor"):
            fit(torch.randn(10, 4), torch.randn(10), **opts)
        assert get_fitter(name) is fit
    with pytest.raises(InterpError, match="NaN"):
        fit_ridge(torch.full((3, 2), float("nan")), torch.randn(3, 2))
    with pytest.raises(InterpError, match="rank must be a positive integer"):
        fit_unlock(torch.randn(5, 4), torch.randn(5, 4), rank=0)
    with pytest.raises(InterpError, match="unknown alignment fit 'cca'"):
        get_fitter("cca")


def test_a_direction_of_the_wrong_width_is_refused():
    m = fit_ridge(torch.randn(20, 16), torch.randn(20, 8))
    with pytest.raises(
        InterpError, match=r"takes 16-wide source vectors but the direction has shape \(8,\)"
    ):
        m.apply_direction(torch.randn(8))
    with pytest.raises(InterpError, match="16-wide source vectors but the activations"):
        m.apply(torch.randn(3, 15))


# ---- held-out quality ------------------------------------------------------------------------


def test_quality_numbers_on_known_cases():
    true = torch.tensor([[1.0, 0.0], [3.0, 2.0], [5.0, 4.0]])
    assert r2_score(true, true) == 1.0
    assert r2_score(true.mean(0).expand(3, 2), true) == pytest.approx(0.0)
    assert mean_cosine(true, true) == pytest.approx(1.0)
    assert mean_cosine(-true, true) == pytest.approx(-1.0)
    g = rng(16)
    xs, xt = torch.randn(200, 8, generator=g), torch.randn(200, 8, generator=g)
    unrelated = fit_report(fit_ridge(xs[:100], xt[:100]), xs[100:], xt[100:])
    assert unrelated["r2"] < 0.05 and unrelated["n"] == 100
    with pytest.raises(InterpError, match="must pair up"):
        fit_report(fit_ridge(xs, xt), xs[:5], xt[:6])


# ---- per-layer maps --------------------------------------------------------------------------


def layered_acts(seed: int, n: int = 40):
    """The same items' activations in both models; target layer j is linear in source layer i(j)."""
    g = rng(seed)
    src = {
        f"blocks.{i}.hook_resid_post": torch.randn(n, SOURCE.d_model, generator=g)
        for i in range(SOURCE.n_layers)
    }
    layer_map = depth_layer_map(SOURCE.n_layers, TARGET.n_layers)
    tgt = {
        f"blocks.{j}.hook_resid_post": src[f"blocks.{i}.hook_resid_post"]
        @ torch.randn(SOURCE.d_model, TARGET.d_model, generator=g)
        for j, i in enumerate(layer_map)
    }
    return src, tgt


def source_directions(
    layers=tuple(range(5)), d: int = 12, hook: str = "resid_post"
) -> DirectionSet:
    g = rng(17)
    model = ModelRef(SOURCE.spec, SOURCE.config_hash, d, SOURCE.n_layers)
    return DirectionSet(torch.randn(len(layers), d, generator=g), layers, model, hook=hook)


def test_layer_maps_fit_by_depth_and_carry_a_direction_set():
    src, tgt = layered_acts(18)
    maps = fit_layer_maps(
        src, tgt, source=SOURCE, target=TARGET, fit="unlock", rank=12, dataset_hash="h"
    )
    assert maps.source_layers == depth_layer_map(5, 8) and maps.target_layers == list(range(8))
    assert maps.count == 40 and maps.layer_rule == "depth"
    ds = source_directions()
    out = maps.apply(ds)
    assert out.layers == tuple(range(8)) and out.model == TARGET and out.d_model == 20
    for j in range(8):
        i, m = maps[j]
        assert torch.equal(out.vector(j), ds.vector(i) @ m.matrix)


def test_layer_maps_by_cka_find_the_planted_layers():
    src, tgt = layered_acts(19, n=60)
    maps = fit_layer_maps(
        src, tgt, source=SOURCE, target=TARGET, fit="ridge", layers="cka", alpha=1e-3
    )
    assert maps.source_layers == depth_layer_map(5, 8)  # the plant used the depth rule
    assert maps.layer_rule == "cka"


def test_layer_maps_round_trip_and_check_models(tmp_path):
    src, tgt = layered_acts(20)
    maps = fit_layer_maps(src, tgt, source=SOURCE, target=TARGET, fit="unlock", rank=4, centre=True)
    path = maps.save(tmp_path / "maps.safetensors")
    loaded = LayerMaps.load(path, source=SOURCE, target=TARGET)
    assert loaded == maps
    assert torch.equal(
        loaded.apply(source_directions()).vectors, maps.apply(source_directions()).vectors
    )
    with pytest.raises(InterpError, match="layer maps' target.*has d_model 12"):
        LayerMaps.load(path, target=SOURCE)


def test_layer_maps_refuse_mismatched_direction_sets():
    src, tgt = layered_acts(21)
    maps = fit_layer_maps(src, tgt, source=SOURCE, target=TARGET, fit="procrustes")
    with pytest.raises(
        InterpError,
        match=r"read source layers \[0, 1, 2, 3, 4\].*covers only \[0, 4\] \(missing \[1, 2, 3\]\)",
    ):
        maps.apply(source_directions(layers=(0, 4)))
    with pytest.raises(InterpError, match="directions are 16 wide but the maps take 12-wide"):
        maps.apply(source_directions(d=16))
    with pytest.raises(
        InterpError, match="fitted at hook_resid_post but the directions are at hook_mlp_out"
    ):
        maps.apply(source_directions(hook="mlp_out"))
    other = source_directions()
    other = DirectionSet(other.vectors, other.layers, ModelRef("sibling", "0000ffff", 12, 5))
    with pytest.raises(InterpError, match="config hash 5555aaaa.*config hash 0000ffff"):
        maps.apply(other)
    assert maps.apply(other, strict=False).layers == tuple(range(8))


def test_fit_layer_maps_refuses_missing_layers_and_mixed_hooks():
    src, tgt = layered_acts(22)
    del src["blocks.2.hook_resid_post"]
    with pytest.raises(InterpError, match=r"needs source layers \[2\], which were not captured"):
        fit_layer_maps(src, tgt, source=SOURCE, target=TARGET, rank=2)
    src, tgt = layered_acts(22)
    tgt = {k.replace("resid_post", "mlp_out"): v for k, v in tgt.items()}
    with pytest.raises(InterpError, match="hook_resid_post but target ones at hook_mlp_out"):
        fit_layer_maps(src, tgt, source=SOURCE, target=TARGET, rank=2)


def test_files_of_the_wrong_kind_are_refused(tmp_path):
    ds_path = source_directions().save(tmp_path / "d.safetensors")
    with pytest.raises(InterpError, match="is not a alignment map: it is a 'direction_set' file"):
        LinearMap.load(ds_path)
    with pytest.raises(InterpError, match="is not a layer maps file: it is a 'direction_set' file"):
        LayerMaps.load(ds_path)
    single = fit_ridge(torch.randn(20, 4), torch.randn(20, 3)).save(tmp_path / "m.safetensors")
    with pytest.raises(InterpError, match="'alignment_map' file"):
        LayerMaps.load(single)
    with pytest.raises(InterpError, match="is not a direction set: it is a 'layer_maps' file"):
        src, tgt = layered_acts(23)
        maps_path = fit_layer_maps(src, tgt, source=SOURCE, target=TARGET, rank=2).save(
            tmp_path / "x.safetensors"
        )
        DirectionSet.load(maps_path)
    plain = tmp_path / "plain.safetensors"
    save_file({"matrix": torch.zeros(4, 3)}, str(plain))
    with pytest.raises(InterpError, match="not an interp artifact"):
        LinearMap.load(plain)
