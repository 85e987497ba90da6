"""ONNX export of the extraction heads (tagger, span-pair): the whole module (encoder + head) as one
graph with one logits output, traced with the TorchScript exporter from a copy loaded with eager
attention (so ONNX Runtime can fuse it), optionally quantized to per-channel dynamic int8, the same
route as :mod:`.export` (see STACK-NOTES). The fp32 export must reproduce torch (max |logit diff| <=
1e-3 on probe texts) or it is not installed. Exports live in the cache under the fingerprint of the
transformer weights + head tensors (``<fp>-tagger[-int8]``, ``<fp>-span-pair[-int8]``).

>>> export_head_onnx("runs/ner", quantize="int8")        # doctest: +SKIP
"""

from __future__ import annotations

import json
import os
import shutil
import warnings
from pathlib import Path

import numpy as np

from ..errors import EncoderkitError
from ..runtime.onnx import export_folder
from .head_io import head_fingerprint, load_head_tensors, read_card
from .ref import resolve_model

HEAD_KINDS = ("tagger", "span-pair", "extraction")
PROBES = [
    "Angela Merkel met Emmanuel Macron in Paris on Tuesday, the German government said.",
    "The company fabricates plastic chairs.",
    "short",
    "The quarterly report of ACME Corp shows revenue grew by twelve percent while costs fell. " * 12,
]


def _module(path: Path, card: dict):
    from transformers import AutoModel
    from transformers.utils import logging as hf_logging

    from .heads_torch import SpanPairModule, TaggerModule
    from .layout import transformer_dir

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    encoder = AutoModel.from_pretrained(transformer_dir(path), attn_implementation="eager")
    if card["kind"] == "tagger":
        m = TaggerModule(encoder, len(card["labels"]), case_features=card["case_features"], crf=card.get("crf"))
    else:
        m = SpanPairModule(encoder, {k: len(v) for k, v in card["heads"].items()}, n_args=card["n_args"])
    m.load_state_dict(load_head_tensors(path), strict=False)
    return m.eval()


def _probe_features(path: Path, card: dict) -> list[dict]:
    """Feature batches of the probe texts, as the head's own loader builds them (torch side)."""
    if card["kind"] == "tagger":
        from ..data.words import words
        from .tagger import Tagger

        t = Tagger.load(path)
        seen = []
        orig = t.run
        t.run = lambda feats: (seen.append(feats), orig(feats))[1]
        t.emissions([[w for w, _ in words(p)] for p in PROBES], batch_size=2)
        return seen
    from .span_pair import SpanPairClassifier

    c = SpanPairClassifier.load(path)
    items = [(PROBES[0], (0, 13), (18, 33)), (PROBES[1], (4, 11), (31, 37)), (PROBES[3][:300], (27, 36), (60, 67))]
    if c.n_args == 1:
        items = [(t, a) for t, a, _ in items]
    return [c.features([e for e in (c.encode(*it) for it in items) if e is not None])]


def export_head_onnx(spec: str | Path, *, quantize: str | None = None, force: bool = False, opset: int = 17) -> Path:
    """Export a tagger or span-pair folder (or every component of an extraction folder); returns the
    export folder (of the first component for an extraction model)."""
    import torch

    if quantize not in (None, "int8"):
        raise EncoderkitError(f"unknown quantization '{quantize}'", hint="use int8 or leave it out")
    path = resolve_model(spec).path
    card = read_card(path)
    if card.get("kind") == "extraction":
        outs = [
            export_head_onnx(path / sub, quantize=quantize, force=force, opset=opset)
            for sub in (card.get("components") or {}).values()
        ]
        if not outs:
            raise EncoderkitError(f"'{path}' has no components to export")
        return outs[0]
    kind = card.get("kind")
    if kind not in ("tagger", "span-pair"):
        raise EncoderkitError(f"'{path}' is not a tagger or span-pair model")
    out = export_folder(head_fingerprint(path), kind, quantize)
    if (out / "model.onnx").is_file() and not force:
        return out
    from .heads_torch import SpanPairModule  # noqa: F401  (torch modules)
    from .span_pair import INPUTS as PAIR_INPUTS
    from .tagger import INPUTS as TAG_INPUTS

    names = TAG_INPUTS if kind == "tagger" else PAIR_INPUTS
    module = _module(path, card)
    feats = _probe_features(path, card)
    sample = tuple(torch.from_numpy(feats[0][n]) for n in names)
    tmp = out.with_name(out.name + f".tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    fp32 = tmp / ("model_fp32.onnx" if quantize else "model.onnx")
    axes = {
        n: ({0: "batch", 1: "sequence"} if n in ("input_ids", "attention_mask", "token_type_ids", "case_ids") else {0: "batch"})
        for n in names
    }
    axes["logits"] = {0: "batch", 1: "sequence"} if kind == "tagger" else {0: "batch"}
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            module,
            sample,
            str(fp32),
            input_names=names,
            output_names=["logits"],
            dynamic_axes=axes,
            opset_version=opset,
            dynamo=False,
        )
    if quantize:
        import logging

        from onnxruntime.quantization import QuantType, quantize_dynamic

        logging.getLogger().setLevel(logging.ERROR)
        quantize_dynamic(str(fp32), str(tmp / "model.onnx"), per_channel=True, weight_type=QuantType.QInt8)
        fp32.unlink()
    from ..runtime.onnx import OnnxRunner
    from .heads_torch import torch_runner

    ref_run, got_run = torch_runner(_module(path, card), names), OnnxRunner(tmp)
    diff = max(float(np.abs(ref_run(f) - got_run.run(f)).max()) for f in feats)
    if not quantize and diff > 1e-3:
        shutil.rmtree(tmp, ignore_errors=True)
        raise EncoderkitError(
            f"the ONNX export of {path} does not reproduce torch (max logit diff {diff:.2g})", hint="use the torch backend"
        )
    (tmp / "export.json").write_text(
        json.dumps(
            {
                "source": str(path),
                "fingerprint": head_fingerprint(path),
                "kind": kind,
                "opset": opset,
                "quantize": quantize,
                "per_channel": bool(quantize),
                "inputs": names,
                "max_abs_logit_diff": round(diff, 6),
            },
            indent=1,
        )
    )
    shutil.rmtree(out, ignore_errors=True)
    os.replace(tmp, out)
    return out
