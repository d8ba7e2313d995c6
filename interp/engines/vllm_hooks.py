"""Steering and capture inside a vLLM worker's forward pass, per request.

Hooks sit on the decoder layers of the model the worker runs. vLLM's layers pass the residual
stream as two tensors, `(hidden_states, residual)`, whose sum the next layer's fused add-and-norm
forms; the stream after layer l (`blocks.l.hook_resid_post`, which is also `blocks.l+1.hook_resid_pre`)
is that sum. A steer rewrites the sum and hands it on as `(stream, zeros)`, so the next layer's add
gives back exactly the steered stream; rows no steer selects keep their values bit for bit.

At the start of each forward a pre-hook on the model reads, from the worker's model runner, which
requests the pass holds (`input_batch.req_ids`, `query_start_loc`), their prompt lengths and the
steer and capture keys their sampling parameters carry (`extra_args`), and lays the rows out
(`interp.engines.token_masks`). Each request's steers then apply at the positions and phases
`interp.steer.Steer` defines, so requests of one batch may carry different directions and strengths.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from interp.engines.engine_capture import CaptureAccumulator
from interp.engines.token_masks import StepLayout, step_layout
from interp.errors import InterpError
from interp.hooks.names import parse_hook
from interp.models.passes import StepMasks
from interp.steer.steering import PreparedSteer, Steer

STEER_KEY = "interp_steer"  # SamplingParams.extra_args: which steer set a request carries
CAPTURE_KEY = "interp_capture"  # ... and under which key its capture is kept
ENGINE_HOOK_KINDS = ("resid_pre", "resid_post")


def decoder_layers(model: nn.Module) -> nn.ModuleList:
    """The decoder layers of a vLLM model: its largest `layers` ModuleList."""
    candidates = [
        module
        for name, module in model.named_modules()
        if name.split(".")[-1] == "layers" and isinstance(module, nn.ModuleList)
    ]
    if not candidates:
        raise InterpError(
            f"found no decoder layers in the vLLM model {type(model).__name__}",
            fix="use --engine hf for this model",
        )
    return max(candidates, key=len)


def stream_point(hook: str, n_layers: int) -> tuple[int, str]:
    """Where a residual-stream hook is read in the engine: after layer `l` (resid_post of l, or
    resid_pre of l+1) as (l, name), or before the first layer as (-1, name)."""
    point = parse_hook(hook, n_layers)
    if point.kind not in ENGINE_HOOK_KINDS:
        raise InterpError(
            f"the vLLM engine steers and captures only the residual stream, not {hook!r}",
            fix="use hook_resid_pre or hook_resid_post, or --engine hf",
        )
    after = point.layer if point.kind == "resid_post" else point.layer - 1
    return after, point.name


class EngineInterventions:
    """The hooks of one worker and what they apply: steer sets by key, capture hook names."""

    def __init__(self, runner: Any) -> None:
        self.runner = runner
        self.model = runner.get_model()
        self.layers = decoder_layers(self.model)
        self.n_layers = len(self.layers)
        self.steers: dict[str, list[tuple[int, str, Steer]]] = {}
        self._prepared: dict[tuple[int, torch.device], PreparedSteer] = {}
        self.capture_hooks: list[tuple[int, str]] = []
        self.accumulator = CaptureAccumulator()
        self.layout: StepLayout | None = None
        self.steer_keys: list[str | None] = []
        self.capture_keys: list[str | None] = []
        self._masks: dict[str, StepMasks] = {}
        self.points: dict[int, list[str]] = {}  # hook names read after each layer, in order
        self.handles = [self.model.register_forward_pre_hook(self._begin, with_kwargs=True)]
        for index, layer in enumerate(self.layers):
            if type(layer).__name__ == "PPMissingLayer":  # held by another pipeline rank
                continue
            self.handles.append(layer.register_forward_hook(self._after_layer_hook(index)))
            if index == 0:
                self.handles.append(layer.register_forward_pre_hook(self._before_first))

    @property
    def d_model(self) -> int:
        return int(self.runner.model_config.get_hidden_size())

    # ---- what to apply ---------------------------------------------------------------------
    def set_steers(self, table: dict[str, list[Steer]]) -> None:
        prepared: dict[str, list[tuple[int, str, Steer]]] = {}
        for key, steers in table.items():
            prepared[key] = []
            for steer in steers:
                if steer.vectors.shape[-1] != self.d_model:
                    raise InterpError(
                        f"a steering direction at {steer.hook} has width {steer.vectors.shape[-1]} but the model's is {self.d_model}",
                        fix="use directions extracted from (or aligned to) this model",
                    )
                after, name = stream_point(steer.hook, self.n_layers)
                prepared[key].append((after, name, steer))
        self.steers, self._prepared = prepared, {}
        self._index_points()

    def set_capture(self, hooks: list[str]) -> None:
        self.capture_hooks = [stream_point(h, self.n_layers) for h in hooks]
        self._index_points()

    def _index_points(self) -> None:
        """The hook names read after each layer, resid_post before the next resid_pre (the order
        hooks fire on the hf path)."""
        points: dict[int, set[str]] = {}
        for after, name, _ in (s for steers in self.steers.values() for s in steers):
            points.setdefault(after, set()).add(name)
        for after, name in self.capture_hooks:
            points.setdefault(after, set()).add(name)
        self.points = {
            after: sorted(names, key=lambda n: (0 if n.endswith("resid_post") else 1, n))
            for after, names in points.items()
        }

    def take_captures(self) -> dict[str, dict]:
        return self.accumulator.take()

    def remove(self) -> None:
        for handle in self.handles:
            handle.remove()
        self.handles = []

    # ---- the hooks -------------------------------------------------------------------------
    def _begin(self, module: nn.Module, args: tuple, kwargs: dict) -> None:
        self.layout, self._masks = None, {}
        if not self.steers and not self.capture_hooks:
            return
        positions = kwargs.get("positions", args[1] if len(args) > 1 else None)
        batch = self.runner.input_batch
        n = int(batch.num_reqs)
        if positions is None or n == 0 or positions.ndim != 1:
            return
        starts = self.runner.query_start_loc.cpu[: n + 1]
        if int(starts[-1]) > positions.shape[0]:
            return  # a dummy pass (warm-up, profiling): no requests of ours
        states = [self.runner.requests.get(r) for r in batch.req_ids[:n]]
        extras = [
            (s.sampling_params.extra_args or {}) if s and s.sampling_params else {} for s in states
        ]
        self.steer_keys = [e.get(STEER_KEY) for e in extras]
        self.capture_keys = [e.get(CAPTURE_KEY) for e in extras]
        if not any(k in self.steers for k in self.steer_keys) and not any(self.capture_keys):
            return
        lengths = torch.tensor([s.num_prompt_tokens if s else 0 for s in states])
        self.layout = step_layout(positions.cpu(), starts, lengths, positions.shape[0])

    def _masks_of(self, key: str, device: torch.device) -> StepMasks:
        """The pass's masks restricted to the requests carrying steer set `key`, on `device`."""
        masks = self._masks.get(key)
        if masks is None:
            assert self.layout is not None
            chosen = torch.tensor([k == key for k in self.steer_keys], dtype=torch.bool)
            m = self.layout.of_requests(chosen)
            masks = StepMasks(m.prompt.to(device), m.last_prompt.to(device), m.generated.to(device))
            self._masks[key] = masks
        return masks

    def _prepared_on(self, steer: Steer, device: torch.device) -> PreparedSteer:
        """A steer's operands on `device`, made once per steer set."""
        prepared = self._prepared.get((id(steer), device))
        if prepared is None:
            prepared = self._prepared[(id(steer), device)] = PreparedSteer.make(steer, device)
        return prepared

    def _apply(self, stream: Tensor, after: int) -> tuple[Tensor, bool]:
        """Steer and capture the stream at the points read after layer `after`."""
        changed = False
        for name in self.points.get(after, []):
            for key in dict.fromkeys(self.steer_keys):
                if key is None:
                    continue
                for at, hook, steer in self.steers.get(key, []):
                    if at != after or hook != name:
                        continue
                    select = steer.select(self._masks_of(key, stream.device))
                    if bool(select.any()):
                        prepared = self._prepared_on(steer, stream.device)
                        stream = prepared.apply(stream[None], select, inplace=False)[0]
                        changed = True
            if any(at == after and hook == name for at, hook in self.capture_hooks):
                assert self.layout is not None
                self.accumulator.add(name, stream, self.layout, self.capture_keys)
        return stream, changed

    def _before_first(self, module: nn.Module, args: tuple) -> tuple | None:
        if self.layout is None or -1 not in self.points:
            return None
        positions, hidden, residual = args[0], args[1], args[2] if len(args) > 2 else None
        stream = hidden if residual is None else hidden + residual
        stream, changed = self._apply(stream, -1)
        if not changed:
            return None
        return (positions, stream, None if residual is None else torch.zeros_like(residual))

    def _after_layer_hook(self, index: int):
        def after_layer(module: nn.Module, args: tuple, output: Any) -> Any:
            if self.layout is None or index not in self.points:
                return None
            hidden, residual = output
            stream, changed = self._apply(hidden + residual, index)
            return (stream, torch.zeros_like(residual)) if changed else None

        return after_layer
