"""LoRA adapters in the file format of the `peft` library, checked against a base and merged into it.

An adapter is a directory:

    adapter_config.json          peft's LoraConfig: r, lora_alpha, target_modules, ...
    adapter_model.safetensors    base_model.model.<module path>.lora_A.weight   (r, in_features)
                                 base_model.model.<module path>.lora_B.weight   (out_features, r)
    base_fingerprint.json        optional (interp writes it, peft ignores it): sampled weights of
                                 the base the adapter was trained on, see `base_fingerprint`

Merging adds `scale * B @ A` to each target module's weight, with `scale = lora_alpha / r`
(`lora_alpha / sqrt(r)` under rsLoRA), so the merged model runs at the base's speed and everything
downstream (hooks, capture, probes) sees an ordinary model. The `peft` package is not needed.
Before anything is merged the adapter is checked: every tensor pairs up, r agrees with the shapes,
the modules the config targets exist in the base with the shapes the tensors need and are exactly
the modules the file holds, and, where a fingerprint is present, the base is the one it was made on.

    >>> adapter = read_adapter("organisms/smollm2-a")     # doctest: +SKIP
    >>> merge_adapter(model.hf, adapter)                  # checks first, then W += scale * B @ A
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors import safe_open
from torch import Tensor, nn

from interp.errors import InterpError
from interp.files import atomic_write_json, save_safetensors_atomic
from interp.models.base_fingerprint import FINGERPRINT, check_fingerprint

CONFIG = "adapter_config.json"
WEIGHTS = "adapter_model.safetensors"
KEY_PREFIX = "base_model.model."
# peft looks for the layer index after one of these names when `layers_pattern` is not given.
COMMON_LAYER_NAMES = ("layers", "h", "block", "blocks", "layer")
# Options whose effect a plain merge of B @ A cannot reproduce.
UNSUPPORTED = {
    "use_dora": "DoRA rescales the merged weight by a learned magnitude",
    "modules_to_save": "it replaces whole modules rather than adding a low-rank update",
    "layer_replication": "it duplicates layers of the base",
    "target_parameters": "it adapts raw parameters rather than modules",
}


@dataclass(frozen=True)
class LoraConfig:
    """The part of peft's LoraConfig that decides what a merge does."""

    r: int
    lora_alpha: float
    target_modules: tuple[str, ...] | str  # names matched at the end of a module path, or a regex
    layers_to_transform: tuple[int, ...] | None = None
    layers_pattern: tuple[str, ...] | None = None  # names before the layer index in a path
    use_rslora: bool = False
    fan_in_fan_out: bool = False  # weights stored (in, out), as GPT-2's Conv1D keeps them
    rank_pattern: dict[str, int] = field(default_factory=dict)
    alpha_pattern: dict[str, float] = field(default_factory=dict)
    base_model_name_or_path: str | None = None

    def targets(self, name: str) -> bool:
        """Whether peft would put a LoRA layer on the module called `name`."""
        if isinstance(self.target_modules, str):
            hit = re.fullmatch(self.target_modules, name) is not None
        else:
            hit = any(name == t or name.endswith("." + t) for t in self.target_modules)
        if not hit or self.layers_to_transform is None:
            return hit
        names = self.layers_pattern or COMMON_LAYER_NAMES
        for layer_name in names:
            found = re.match(rf".*\.{re.escape(layer_name)}\.(\d+)\.", name)
            if found:
                return int(found.group(1)) in self.layers_to_transform
        return False

    def rank(self, name: str) -> int:
        return int(_pattern_value(self.rank_pattern, name, self.r))

    def scale(self, name: str) -> float:
        alpha, r = float(_pattern_value(self.alpha_pattern, name, self.lora_alpha)), self.rank(name)
        return alpha / math.sqrt(r) if self.use_rslora else alpha / r

    def to_peft(self) -> dict[str, Any]:
        """adapter_config.json as peft writes it (peft reads every key; none of them is ours)."""
        targets = self.target_modules
        return {
            "peft_type": "LORA",
            "task_type": "CAUSAL_LM",
            "base_model_name_or_path": self.base_model_name_or_path,
            "r": self.r,
            "lora_alpha": self.lora_alpha,
            "target_modules": targets if isinstance(targets, str) else sorted(targets),
            "layers_to_transform": list(self.layers_to_transform)
            if self.layers_to_transform is not None
            else None,
            "layers_pattern": _one_or_list(self.layers_pattern),
            "lora_dropout": 0.0,
            "bias": "none",
            "fan_in_fan_out": self.fan_in_fan_out,
            "use_rslora": self.use_rslora,
            "use_dora": False,
            "modules_to_save": None,
            "init_lora_weights": True,
            "rank_pattern": dict(self.rank_pattern),
            "alpha_pattern": dict(self.alpha_pattern),
            "inference_mode": True,
            "revision": None,
        }


