# %% [markdown]
# # SmolLM2 from Python: capture, a direction, steering, a probe
# SmolLM2-135M-Instruct (30 layers, width 576) on a CPU in a couple of minutes. Happy vs sad
# sentences give a joy direction at every layer; added to the residual stream at layer 10 it moves
# what the model writes, and we measure by how much; a linear probe trained on the same sentences
# tells held-out happy sentences from sad ones. Run it cell by cell in an editor that knows `# %%`
# cells (VS Code, Jupyter through jupytext, Spyder), or whole:
#
#     make real-models                       # fetches the model into ~/.cache/interp/models
#     python examples/notebook_smollm2.py

# %%
import json
import os
from pathlib import Path

import torch

import interp

HERE = Path(__file__).resolve().parent if "__file__" in globals() else Path("examples")
MODELS = Path(os.environ.get("INTERP_MODELS", "~/.cache/interp/models")).expanduser()
SPEC = MODELS / "SmolLM2-135M-Instruct.Q4_1.gguf"
if not SPEC.is_file():
    raise SystemExit(f"{SPEC} is not there: fetch it with `make real-models`")
torch.manual_seed(0)
model = interp.load_model(SPEC)  # float32 on a CPU; the GGUF is dequantized once, here
print(model.describe())

# %% [markdown]
# ## Capture
# The residual stream after every block (`resid_post`) at the last prompt token. Chat records go
# through the model's chat template, so their last token is the template's, before the answer.

# %%
items = interp.read_items(HERE / "real_quickstart" / "prompts.jsonl")
got = interp.capture_activations(model, items, hooks="resid_post", positions="last")
norms = torch.stack([got.activations[h].norm(dim=-1) for h in got.hooks])  # (layers, items)
print(len(got.hooks), "hook points;", tuple(got.activations[got.hooks[0]].shape), "each")
print("residual norm by layer (mean over prompts):", [round(float(n), 1) for n in norms.mean(1)])

# %% [markdown]
# ## A direction
# Mean difference of paired happy and sad sentences, at the last token, layer by layer: a
# `DirectionSet` that knows the model it came from and saves to one safetensors file.

# %%
happy = interp.read_items(HERE / "real_quickstart" / "positive.txt")
sad = interp.read_items(HERE / "real_quickstart" / "negative.txt")
joy = interp.extract_directions(model, happy, sad, "mean_difference")
print(joy)
print("norm by layer:", [round(float(v.norm()), 2) for v in joy.vectors])

# %% [markdown]
# ## Steering
# Add 4 times the layer-10 direction at every position, while the prompt is read and while the
# answer is written. `steered` puts the hooks on and takes them off when the block ends;
# `steer_effect` says how far the steer moved the model's next-token distributions.

# %%
question = interp.Chat.of("Describe your morning in one sentence.")
plain = interp.generate(model, question, max_new_tokens=30)[0]
with interp.steered(model, joy, "add", alpha=4.0, layers=[10], positions="all", phase="both") as s:
    steered = interp.generate(model, question, max_new_tokens=30)[0]
effect = interp.steer_effect(model, question, steered.token_ids, s)
print("plain:  ", plain.text)
print("steered:", steered.text)
print(effect.describe())

# %% [markdown]
# ## A probe
# A cross-validated sweep over layers (folds by sentence, beside a few shuffled-label reruns; use
# 50 or more for a null worth quoting), then one
# logistic probe at the best layer, fitted on all sixteen sentences and scored on eight it has
# never seen.

# %%
labelled = [{"prompt": i.prompt, "label": "happy"} for i in happy]
labelled += [{"prompt": i.prompt, "label": "sad"} for i in sad]
threads = torch.get_num_threads()
torch.set_num_threads(1)  # hundreds of small fits: more threads only contend
sweep = interp.probe_sweep(
    model, labelled, positions="last", folds=4, permutations=5, bootstrap=100
)
torch.set_num_threads(threads)
best = sweep.best["layer"]
print(f"best layer {best}: cross-validated AUROC {sweep.best['auroc']:.2f} "
      f"(shuffled labels, best of all layers, p95 {sweep.best['null_max_p95']:.2f})")  # fmt: skip

probe = interp.fit_probe(model, labelled, layer=best, positions="last")
held_out_happy = [
    "We won the match and the whole town celebrated.",
    "Her smile made my whole week brighter.",
    "The puppy was adorable and we laughed all afternoon.",
    "I got the job, this is the best news ever!",
]
held_out_sad = [
    "We lost everything in the flood and cried for days.",
    "Nobody came to my birthday and I felt so lonely.",
    "The old dog died last night and the house feels empty.",
    "I failed the exam again and I feel hopeless.",
]
scored = interp.score_probe(model, probe, held_out_happy + held_out_sad, positions="last")
scores = scored.scores  # higher means "sad", the class sorted second
for text, score in zip(held_out_happy + held_out_sad, scores.tolist(), strict=True):
    print(f"{score:+7.2f}  {text}")
separated = sum(float(s) > float(h) for h in scores[:4] for s in scores[4:]) / 16

# %% One line of JSON for a machine.
print(
    json.dumps(
        {
            "layers": model.n_layers,
            "d_model": model.d_model,
            "direction_layers": len(joy.layers),
            "steer_kl_mean": effect.kl_mean,
            "steer_argmax_changed": effect.argmax_changed,
            "probe_layer": best,
            "probe_cv_auroc": sweep.best["auroc"],
            "held_out_auroc": separated,
        }
    )
)
