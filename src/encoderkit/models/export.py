"""ONNX export of encoders, cross-encoders, classifiers and ColBERT models (run them with ONNX Runtime:
faster on small CPU batches, and no torch import at start-up, so a CLI search starts in about a second
instead of four).

For ColBERT (``kind="colbert"``) the graph is the transformer's token states; the projection and the
L2 normalisation (a 384 x 128 matrix product) run in numpy on either runtime, and the gate compares the
final token vectors of queries (with their [MASK] augmentation) and documents with torch's.

The route that works with this stack (see STACK-NOTES: optimum's exporter does not install with
transformers 5): ``torch.onnx.export`` with the TorchScript exporter (``dynamo=False``) of the model
loaded with eager attention, so ONNX Runtime can fuse attention; optional dynamic int8 quantization
with per-channel weights (``onnxruntime.quantization.quantize_dynamic``), which keeps cosine to fp32
around 0.99 where per-tensor int8 drops to ~0.9.

Exports live in ``$ENCODERKIT_CACHE/onnx/<weights fingerprint>-<kind>/`` (never inside the model's own
folder) with ``export.json`` recording the source, opset, quantization and the measured agreement
with the torch model on probe texts. A classifier (:mod:`.classifier`) exports as one graph, encoder
and head together (logits out); its agreement check is the share of probe texts (the task texts
saved with the classifier, plus generic ones) that get the same predicted labels, multi-label
thresholds included: an fp32 export must reproduce the logits, an int8 one must agree on at least
``min_agreement`` of the probes.

>>> path = export_onnx("default", quantize="int8")          # doctest: +SKIP
>>> enc = Encoder.load("default", backend="onnx")           # doctest: +SKIP
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np

from ..errors import EncoderkitError
from ..runtime.onnx import export_folder
from .layout import kind_of, read_st_layout
from .ref import resolve_model, weights_fingerprint

PROBES = [
    "A man is playing a guitar.",
    "How do vaccines train the immune system?",
    "The quarterly report shows revenue grew by twelve percent while costs fell. " * 6,
    "ok",
]
TOKENIZER_FILES = (
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "vocab.txt",
    "config.json",
    "sentence_bert_config.json",
    "modules.json",
    "config_sentence_transformers.json",
)


def export_dir(spec: str | Path, kind: str | None = None, quantize: str | None = None) -> tuple[Path, Path, str]:
    """(model path, export folder, kind) for a model spec, without exporting anything."""
    ref = resolve_model(spec)
    kind = kind or kind_of(ref.path)
    if kind == "classifier":
        from .classifier import classifier_fingerprint

        return ref.path, export_folder(classifier_fingerprint(ref.path), kind, quantize), kind
    return ref.path, export_folder(weights_fingerprint(ref.path), kind, quantize), kind


def _graph(model_path: Path, kind: str):
    """(torch module to trace, its tokenizer, input names, output name, transformer folder) for a kind."""
    import torch
    from transformers import AutoModel, AutoModelForSequenceClassification, AutoTokenizer

    layout = read_st_layout(model_path)
    tpath = layout["transformer_path"] if layout else model_path
    if layout is not None and layout["unsupported"]:
        raise EncoderkitError(f"{model_path} has modules ONNX export does not cover ({', '.join(layout['unsupported'])})")
    tok = AutoTokenizer.from_pretrained(tpath)
    names = [n for n in ("input_ids", "attention_mask", "token_type_ids") if n in tok.model_input_names]
    if kind == "classifier":
        from safetensors.numpy import load_file

        from .classifier import HEAD, read_config
        from .classifier_module import ClassifierModule

        cfg = read_config(model_path)
        body = AutoModel.from_pretrained(tpath, attn_implementation="eager").eval()
        model = ClassifierModule(body, len(cfg["labels"]), pooling=cfg["pooling"], normalize=cfg["normalize"]).eval()
        head = load_file(str(model_path / HEAD))
        model.set_head(head["weight"], head["bias"])
    else:
        cls = AutoModelForSequenceClassification if kind == "cross-encoder" else AutoModel
        model = cls.from_pretrained(tpath, attn_implementation="eager").eval()
    output = "last_hidden_state" if kind in ("encoder", "colbert") else "logits"

    class Wrapper(torch.nn.Module):
        def __init__(self, m):
            super().__init__()
            self.m = m

        def forward(self, *args):
            return getattr(self.m(**dict(zip(names, args))), output)

    return Wrapper(model), tok, names, output, tpath, layout


def export_onnx(
    spec: str | Path,
    *,
    kind: str | None = None,
    quantize: str | None = None,
    opset: int = 17,
    force: bool = False,
    min_agreement: float = 0.9,
) -> Path:
    """Export a model to ONNX (fp32, or int8 with ``quantize="int8"``); returns the export folder.
    ``min_agreement``: a quantized classifier must give the same predictions on at least this share of
    its probe texts, else the export is refused."""
    if quantize not in (None, "int8"):
        raise EncoderkitError(f"unknown quantization '{quantize}'", hint="use int8 or leave it out")
    from .head_export import HEAD_KINDS, export_head_onnx
    from .head_io import read_card

    if read_card(resolve_model(spec).path).get("kind") in HEAD_KINDS:  # extraction heads: tagger, span-pair
        return export_head_onnx(spec, quantize=quantize, force=force, opset=opset)
    model_path, out, kind = export_dir(spec, kind, quantize)
    if kind not in ("encoder", "cross-encoder", "classifier", "colbert"):
        raise EncoderkitError(f"unknown model kind '{kind}' for export", hint="use encoder, cross-encoder, classifier or colbert")
    if kind == "colbert" and quantize:
        raise EncoderkitError("ColBERT models export in fp32 only", hint="leave out --quantize")
    if (out / "model.onnx").is_file() and not force:
        return out
    import torch

    wrapper, tok, names, output, tpath, layout = _graph(model_path, kind)
    sample = tok(["hello world", "a longer second example sentence"], padding=True, return_tensors="pt")
    tmp = out.with_name(out.name + f".tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    axes = {n: {0: "batch", 1: "sequence"} for n in names}
    axes[output] = {0: "batch", 1: "sequence"} if output == "last_hidden_state" else {0: "batch"}
    fp32 = tmp / ("model_fp32.onnx" if quantize else "model.onnx")
    import warnings

    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tracer notes about constant shapes: checked by agreement_with_torch
        torch.onnx.export(
            wrapper,
            tuple(sample[n] for n in names),
            str(fp32),
            input_names=names,
            output_names=[output],
            dynamic_axes=axes,
            opset_version=opset,
            dynamo=False,
        )
    if quantize:
        import logging

        from onnxruntime.quantization import QuantType, quantize_dynamic

        logging.getLogger().setLevel(logging.ERROR)  # "consider pre-processing" advice from the quantizer
        quantize_dynamic(str(fp32), str(tmp / "model.onnx"), per_channel=True, weight_type=QuantType.QInt8)
        fp32.unlink()
    for name in TOKENIZER_FILES:
        for src in (tpath / name, model_path / name):
            if src.is_file():
                shutil.copy(src, tmp / name)
                break
    if layout and layout.get("pooling") and (model_path / "1_Pooling" / "config.json").is_file():
        (tmp / "1_Pooling").mkdir(exist_ok=True)
        shutil.copy(model_path / "1_Pooling" / "config.json", tmp / "1_Pooling" / "config.json")
    del wrapper  # the traced copy; compare against the model as encoderkit loads it for serving
    agreement = agreement_with_torch(model_path, tmp, kind)
    problem = _gate(agreement, quantize, min_agreement)
    if problem:
        shutil.rmtree(tmp, ignore_errors=True)  # never install an export that does not reproduce the model
        raise EncoderkitError(
            f"the ONNX {quantize or 'fp32'} export of {model_path} {problem} ({agreement})",
            hint="use the torch backend (or the fp32 export) for this model",
        )
    (tmp / "export.json").write_text(
        json.dumps(
            {
                "source": str(model_path),
                "fingerprint": out.name.split("-")[0],
                "kind": kind,
                "opset": opset,
                "quantize": quantize,
                "per_channel": bool(quantize),
                "inputs": names,
                "output": output,
                **agreement,
            },
            indent=1,
        )
    )
    shutil.rmtree(out, ignore_errors=True)
    os.replace(tmp, out)
    return out


def _gate(agreement: dict, quantize: str | None, min_agreement: float) -> str | None:
    """Why an export must be refused, or None. fp32 reproduces torch; int8 classifiers keep their predictions."""
    if not quantize:
        if agreement.get("min_cosine_to_torch", 1.0) < 0.9999:
            return "does not reproduce the torch model"
        scale = max(1.0, float(agreement.get("max_abs_logit", 1.0)))
        if agreement.get("max_abs_logit_diff", 0.0) > 1e-3 * scale:
            return "does not reproduce the torch model"
        return None
    if agreement.get("prediction_agreement", 1.0) < min_agreement:
        return f"changes predictions on more than {1 - min_agreement:.0%} of the probe texts"
    return None


def agreement_with_torch(model_path: Path, folder: Path, kind: str) -> dict:
    """How closely the export in ``folder`` reproduces the torch model on probe texts (padded batches)."""
    from .backbone import Backbone

    if kind == "classifier":
        return _classifier_agreement(model_path, folder)
    if kind == "cross-encoder":
        from .cross_encoder import Reranker

        ref = Reranker.load(model_path)
        got = Reranker(
            Backbone.load(ref.ref, head="sequence-classification", runtime="onnx", onnx_folder=folder),
            ref.ref,
            max_length=ref.max_length,
            activation=ref.activation,
        )
        pairs = [(PROBES[1], p) for p in PROBES]
        diff = np.abs(ref.score_pairs(pairs, raw=True) - got.score_pairs(pairs, raw=True))
        return {"max_abs_logit_diff": float(diff.max())}
    if kind == "colbert":
        from .colbert import ColBERT

        ref = ColBERT.load(model_path)
        got = ColBERT.load(model_path, backend="onnx", onnx_folder=folder)
        qa, mask = ref.encode_queries(PROBES)
        qb, _ = got.encode_queries(PROBES)
        cos = [(qa * qb).sum(-1)[mask]]
        cos += [(a * b).sum(-1) for a, b in zip(ref.encode_documents(PROBES), got.encode_documents(PROBES))]
        return {"min_cosine_to_torch": float(np.concatenate(cos).min())}
    from .encoder import Encoder

    ref = Encoder.load(model_path)
    got = Encoder.from_backbone(Backbone.load(ref.ref, runtime="onnx", onnx_folder=folder), ref)
    cos = (ref.encode(PROBES, batch_size=4) * got.encode(PROBES, batch_size=4)).sum(1)
    return {"min_cosine_to_torch": float(cos.min())}


def _classifier_agreement(model_path: Path, folder: Path) -> dict:
    """Same predicted labels (thresholds and "none of these" included) on the classifier's probe texts."""
    from .backbone import Backbone
    from .classifier import PROBES as PROBE_FILE
    from .classifier import Classifier

    ref = Classifier.load(model_path)
    got = Classifier(
        Backbone.load(ref.ref, head="classifier", runtime="onnx", onnx_folder=folder),
        ref.ref,
        ref.config,
        path=model_path,
        fingerprint=ref.fingerprint,
    )
    saved = json.loads((model_path / PROBE_FILE).read_text()) if (model_path / PROBE_FILE).is_file() else []
    texts = [t for t in saved if isinstance(t, str) and t.strip()] + PROBES
    za, zb = ref.logits(texts, batch_size=8), got.logits(texts, batch_size=8)
    pa, pb = ref.probabilities(logits=za), got.probabilities(logits=zb)
    same = (ref.decide(pa, za) == got.decide(pb, zb)).all(axis=1)
    return {
        "probe_texts": len(texts),
        "prediction_agreement": float(same.mean()),
        "max_abs_logit_diff": float(np.abs(za - zb).max()),
        "max_abs_logit": float(np.abs(za).max()),
        "max_abs_prob_diff": float(np.abs(pa - pb).max()),
    }


def ensure_export(spec: str | Path, kind: str, backend: str) -> None:
    """Make the ONNX export a backend needs (cached; nothing to do for torch). For callers that choose
    a backend on a user's behalf: loading a model never exports by itself."""
    if backend in ("onnx", "onnx-int8"):
        export_onnx(spec, kind=kind, quantize="int8" if backend == "onnx-int8" else None)
