# %% [markdown]
# # Where does a tiny pretrained model (stories260K) read sentiment? A linear-probe sweep
# 48 happy and 48 sad story openings, every token of every layer's residual stream. Per layer: a
# logistic probe (standardized, C = 0.1, no intercept) and the difference-of-means baseline,
# 5-fold cross-validated by prompt, a story scoring the mean of its token scores; AUROC with a
# bootstrap interval, beside a shuffled-label permutation null and the activation norm alone.
# The best layer is judged against the null of the best of all layers.
#
#     python examples/stories_probe/run.py path/to/stories260K.bin --out runs/stories-probe

# %%
import argparse
import json
from pathlib import Path

import torch

import interp
from interp.experiments.probe_sweep import run_probe_sweep
from interp.reports.probe_report import format_table

parser = argparse.ArgumentParser(description="sentiment probe sweep on a llama2.c or HF model")
parser.add_argument("model", help="model spec, e.g. stories260K.bin")
parser.add_argument("--config", default=str(Path(__file__).with_name("config.json")))
parser.add_argument("--out", default=None, help="run directory to write")
args = parser.parse_args()
torch.set_num_threads(1)  # hundreds of small fits: extra threads only contend

# %% happy = 1, sad = 0
config = json.loads(Path(args.config).read_text())
items = [{"prompt": p, "label": 1} for p in config["positive"]]
items += [{"prompt": p, "label": 0} for p in config["negative"]]
model = interp.load_model(args.model)
metrics = run_probe_sweep(
    model,
    items,
    config["hook_kind"],
    config["positions"],
    config["C"],
    config["folds"],
    Path(args.out) if args.out else None,
    config["seed"],
    n_perm=config["n_perm"],
    n_boot=config["n_boot"],
    label_names=(config["label_names"]["0"], config["label_names"]["1"]),
)

# %% A table for a person, then one line of JSON for a machine.
print(format_table(metrics))
print(json.dumps({"best": metrics["best"], "layers": metrics["layers"]}))