@dataclass(frozen=True)
class Adapter:
    """A read adapter: its config and, per target module, the (A, B) pair."""

    path: Path
    config: LoraConfig
    weights: dict[str, tuple[Tensor, Tensor]]  # module path -> (A (r, in), B (out, r))
    fingerprint: dict[str, Any] | None = None

    @property
    def n_params(self) -> int:
        return sum(a.numel() + b.numel() for a, b in self.weights.values())


def read_adapter(path: str | Path) -> Adapter:
    """The adapter in directory `path`, its files and their agreement checked (not the base)."""
    path = Path(path).expanduser()
    fix = "pass a directory saved by peft's save_pretrained or `interp organisms build-real`"
    if not path.is_dir():
        raise InterpError(f"no adapter directory at {path}", fix=fix)
    for name in (CONFIG, WEIGHTS):
        if not (path / name).is_file():
            also = " (a pickled adapter_model.bin is not read)" if name == WEIGHTS else ""
            raise InterpError(
                f"adapter {path} has no {name}{also}",
                fix="save the adapter with safe_serialization=True"
                if (path / "adapter_model.bin").is_file()
                else fix,
            )
    config = _read_config(path / CONFIG)
    weights = _read_weights(path / WEIGHTS, config)
    fingerprint = None
    if (path / FINGERPRINT).is_file():
        try:
            fingerprint = json.loads((path / FINGERPRINT).read_text())
        except json.JSONDecodeError as err:
            raise InterpError(
                f"{path / FINGERPRINT} is not valid JSON ({err.msg})", fix=fix
            ) from None
    return Adapter(path, config, weights, fingerprint)


def check_adapter(adapter: Adapter, model: nn.Module) -> None:
    """Refuse an adapter that does not fit `model`: missing or extra target modules, shapes that
    differ, tied weights, or (with a fingerprint) another base."""
    where = adapter.path
    modules = dict(model.named_modules())
    targeted = {
        name
        for name, m in modules.items()
        if adapter.config.targets(name) and _weight(m) is not None
    }
    missing = sorted(set(adapter.weights) - set(modules))
    if missing:
        raise InterpError(
            f"adapter {where} adapts {missing[0]}, which this {_family(model)} model does not have "
            f"({len(missing)} such modules)",
            fix="load the adapter on the base it was trained on",
        )
    absent = sorted(targeted - set(adapter.weights))
    untargeted = sorted(set(adapter.weights) - targeted)
    if absent or untargeted:
        name = (absent or untargeted)[0]
        says = "targets but holds no tensors for" if absent else "holds tensors for untargeted"
        raise InterpError(
            f"adapter {where}: its config {says} {name} "
            f"({len(absent)} targeted without tensors, {len(untargeted)} tensors not targeted)",
            fix="re-save the adapter so that adapter_config.json and its weights agree, or load it "
            "on the base it was trained on",
        )
    tied = _tied_parameters(model)
    for name, (a, b) in adapter.weights.items():
        weight = _weight(modules[name])
        assert weight is not None  # every adapted module was found above with a weight
        want = (b.shape[0], a.shape[1])
        have = tuple(weight.shape[::-1]) if adapter.config.fan_in_fan_out else tuple(weight.shape)
        if have != want:
            raise InterpError(
                f"adapter {where} needs {name} to be {want[1]} -> {want[0]} but the base's is "
                f"{have[1]} -> {have[0]}",
                fix="load the adapter on the base it was trained on (another size or family "
                "cannot take it)",
            )
        if weight.device.type == "meta":
            raise InterpError(
                f"{name} is offloaded by the device map, so the adapter cannot be merged into it",
                fix="load the model without offloading (more max_memory), or merge on a CPU first "
                "with `interp convert BASE+ADAPTER --out DIR`",
            )
        if id(weight) in tied:
            raise InterpError(
                f"adapter {where} adapts {name}, whose weight the base shares with another module",
                fix="a merge would change both; use an adapter that leaves tied weights alone",
            )
    if adapter.fingerprint is not None:
        check_fingerprint(adapter.fingerprint, model, where=str(where))


