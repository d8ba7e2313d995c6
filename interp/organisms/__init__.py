"""Model organisms: small Llama models with known ground truth, trained here offline on a CPU.

Modules, each with one job:
- `tasks`: seeded item generators (add, mul, count), prompt templates with a shared ending, the
  bare and worked continuation formats, a hash-based train/test split;
- `grader`: extract the final answer after the answer marker and check it;
- `tokenizer`: the character-level tokenizer shared by the whole zoo (Hugging Face format);
- `train`: tiny Llama configs, the training mixture, the training loop, greedy evaluation;
- `registry`: find built organisms by name (`organism:NAME`) and verify their checksums;
- `plan`: what the zoo holds, one spec per organism (name, family, size, role, training recipe);
- `sandbag`: the sandbagging game's training targets (password-locked imitation of a weaker
  model's own outputs, decoy quirks, the honest/underperform instruction contrast) and measures;
- `zoo`: `build_zoo` trains, measures and saves a plan's organisms with manifest and answer key;
- `trial`: the design trial, `python -m interp.organisms.trial --help`.
"""
