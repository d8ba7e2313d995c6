# %% [markdown]
# # A sentiment direction in a real pretrained model (stories260K)
# Happy vs sad story openings give a difference-of-means direction at one layer; added to neutral
# prompts it should raise log p(happy words) - log p(sad words) for words that never occur in the
# contrast prompts, beyond random directions of the same norm, at a small KL cost.
#
#     python examples/stories_sentiment/run.py path/to/stories260K.bin --out runs/stories-sentiment

# %%
import argparse
import json
from pathlib import Path

import interp
from interp.experiments.contrast_steering import ContrastSteeringConfig, run_contrast_steering

parser = argparse.ArgumentParser(description="sentiment steering study on a llama2.c or HF model")
parser.add_argument("model", help="model spec, e.g. stories260K.bin")
parser.add_argument("--config", default=str(Path(__file__).with_name("config.json")))
parser.add_argument("--out", default=None, help="run directory to write")
args = parser.parse_args()

# %%
config = ContrastSteeringConfig(**json.loads(Path(args.config).read_text()))
model = interp.load_model(args.model)
metrics = run_contrast_steering(model, config, Path(args.out) if args.out else None)
print(json.dumps(metrics))