@torch.no_grad()
def merge_adapter(model: nn.Module, adapter: Adapter) -> None:
    """Check `adapter` against `model`, then add scale * B @ A to every target weight, in place."""
    check_adapter(adapter, model)
    modules = dict(model.named_modules())
    for name, (a, b) in adapter.weights.items():
        weight = _weight(modules[name])
        assert weight is not None
        delta = adapter.config.scale(name) * (b.float() @ a.float())  # (out, in)
        if adapter.config.fan_in_fan_out:
            delta = delta.T
        weight.add_(delta.to(weight.device, weight.dtype))


def load_adapter_into(model: nn.Module, path: str | Path) -> Adapter:
    """Read the adapter at `path` and merge it into `model`; returns what was merged."""
    adapter = read_adapter(path)
    merge_adapter(model, adapter)
    return adapter


def save_adapter(
    directory: str | Path,
    config: LoraConfig,
    weights: dict[str, tuple[Tensor, Tensor]],
    fingerprint: dict[str, Any] | None = None,
) -> Path:
    """Write an adapter peft can load (config, weights under peft's key names) and, when given,
    the base fingerprint beside them; each file appears whole or not at all."""
    directory = Path(directory)
    tensors = {}
    for name, (a, b) in sorted(weights.items()):
        tensors[f"{KEY_PREFIX}{name}.lora_A.weight"] = a.detach().float().cpu()
        tensors[f"{KEY_PREFIX}{name}.lora_B.weight"] = b.detach().float().cpu()
    save_safetensors_atomic(directory / WEIGHTS, tensors, {"format": "pt"})
    atomic_write_json(directory / CONFIG, config.to_peft())
    if fingerprint is not None:
        atomic_write_json(directory / FINGERPRINT, fingerprint)
    return directory


# ---- reading -------------------------------------------------------------------------------------


def _read_config(path: Path) -> LoraConfig:
    try:
        raw = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise InterpError(
            f"{path} is not valid JSON ({err.msg}, line {err.lineno})", fix="re-save the adapter"
        ) from None
    if not isinstance(raw, dict):
        raise InterpError(f"{path} is not a JSON object", fix="re-save the adapter")
    if raw.get("peft_type", "LORA") != "LORA":
        raise InterpError(
            f"{path} describes a {raw.get('peft_type')} adapter; only LoRA adapters merge",
            fix="use a LoRA adapter (peft_type LORA)",
        )
    for key, why in UNSUPPORTED.items():
        if raw.get(key):
            raise InterpError(
                f"{path} sets {key}, which interp cannot merge ({why})",
                fix="merge it with peft (merge_and_unload) and load the saved model instead",
            )
    if raw.get("bias", "none") != "none":
        raise InterpError(
            f"{path} trains biases (bias={raw['bias']!r}), which interp does not merge",
            fix="use an adapter trained with bias='none', or merge it with peft",
        )
    missing = [k for k in ("r", "lora_alpha", "target_modules") if raw.get(k) is None]
    if missing:
        raise InterpError(f"{path} lacks {missing}", fix="re-save the adapter with peft")
    r = raw["r"]
    if isinstance(r, bool) or not isinstance(r, int) or r < 1:
        raise InterpError(f"{path}: r is {r!r}, not a positive whole number", fix="re-save it")
    targets = raw["target_modules"]
    layers = raw.get("layers_to_transform")
    return LoraConfig(
        r=r,
        lora_alpha=float(raw["lora_alpha"]),
        target_modules=targets if isinstance(targets, str) else tuple(targets),
        layers_to_transform=(layers,) if isinstance(layers, int) else _tuple_or_none(layers),
        layers_pattern=_names(raw.get("layers_pattern")),
        use_rslora=bool(raw.get("use_rslora", False)),
        fan_in_fan_out=bool(raw.get("fan_in_fan_out", False)),
        rank_pattern=dict(raw.get("rank_pattern") or {}),
        alpha_pattern=dict(raw.get("alpha_pattern") or {}),
        base_model_name_or_path=raw.get("base_model_name_or_path"),
    )


