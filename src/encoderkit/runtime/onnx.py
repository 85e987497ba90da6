"""ONNX Runtime execution: one inference session per exported model, numpy in, numpy out, no torch.

Exports are made by :mod:`encoderkit.models.export` (above the models, never as a side effect of
loading one) into ``$ENCODERKIT_CACHE/onnx/<weights fingerprint>-<kind>[-int8]/``; this module only
finds and runs them.

>>> export_folder("0123abcd", "encoder", "int8").name
'0123abcd-encoder-int8'
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np


def cache_root() -> Path:
    """``$ENCODERKIT_CACHE`` or ``~/.cache/encoderkit``: ONNX exports, mining caches."""
    return Path(os.environ.get("ENCODERKIT_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "encoderkit"))


def onnx_cache() -> Path:
    return cache_root() / "onnx"


def export_folder(fingerprint: str, kind: str, quantize: str | None = None) -> Path:
    """Where the export of a model with these weights lives (whether or not it exists yet)."""
    return onnx_cache() / (f"{fingerprint}-{kind}" + (f"-{quantize}" if quantize else ""))


class OnnxRunner:
    """An ONNX Runtime session (CPU provider, full graph optimisation, threads from the core count)."""

    runtime = "onnx"

    def __init__(self, folder: Path, threads: int | None = None):
        import onnxruntime as ort

        from .threads import n_threads

        self.folder = Path(folder)
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads or n_threads()  # one per core: a batch's matrix products in parallel
        opts.inter_op_num_threads = 1  # a transformer's graph is a chain: parallel operators gain nothing here
        opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        # Idle workers block instead of spinning: a spinning worker keeps a core busy after run() returns,
        # so the numpy / BLAS work that follows a query's encoding (MaxSim, PLAID, dense search) fights it
        # for the cores. On 2 cores: ColBERT query encoding p50 12.9 -> 7.4 ms, p95 36 -> 10 ms; retrieval
        # p50 49 -> 23 ms; batch document encoding unchanged (interleaved A/B, BENCHMARKS.md section 10).
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self.session = ort.InferenceSession(str(self.folder / "model.onnx"), opts, providers=["CPUExecutionProvider"])
        self.input_names = [i.name for i in self.session.get_inputs()]

    def run(self, feeds: dict[str, np.ndarray]) -> np.ndarray:
        """The model's first output for the given inputs (inputs it does not take are dropped)."""
        return self.session.run(None, {k: v for k, v in feeds.items() if k in self.input_names})[0]

    @property
    def info(self) -> dict:
        """What ``export.json`` records: source, kind, opset, quantization, agreement with torch."""
        return json.loads((self.folder / "export.json").read_text())
