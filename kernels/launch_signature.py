"""A captured kernel launch as `triton.compile` takes it, for compiling for a GPU without one.

The sm_90 compile tests (`tests/kernels/conftest.py`) and the compile report
(`benchmarks/compile_report.py`) record launches instead of running them, then compile each with
`ASTSource(fn, signature, constants, attrs)`; `launch_signature` derives those arguments from the
launch's own arguments the way Triton's JIT specialises them.
"""

import inspect
from typing import Any, NamedTuple

import torch

from .dispatch import tl

__all__ = ["PTR_TYPES", "LaunchSignature", "launch_signature"]

# Triton's pointer type for each tensor dtype a kernel is launched with.
PTR_TYPES = {
    torch.float32: "*fp32",
    torch.float16: "*fp16",
    torch.bfloat16: "*bf16",
    torch.int64: "*i64",
    torch.int32: "*i32",
    torch.uint8: "*u8",
}


class LaunchSignature(NamedTuple):
    signature: dict[str, str]  # parameter -> Triton type ("constexpr" for constants)
    constants: dict[str, Any]  # constexpr parameters and ints equal to 1
    attrs: dict[tuple[int, ...], list[list[Any]]]  # (index,) -> [["tt.divisibility", 16]]
    options: dict[str, Any]  # launch options such as num_warps (keywords that are no parameter)


def launch_signature(kernel: Any, args: tuple, kwargs: dict) -> LaunchSignature:
    """Signature, constants and divisibility attributes as Triton's JIT specialises them: ints
    equal to 1 become constants, ints and pointers divisible by 16 are marked so. `kernel` is a
    `LazyKernel` (its `fn` is the undecorated function)."""
    params = inspect.signature(kernel.fn).parameters
    values = dict(zip(params, args, strict=False)) | {
        k: v for k, v in kwargs.items() if k in params
    }
    signature: dict[str, str] = {}
    constants: dict[str, Any] = {}
    attrs: dict[tuple[int, ...], list[list[Any]]] = {}
    for i, (name, param) in enumerate(params.items()):
        value = values[name]
        if name == "PRECISION":
            value = "tf32x3"  # what dot_precision picks on an NVIDIA GPU
        if param.annotation is tl.constexpr or (isinstance(value, int) and value == 1):
            signature[name], constants[name] = "constexpr", value
        elif isinstance(value, torch.Tensor):
            signature[name] = PTR_TYPES[value.dtype]
            if value.data_ptr() % 16 == 0:
                attrs[(i,)] = [["tt.divisibility", 16]]
        elif isinstance(value, int):
            signature[name] = "i32" if -(2**31) <= value < 2**31 else "i64"
            if value % 16 == 0:
                attrs[(i,)] = [["tt.divisibility", 16]]
        else:
            signature[name] = "fp32"
    options = {k: v for k, v in kwargs.items() if k not in params}
    return LaunchSignature(signature, constants, attrs, options)
