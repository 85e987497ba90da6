"""ONNX Runtime execution: a session plus the model's fast tokenizer (``tokenizers``), no torch needed.

Exports are made by :mod:`encoderkit.models.export` (above the models) and cached under
``$ENCODERKIT_CACHE/onnx/<weights fingerprint>-<kind>[-int8]/``; this module only runs them.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np


def onnx_cache() -> Path:
    root = os.environ.get("ENCODERKIT_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "encoderkit")
    return Path(root) / "onnx"



class OnnxRunner:
    """An ONNX Runtime session plus the model's fast tokenizer (``tokenizers``, no transformers/torch)."""

    def __init__(self, folder: Path, threads: int | None = None):
        import onnxruntime as ort
        from tokenizers import Tokenizer

        from .threads import n_threads

        self.folder = Path(folder)
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads or n_threads()
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self.session = ort.InferenceSession(str(self.folder / "model.onnx"), opts, providers=["CPUExecutionProvider"])
        self.inputs = [i.name for i in self.session.get_inputs()]
        self.tokenizer = Tokenizer.from_file(str(self.folder / "tokenizer.json"))
        cfg = json.loads((self.folder / "tokenizer_config.json").read_text()) if (self.folder / "tokenizer_config.json").is_file() else {}
        pad = cfg.get("pad_token", "[PAD]")
        pad = pad.get("content", "[PAD]") if isinstance(pad, dict) else pad
        self.pad_id = self.tokenizer.token_to_id(pad) or 0
        self.pad_token = pad

    def _encode(self, batch, max_length: int):
        self.tokenizer.enable_truncation(max_length)
        self.tokenizer.enable_padding(pad_id=self.pad_id, pad_token=self.pad_token)
        enc = self.tokenizer.encode_batch(batch)
        feeds = {"input_ids": np.array([e.ids for e in enc], dtype=np.int64),
                 "attention_mask": np.array([e.attention_mask for e in enc], dtype=np.int64),
                 "token_type_ids": np.array([e.type_ids for e in enc], dtype=np.int64)}
        return {k: v for k, v in feeds.items() if k in self.inputs}

    def run_texts(self, texts, max_length: int):
        feeds = self._encode(list(texts), max_length)
        return self.session.run(None, feeds)[0], feeds["attention_mask"]

    def run_pairs(self, pairs, max_length: int = 512):
        return self.session.run(None, self._encode([tuple(p) for p in pairs], max_length))[0]

    @property
    def info(self) -> dict:
        return json.loads((self.folder / "export.json").read_text())
