"""interp: activation analysis for transformer language models.

Load a model, read its activations, find directions, move them between models, steer, probe, and
run the studies built on these, with the objects the command line makes and reads::

    import interp
    model = interp.load_model("organism:add-small")      # HF dir, .gguf, llama2.c .bin, organism:NAME
    got = interp.capture_activations(model, ["Q:1+2+3+4=?\\nA:"], hooks="resid_post")
    got.activations["blocks.1.hook_resid_post"].shape    # torch.Size([1, 64])
    ds = interp.extract_directions(model, cued_prompts, direct_prompts)   # DirectionSet
    with interp.steered(model, ds, "rotate", alpha=0.1):
        interp.generate(model, "Q:1+2+3+4=?\\nA:")
    result = interp.transfer("examples/transfer_organisms.json")         # TransferResult

Every name below is imported lazily on first use, so `import interp` (and `import interp.kernels`,
which needs only torch and triton) stays cheap. No exported name is the name of a subpackage or
module of interp, so what `interp.NAME` is never depends on what was imported before: a subpackage
(`interp.capture`, `interp.steer`, ...) is always the module, an exported name always the function
or class `_EXPORTS` names.
"""

from __future__ import annotations

import importlib
import importlib.util
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# Exported name -> "module" (the name is the module's attribute of the same name) or
# "module:attribute" where the public name differs from the one inside the package.
_EXPORTS: dict[str, str] = {
    # Models, text and generation
    "InterpError": "interp.errors",
    "Model": "interp.models.model",
    "load_model": "interp.models.load",
    "with_backend": "interp.models.load",
    "tiny_model": "interp.models.tiny",
    "convert_model": "interp.models.convert",
    "Chat": "interp.models.tokens",
    "generate": "interp.models.generate",
    "Generation": "interp.models.generate",
    # Hook points
    "HookPoint": "interp.hooks.names",
    "expand_hooks": "interp.hooks.names",
    "all_hook_names": "interp.hooks.names",
    "hooked": "interp.hooks.context",
    # Activations
    "Item": "interp.capture.items",
    "read_items": "interp.capture.items",
    "capture_activations": "interp.capture.run:capture",
    "Captured": "interp.capture.run",
    "read_capture": "interp.capture.stored",
    "ActivationReader": "interp.store.reader",
    # Directions and maps between models
    "DirectionSet": "interp.directions.direction_set",
    "extract_directions": "interp.experiments.extract",
    "LayerMaps": "interp.align.maps",
    "fit_layer_maps": "interp.align.maps",
    "align_models": "interp.api",
    "AlignConfig": "interp.experiments.align",
    "AlignResult": "interp.experiments.align",
    # Steering
    "Steer": "interp.steer.steering",
    "steering": "interp.steer.steering",
    "steered": "interp.steer.steering",
    "steers_from_directions": "interp.steer.steering",
    "steer_effect": "interp.steer.effect",
    "SteerEffect": "interp.steer.effect",
    # Probes
    "LinearProbe": "interp.probes.probe",
    "fit_probe": "interp.experiments.probe_fit",
    "calibrate": "interp.experiments.probe_fit",
    "score_probe": "interp.experiments.score",
    "ProbeScores": "interp.experiments.score",
    "probe_sweep": "interp.api",
    "probe": "interp.api",
    "ProbeConfig": "interp.experiments.probe",
    "SweepSettings": "interp.experiments.probe_sweep",
    "ProbeResult": "interp.experiments.probe",
    # Studies: config in, typed result out
    "transfer": "interp.api",
    "TransferConfig": "interp.experiments.transfer_config",
    "TransferResult": "interp.results.transfer",
    "audit": "interp.api",
    "AuditConfig": "interp.experiments.audit_config",
    "AuditResult": "interp.results.audit",
    "probe_transfer": "interp.api",
    "ProbeTransferConfig": "interp.experiments.probe_transfer_config",
    "ProbeTransferResult": "interp.results.probe_transfer",
    "mcqa": "interp.api",
    "MCQAConfig": "interp.experiments.mcqa",
    "MCQAResult": "interp.results.mcqa",
    "demo": "interp.api",
    "DemoResult": "interp.experiments.demo",
    # Model organisms
    "build_zoo": "interp.organisms.zoo",
    "load_manifest": "interp.organisms.registry",
    "build_real_organisms": "interp.organisms.real_build:build_real",
    "RealRecipe": "interp.organisms.real_plan",
}

