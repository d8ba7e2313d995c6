# %% [markdown]
# # Capture, a contrast direction, and a steered generation
# Runs on a CPU in seconds on a tiny random model made on the spot; swap in any model spec
# (a Hugging Face directory, a llama2.c `.bin`, `organism:NAME`) to use a real one.

# %%
import torch

import interp

hf, tokenizer = interp.tiny_model("llama", d_model=64, n_layers=4)
model = interp.Model(hf=hf, tokenizer=tokenizer, spec="tiny-llama")
print(model.n_layers, model.d_model, interp.all_hook_names(model)[:5])

# %% Per-label means at every layer's residual stream, streamed (memory does not grow with prompts).
items = [
    interp.Item("what a happy day", label="pos"),
    interp.Item("we laughed and played", label="pos"),
    interp.Item("what a sad day", label="neg"),
    interp.Item("we cried all alone", label="neg"),
]
got = interp.capture_activations(
    model, items, hooks="resid_post", positions="all", reduce="label_mean"
)
direction = {hook: stats.means[0] - stats.means[1] for hook, stats in got.label_means.items()}

# %% Add the layer-1 direction during generation; the hook is gone when the block ends.
v = direction["blocks.1.hook_resid_post"]
with interp.hooked(model, {"blocks.1.hook_resid_post": lambda h: h + 4.0 * v / v.norm()}):
    steered = interp.generate(model, "the day was", max_new_tokens=20)[0].text
plain = interp.generate(model, "the day was", max_new_tokens=20)[0].text
print(repr(plain), "->", repr(steered))

# %% Keep raw rows instead: one row per prompt at the last prompt token.
rows = interp.capture_activations(
    model, ["one prompt", "another prompt"], hooks="blocks.-1.hook_resid_post"
)
print(rows.activations["blocks.3.hook_resid_post"].shape, torch.__version__)