def _read_weights(path: Path, config: LoraConfig) -> dict[str, tuple[Tensor, Tensor]]:
    pattern = re.compile(rf"^{re.escape(KEY_PREFIX)}(.+)\.lora_([AB])\.weight$")
    halves: dict[str, dict[str, Tensor]] = {}
    try:
        with safe_open(path, framework="pt") as f:
            for key in f.keys():  # noqa: SIM118  (safe_open has keys(), not iteration)
                found = pattern.match(key)
                if not found:
                    raise InterpError(
                        f"{path} holds {key}, which is not a LoRA A or B weight",
                        fix="only plain LoRA adapters merge (no embeddings, biases or saved "
                        "modules); merge others with peft",
                    )
                halves.setdefault(found.group(1), {})[found.group(2)] = f.get_tensor(key)
    except InterpError:
        raise
    except Exception as err:  # safetensors raises its own types for damaged files
        raise InterpError(
            f"{path} cannot be read as safetensors ({str(err).splitlines()[0][:120]})",
            fix="the file may be truncated: copy or rebuild the adapter",
        ) from err
    if not halves:
        raise InterpError(f"{path} holds no LoRA weights", fix="rebuild the adapter")
    weights = {}
    for name, pair in sorted(halves.items()):
        if set(pair) != {"A", "B"}:
            lacking = "lora_B" if "A" in pair else "lora_A"
            raise InterpError(f"{path} has no {lacking} for {name}", fix="rebuild the adapter")
        a, b = pair["A"], pair["B"]
        r = config.rank(name)
        if a.ndim != 2 or b.ndim != 2 or a.shape[0] != r or b.shape[1] != r:
            raise InterpError(
                f"{path}: {name} has lora_A {tuple(a.shape)} and lora_B {tuple(b.shape)}, which "
                f"do not have rank r={r} (A must be (r, in), B (out, r))",
                fix="the config and weights come from different adapters: re-save them together",
            )
        weights[name] = (a, b)
    return weights


# ---- helpers -------------------------------------------------------------------------------------


def _pattern_value(patterns: dict[str, Any], name: str, default: Any) -> Any:
    # peft's rule: a pattern applies to a module whose path ends in it (at a dot boundary).
    for pattern, value in patterns.items():
        if re.fullmatch(rf"(.*\.)?{pattern}", name):
            return value
    return default


def _weight(module: nn.Module) -> Tensor | None:
    weight = getattr(module, "weight", None)
    return weight if isinstance(weight, Tensor) and weight.ndim == 2 else None


def _tied_parameters(model: nn.Module) -> set[int]:
    """ids of parameters reachable under more than one module name (tied weights)."""
    seen: dict[int, int] = {}
    for _, p in model.named_parameters(remove_duplicate=False):
        seen[id(p)] = seen.get(id(p), 0) + 1
    return {key for key, count in seen.items() if count > 1}


def _family(model: nn.Module) -> str:
    return str(getattr(getattr(model, "config", None), "model_type", type(model).__name__))


def _tuple_or_none(value: Any) -> tuple[int, ...] | None:
    return None if value is None else tuple(int(v) for v in value)


def _names(value: Any) -> tuple[str, ...] | None:
    # peft takes one layer-list name or several here.
    if not value:
        return None
    return (value,) if isinstance(value, str) else tuple(value)


def _one_or_list(names: tuple[str, ...] | None) -> str | list[str] | None:
    if names is None:
        return None
    return names[0] if len(names) == 1 else list(names)
