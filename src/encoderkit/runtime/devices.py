"""Which device torch models run on: ``auto`` (a CUDA GPU when torch sees one, else the CPU), ``cpu``,
``cuda`` or ``cuda:N``.

The process has one default device, set by ``--device`` on every command that runs a model (or the
``ENCODERKIT_DEVICE`` environment variable, which Ray workers and subprocesses inherit); the API's
``device=`` arguments override it per call. On a machine without a visible GPU ``auto`` is the CPU and
nothing CUDA-related is imported beyond torch itself; asking for ``cuda`` there is one clear error.

>>> parse_device("CUDA:1"), parse_device(None), parse_device("cpu")
('cuda:1', 'auto', 'cpu')
>>> parse_device("gpu")
Traceback (most recent call last):
...
encoderkit.errors.EncoderkitError: unknown device 'gpu'; use auto, cpu, cuda or cuda:N
>>> resolve_device("cpu"), autocast_dtype_name("cpu")
('cpu', 'bfloat16')
"""

from __future__ import annotations

import os
import re

from ..errors import EncoderkitError

DEVICE_ENV = "ENCODERKIT_DEVICE"
DEVICES = ("auto", "cpu", "cuda", "cuda:N")
_SPEC = re.compile(r"^(auto|cpu|cuda(:\d+)?)$")


def parse_device(spec: str | None) -> str:
    """The normalised device spec (None -> ``auto``); an unknown one is an error naming the choices."""
    if spec is None or not str(spec).strip():
        return "auto"
    s = str(spec).strip().lower()
    if not _SPEC.match(s):
        raise EncoderkitError(f"unknown device '{spec}'", hint="use auto, cpu, cuda or cuda:N")
    return s


def cuda_count() -> int:
    """CUDA GPUs torch sees (0 with the CPU wheel or no driver)."""
    import torch

    try:
        return int(torch.cuda.device_count()) if torch.cuda.is_available() else 0
    except Exception:  # a broken driver is no GPU
        return 0


def resolve_device(spec: str | None = None) -> str:
    """The concrete device (``cpu`` or ``cuda:N``) for ``spec`` (None: the process default, see
    :func:`default_device`). ``cuda`` without a visible GPU, or ``cuda:N`` past the last one, is refused
    with one line."""
    s = parse_device(spec if spec is not None else default_device())
    if s == "cpu":
        return "cpu"
    n = cuda_count()
    if s == "auto":
        return "cuda:0" if n else "cpu"
    index = int(s.split(":")[1]) if ":" in s else 0
    if not n:
        raise EncoderkitError(
            f"device '{s}' was asked for, but torch sees no CUDA GPU here",
            hint="use --device cpu (or auto); with a GPU, install a CUDA build of torch (docs/gpu.md)",
        )
    if index >= n:
        raise EncoderkitError(f"device '{s}' does not exist: torch sees {n} GPU(s)", hint=f"use cuda:0 to cuda:{n - 1}")
    return f"cuda:{index}"


def default_device() -> str:
    """The process default: what :func:`use_device` set, else ``ENCODERKIT_DEVICE``, else ``auto``."""
    return parse_device(os.environ.get(DEVICE_ENV))


def use_device(spec: str | None) -> str:
    """Make ``spec`` the process default, checked now so a bad ``--device`` fails before any work: a named
    GPU is resolved (``cuda:N``, or the one-line error); ``auto`` and ``cpu`` are returned as they are,
    without importing torch (a search on ONNX Runtime never needs it)."""
    s = parse_device(spec)
    resolved = resolve_device(s) if is_cuda(s) else s
    os.environ[DEVICE_ENV] = s
    return resolved


def runtime_device(onnx: bool, device: str | None = None) -> str:
    """Where a model on an ONNX (``onnx``) or torch runtime runs for ``device`` (None: the process
    default): an ONNX runtime is the CPU's fast path, so it stays on the CPU unless a GPU is asked for
    by name (and then runs as torch there); ``auto`` with ONNX does not even import torch.

    >>> runtime_device(True, "auto"), runtime_device(False, "cpu")
    ('cpu', 'cpu')
    """
    asked = parse_device(device if device is not None else default_device())
    if onnx and not is_cuda(asked):
        return "cpu"
    return resolve_device(asked)


def is_cuda(device: str) -> bool:
    """Whether ``device`` is a GPU.

    >>> is_cuda("cuda:0"), is_cuda("cpu")
    (True, False)
    """
    return str(device).startswith("cuda")


def autocast_dtype_name(device: str) -> str:
    """The reduced precision mixed-precision training and fast encoding use on ``device``: bfloat16 on the
    CPU and on GPUs that support it, float16 (with loss scaling in training) on older GPUs."""
    if not is_cuda(device):
        return "bfloat16"
    import torch

    return "bfloat16" if torch.cuda.is_bf16_supported() else "float16"


def describe_device(device: str) -> str:
    """A line for run summaries: ``cpu (2 threads)`` or ``cuda:0 (NVIDIA H100, 79 GiB)``."""
    import torch

    if not is_cuda(device):
        return f"cpu ({torch.get_num_threads()} threads)"
    props = torch.cuda.get_device_properties(torch.device(device))
    return f"{device} ({props.name}, {props.total_memory / 2**30:.0f} GiB)"
