"""LinearProbe: planted-direction recovery, response scoring, files, model checks, score_many."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors import safe_open

from interp.errors import InterpError
from interp.probes.fit import fit_logistic_probe, fit_mass_mean_probe
from interp.probes.logistic import Standardizer
from interp.probes.probe import LinearProbe
from interp.probes.scoring import mean_per_prompt, score_many
from interp.store.artifacts import ModelRef, write_artifact

D = 32
HOOK = "blocks.2.hook_resid_post"
MODEL = ModelRef("organism:tiny-a", "cafe0123", D, 4)


def planted(n_prompts=200, tokens=8, d=D, shift=1.0, seed=0):
    """Token rows x = m + z + (2y - 1) * shift * u with z ~ N(0, I): the optimal probe is along u.

    Returns rows, per-prompt labels, each row's prompt id and the planted unit direction u.
    """
    gen = torch.Generator().manual_seed(seed)
    u = torch.randn(d, generator=gen)
    u = u / u.norm()
    offset = 5 * torch.randn(d, generator=gen)  # a non-zero mean, so standardization matters
    labels = torch.arange(n_prompts) % 2
    groups = torch.arange(n_prompts).repeat_interleave(tokens)
    sign = (2 * labels[groups] - 1).float()[:, None]
    rows = offset + torch.randn(n_prompts * tokens, d, generator=gen) + shift * sign * u
    return rows, labels, groups, u


@pytest.mark.parametrize("fit", [fit_logistic_probe, fit_mass_mean_probe])
def test_probe_recovers_a_planted_direction(fit):
    # 16k rows: logistic weights are noisier than class means; cosine ~0.997 here, ~0.98 at 1.6k.
    rows, labels, groups, u = planted(n_prompts=2000)
    probe = fit(rows, labels, groups, model=MODEL, hook=HOOK)
    w_raw, b_raw = probe.effective_weight()
    cosine = torch.nn.functional.cosine_similarity(w_raw.float(), u, dim=0)
    assert cosine > 0.99
    # The score on raw rows is the standardized formula, and separates the classes.
    x = probe.standardizer(rows)
    assert torch.allclose(
        probe.score_tokens(rows).double(), x @ probe.weight + probe.bias, atol=1e-4
    )
    per_prompt = probe.score_responses(rows, groups)
    assert ((per_prompt > 0) == labels.bool()).float().mean() > 0.99  # 0 sits between the classes
    assert probe.n_prompts == 2000 and probe.n_rows == 16000
    assert probe.n_positive == probe.n_negative == 1000
    assert probe.layer == 2 and probe.method == (
        "logistic" if fit is fit_logistic_probe else "mass_mean"
    )


def test_mass_mean_bias_puts_the_class_midpoint_at_zero():
    rows, labels, groups, _ = planted(n_prompts=40, seed=1)
    probe = fit_mass_mean_probe(rows, labels, groups)
    y = labels[groups]
    midpoint = (rows[y == 1].double().mean(0) + rows[y == 0].double().mean(0)) / 2
    assert float(probe.score_tokens(midpoint.float()[None])) == pytest.approx(0.0, abs=1e-4)


def test_labels_are_indexed_by_prompt_id():
    rows, labels, groups, _ = planted(n_prompts=20, seed=2)
    # Drop prompts 0..4: ids no longer start at 0, labels stay indexed by id.
    keep = groups >= 5
    probe = fit_logistic_probe(rows[keep], labels, groups[keep])
    assert probe.n_prompts == 15 and probe.n_positive == 8 and probe.n_negative == 7
    with pytest.raises(InterpError, match="one label per prompt"):
        fit_logistic_probe(rows, labels[:10], groups)
    with pytest.raises(InterpError, match="one class"):
        fit_logistic_probe(rows, torch.zeros(20, dtype=torch.long), groups)


def test_score_responses_is_the_mean_of_token_scores_in_both_forms():
    rows, labels, groups, _ = planted(n_prompts=6, tokens=5, seed=3)
    probe = fit_logistic_probe(rows, labels, groups)
    tokens = probe.score_tokens(rows)
    expected = tokens.reshape(6, 5).mean(dim=1)
    from_rows = probe.score_responses(rows, groups)
    from_list = probe.score_responses([rows[groups == p] for p in range(6)])
    assert torch.allclose(from_rows, expected, atol=1e-6)
    assert torch.allclose(from_list, expected, atol=1e-6)
    # A prompt id with no rows scores NaN rather than silently vanishing.
    gapped = probe.score_responses(rows[groups != 2], groups[groups != 2])
    assert torch.isnan(gapped[2]) and torch.allclose(
        gapped[[0, 1, 3, 4, 5]], expected[[0, 1, 3, 4, 5]]
    )
    assert torch.isnan(mean_per_prompt(torch.ones(2), torch.tensor([0, 0]), n_prompts=2)[1])
    with pytest.raises(InterpError, match="prompt_index"):
        probe.score_responses(rows)


def test_save_load_round_trip_keeps_everything_and_the_threshold(tmp_path):
    rows, labels, groups, _ = planted(n_prompts=30, seed=4)
    probe = fit_logistic_probe(
        rows, labels, groups, model=MODEL, hook="blocks.-2.hook_resid_post", dataset_hash="ab" * 32
    )
    assert probe.hook == HOOK  # negative layer resolved against the model's 4 layers
    calibrated = probe.with_threshold(1.2345678901234567, fpr=0.01, n_control=500)
    path = calibrated.save(tmp_path / "probe.safetensors")
    loaded = LinearProbe.load(path, model=MODEL, hook=HOOK)
    assert loaded == calibrated
    assert loaded.threshold == 1.2345678901234567 and loaded.threshold_fpr == 0.01
    assert loaded.n_control == 500 and loaded.C == 0.1 and loaded.dataset_hash == "ab" * 32
    assert torch.equal(loaded.score_tokens(rows), calibrated.score_tokens(rows))
    with safe_open(str(path), framework="pt") as f:
        meta = f.metadata()
    assert meta["kind"] == "probe" and json.loads(meta["threshold"]) == 1.2345678901234567
    assert meta["model_config_hash"] == "cafe0123" and meta["hook"] == HOOK
    # An uncalibrated probe round-trips with no threshold.
    probe.save(tmp_path / "raw.safetensors")
    assert LinearProbe.load(tmp_path / "raw.safetensors").threshold is None


def test_load_and_check_refuse_another_model_or_hook(tmp_path):
    rows, labels, groups, _ = planted(n_prompts=20, seed=5)
    probe = fit_logistic_probe(rows, labels, groups, model=MODEL, hook=HOOK)
    path = probe.save(tmp_path / "probe.safetensors")
    narrow = ModelRef("organism:narrow", "beef4567", 16, 4)
    with pytest.raises(InterpError) as err:
        LinearProbe.load(path, model=narrow)
    assert "organism:tiny-a" in str(err.value) and "organism:narrow" in str(err.value)
    assert "32" in str(err.value) and "16" in str(err.value)
    sibling = ModelRef("organism:tiny-b", "beef4567", D, 4)
    with pytest.raises(InterpError, match="config hash"):
        probe.check_model(sibling)
    probe.check_model(sibling, strict=False)  # same width, caller accepts another config
    with pytest.raises(InterpError, match="layer 2"):
        probe.check_model(ModelRef("organism:shallow", "cafe0123", D, 2))
    with pytest.raises(InterpError) as err:
        probe.check_model(MODEL, "blocks.1.hook_resid_post")
    assert HOOK in str(err.value) and "blocks.1.hook_resid_post" in str(err.value)
    probe.check_model(MODEL, "blocks.-2.hook_resid_post")  # the same point, named from the end
    with pytest.raises(InterpError, match="unknown hook"):
        probe.check_model(MODEL, "blocks.2.hook_nonsense")
    with pytest.raises(InterpError, match="wide"):
        probe.score_tokens(torch.randn(3, 16))


def test_files_that_are_not_probes_or_probes_without_provenance_are_refused(tmp_path):
    write_artifact(
        tmp_path / "d.safetensors", {"vectors": torch.ones(1, 4)}, {"kind": "direction_set"}
    )
    with pytest.raises(InterpError, match="not a probe"):
        LinearProbe.load(tmp_path / "d.safetensors")
    anonymous = LinearProbe(torch.ones(4), Standardizer.identity(4))
    with pytest.raises(InterpError, match="records no model"):
        anonymous.save(tmp_path / "p.safetensors")
    with pytest.raises(InterpError, match="records no model"):
        anonymous.check_model(MODEL)
    with pytest.raises(InterpError, match="no threshold"):
        anonymous.flag(torch.zeros(3))


def test_score_many_equals_looping_over_probes():
    rows, labels, groups, _ = planted(n_prompts=40, seed=6)
    probes = [
        fit_logistic_probe(rows, labels, groups),
        fit_mass_mean_probe(rows, labels, groups),
        fit_logistic_probe(rows, labels, groups, C=10.0, fit_intercept=True),
    ]
    acts = rows.reshape(4, 80, D)  # any leading shape
    stacked = score_many(acts, probes)
    assert stacked.shape == (4, 80, 3) and stacked.dtype == torch.float32
    for k, probe in enumerate(probes):
        assert torch.allclose(stacked[..., k], probe.score_tokens(acts), atol=1e-5, rtol=1e-6)
    wide = score_many(acts.double(), probes)
    for k, probe in enumerate(probes):
        w_raw, b_raw = probe.effective_weight()
        assert torch.allclose(wide[..., k], acts.double() @ w_raw + b_raw, atol=1e-10)
    assert score_many(acts.bfloat16(), probes).dtype == torch.float32
    other = LinearProbe(torch.ones(16), Standardizer.identity(16))
    with pytest.raises(InterpError, match="different widths"):
        score_many(acts, [probes[0], other])
