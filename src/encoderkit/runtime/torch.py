"""Torch execution of a transformers model on numpy inputs, under ``torch.inference_mode``.

The same interface as :class:`encoderkit.runtime.onnx.OnnxRunner` (``run(feeds) -> np.ndarray``), so a
model head never branches on the runtime.
"""

from __future__ import annotations

import inspect

import numpy as np


class TorchRunner:
    """Runs ``module(**inputs).<output>`` (e.g. ``last_hidden_state`` or ``logits``; ``output=None``: the
    module returns the tensor itself) as float32 numpy, in eval mode (a module being trained goes back to
    training mode afterwards). Inputs are the feeds the module's ``forward`` takes by name (token ids,
    masks, and a head's own inputs such as case features or marker positions).
    ``bf16``: under CPU autocast to bfloat16 (matrix products in bf16, accumulations and layer norms in
    fp32): about twice as fast where the CPU has AVX512-BF16/AMX, with cosine to fp32 above 0.999.
    ``device``: where the module runs (``cpu``, ``cuda:N``; see :mod:`.devices`; None: where its weights
    are): the module is moved there, inputs go from pinned memory, outputs come back as numpy; on a GPU ``bf16`` autocasts to the
    card's reduced precision (bfloat16, or float16 where it has no bfloat16)."""

    runtime = "torch"

    def __init__(self, module, output: str | None, *, bf16: bool = False, device: str | None = None):
        self.module = module
        self.output = output
        self.bf16 = bf16
        if bf16:
            self.runtime = "torch-bf16"
        if device is None:  # a module built elsewhere (e.g. being trained) runs where it is
            first = next(iter(module.parameters()), None)
            device = str(first.device) if first is not None else "cpu"
        elif str(device) != "cpu":
            module.to(device)
        self.device = str(device)
        params = inspect.signature(module.forward).parameters
        self.input_names = [n for n, p in params.items() if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]

    def run(self, feeds: dict[str, np.ndarray]) -> np.ndarray:
        import torch

        from .devices import autocast_dtype_name

        inputs = {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in feeds.items() if k in self.input_names}
        if self.device != "cpu":
            inputs = {k: v.pin_memory().to(self.device, non_blocking=True) for k, v in inputs.items()}
        kind = "cuda" if self.device.startswith("cuda") else "cpu"
        dtype = getattr(torch, autocast_dtype_name(self.device))
        was_training = self.module.training
        self.module.eval()
        try:
            with torch.inference_mode(), torch.autocast(kind, dtype=dtype, enabled=self.bf16):
                out = self.module(**inputs)
        finally:
            self.module.train(was_training)
        if self.output is not None:
            out = getattr(out, self.output)
        return out.float().cpu().numpy()