__all__ = [
    "ActivationReader",
    "AlignConfig",
    "AlignResult",
    "AuditConfig",
    "AuditResult",
    "Captured",
    "Chat",
    "DemoResult",
    "DirectionSet",
    "Generation",
    "HookPoint",
    "InterpError",
    "Item",
    "LayerMaps",
    "LinearProbe",
    "MCQAConfig",
    "MCQAResult",
    "Model",
    "ProbeConfig",
    "ProbeResult",
    "ProbeScores",
    "ProbeTransferConfig",
    "ProbeTransferResult",
    "RealRecipe",
    "Steer",
    "SteerEffect",
    "SweepSettings",
    "TransferConfig",
    "TransferResult",
    "align_models",
    "all_hook_names",
    "audit",
    "build_real_organisms",
    "build_zoo",
    "calibrate",
    "capture_activations",
    "convert_model",
    "demo",
    "expand_hooks",
    "extract_directions",
    "fit_layer_maps",
    "fit_probe",
    "generate",
    "hooked",
    "load_manifest",
    "load_model",
    "mcqa",
    "probe",
    "probe_sweep",
    "probe_transfer",
    "read_capture",
    "read_items",
    "score_probe",
    "steer_effect",
    "steered",
    "steering",
    "steers_from_directions",
    "tiny_model",
    "transfer",
    "with_backend",
    "__version__",
]

if TYPE_CHECKING:
    from interp.align.maps import LayerMaps, fit_layer_maps
    from interp.api import (
        align_models,
        audit,
        demo,
        mcqa,
        probe,
        probe_sweep,
        probe_transfer,
        transfer,
    )
    from interp.capture.items import Item, read_items
    from interp.capture.run import Captured
    from interp.capture.run import capture as capture_activations
    from interp.capture.stored import read_capture
    from interp.directions.direction_set import DirectionSet
    from interp.errors import InterpError
    from interp.experiments.align import AlignConfig, AlignResult
    from interp.experiments.audit_config import AuditConfig
    from interp.experiments.demo import DemoResult
    from interp.experiments.extract import extract_directions
    from interp.experiments.mcqa import MCQAConfig
    from interp.experiments.probe import ProbeConfig, ProbeResult
    from interp.experiments.probe_fit import calibrate, fit_probe
    from interp.experiments.probe_sweep import SweepSettings
    from interp.experiments.probe_transfer_config import ProbeTransferConfig
    from interp.experiments.score import ProbeScores, score_probe
    from interp.experiments.transfer_config import TransferConfig
    from interp.hooks.context import hooked
    from interp.hooks.names import HookPoint, all_hook_names, expand_hooks
    from interp.models.convert import convert_model
    from interp.models.generate import Generation, generate
    from interp.models.load import load_model, with_backend
    from interp.models.model import Model
    from interp.models.tiny import tiny_model
    from interp.models.tokens import Chat
    from interp.organisms.real_build import build_real as build_real_organisms
    from interp.organisms.real_plan import RealRecipe
    from interp.organisms.registry import load_manifest
    from interp.organisms.zoo import build_zoo
    from interp.probes.probe import LinearProbe
    from interp.results.audit import AuditResult
    from interp.results.mcqa import MCQAResult
    from interp.results.probe_transfer import ProbeTransferResult
    from interp.results.transfer import TransferResult
    from interp.steer.effect import SteerEffect, steer_effect
    from interp.steer.steering import Steer, steered, steering, steers_from_directions
    from interp.store.reader import ActivationReader


def _home(name: str) -> tuple[str, str]:
    """(module, attribute) that the exported `name` comes from."""
    module, _, attribute = _EXPORTS[name].partition(":")
    return module, attribute or name


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        module, attribute = _home(name)
        value = getattr(importlib.import_module(module), attribute)
        globals()[name] = value
        return value
    if not name.startswith("_") and importlib.util.find_spec(f"{__name__}.{name}") is not None:
        # A subpackage or module: what `import interp.NAME` binds here, whatever came first.
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module 'interp' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
