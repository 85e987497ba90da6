"""Torch execution of a transformers model on numpy inputs, under ``torch.inference_mode``.

The same interface as :class:`encoderkit.runtime.onnx.OnnxRunner` (``run(feeds) -> np.ndarray``), so a
model head never branches on the runtime.
"""

from __future__ import annotations

import inspect

import numpy as np


class TorchRunner:
    """Runs ``module(**inputs).<output>`` (e.g. ``last_hidden_state`` or ``logits``) as float32 numpy."""

    runtime = "torch"

    def __init__(self, module, output: str):
        self.module = module
        self.output = output
        params = inspect.signature(module.forward).parameters
        self.input_names = [n for n in ("input_ids", "attention_mask", "token_type_ids") if n in params]

    def run(self, feeds: dict[str, np.ndarray]) -> np.ndarray:
        import torch

        inputs = {k: torch.from_numpy(v) for k, v in feeds.items() if k in self.input_names}
        with torch.inference_mode():
            out = getattr(self.module(**inputs), self.output)
        return out.float().numpy()
