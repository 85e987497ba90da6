"""ONNX export of every model kind: encoders, cross-encoders, classifiers, ColBERT models, taggers and
span-pair models (run them with ONNX Runtime:
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
``min_agreement`` of the probes. Taggers and span-pair models export the whole module (encoder and
head) as one graph with one logits output; an fp32 export must reproduce torch's logits (max |diff|
<= 1e-3 on probe texts).

One pipeline for every kind: the kind comes from :mod:`.kinds`, the module to trace from the one
loader (:meth:`.backbone.Backbone.load` with the kind's head, eager attention), the trace and the
per-channel int8 quantization from :func:`trace_and_quantize`, and the decision to install the export
from one gate (:func:`gate`) over the kind's agreement figures.

>>> path = export_onnx("default", quantize="int8")          # doctest: +SKIP
>>> enc = Encoder.load("default", backend="onnx")           # doctest: +SKIP
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
import warnings
from pathlib import Path

import numpy as np

from ..errors import EncoderkitError
from ..runtime.onnx import export_folder
from .backbone import Backbone
from .card import read_card
from .kinds import detect_kind, get_kind
from .layout import read_st_layout
from .ref import resolve_model

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


HEAD_PROBES = [
    "Angela Merkel met Emmanuel Macron in Paris on Tuesday, the German government said.",
    "The company fabricates plastic chairs.",
    "short",
    "The quarterly report of ACME Corp shows revenue grew by twelve percent while costs fell. " * 12,
]


def export_dir(spec: str | Path, kind: str | None = None, quantize: str | None = None) -> tuple[Path, Path, str]:
    """(model path, export folder, kind) for a model spec, without exporting anything."""
    ref = resolve_model(spec)
    kind = kind or detect_kind(ref.path)
    head = get_kind(kind).head()
    return ref.path, export_folder(head.fingerprint_of(ref.path), head.kind, quantize), kind


def _probe_features(backbone: Backbone, model_path: Path, kind: str) -> list[dict]:
    """Feature batches to trace and to compare the export with, built as the kind's own loader builds them."""
    if kind == "tagger":
        from ..data.words import words
        from .heads.tagger import Tagger

        t = Tagger.load(model_path)
        seen: list[dict] = []
        run = t.run
        t.run = lambda feats: (seen.append(feats), run(feats))[1]
        t.emissions([[w for w, _ in words(p)] for p in HEAD_PROBES], batch_size=2)
        return seen
    if kind == "span-pair":
        from .heads.span_pair import SpanPairClassifier

        c = SpanPairClassifier.load(model_path)
        items = [
            (HEAD_PROBES[0], (0, 13), (18, 33)),
            (HEAD_PROBES[1], (4, 11), (31, 37)),
            (HEAD_PROBES[3][:300], (27, 36), (60, 67)),
        ]
        if c.n_args == 1:
            items = [(t, a) for t, a, _ in items]
        return [c.features([e for e in (c.encode(*it) for it in items) if e is not None])]
    sample = ["hello world", "a longer second example sentence"]
    if kind == "cross-encoder":
        return [backbone.features([(PROBES[1], s) for s in sample], 512)]
    return [backbone.features(sample, 512)]


def trace_and_quantize(module, output: str | None, feats: dict, folder: Path, *, quantize: str | None, opset: int) -> list[str]:
    """Trace ``module`` (``module(**inputs)[.output]``) with the TorchScript exporter into
    ``folder/model.onnx`` (dynamic batch and sequence axes), then, with ``quantize="int8"``, replace it by
    its per-channel dynamic int8 quantization. Returns the graph's input names."""
    import inspect

    import torch

    params = inspect.signature(module.forward).parameters
    names = [n for n in params if n in feats]
    out_name = output or "logits"

    class Traced(torch.nn.Module):
        def __init__(self, m):
            super().__init__()
            self.m = m

        def forward(self, *args):
            out = self.m(**dict(zip(names, args)))
            return getattr(out, output) if output else out

    wrapper = Traced(module).eval()
    sample = tuple(torch.from_numpy(np.ascontiguousarray(feats[n])) for n in names)
    with torch.no_grad():
        out_ndim = wrapper(*sample).dim()
    axes = {n: ({0: "batch", 1: "sequence"} if feats[n].ndim >= 2 else {0: "batch"}) for n in names}
    axes[out_name] = {0: "batch", 1: "sequence"} if out_ndim >= 3 else {0: "batch"}
    fp32 = folder / ("model_fp32.onnx" if quantize else "model.onnx")
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tracer notes about constant shapes: checked by the agreement gate
        torch.onnx.export(
            wrapper,
            sample,
            str(fp32),
            input_names=names,
            output_names=[out_name],
            dynamic_axes=axes,
            opset_version=opset,
            dynamo=False,
        )
    if quantize:
        import logging

        from onnxruntime.quantization import QuantType, quantize_dynamic

        logging.getLogger().setLevel(logging.ERROR)  # "consider pre-processing" advice from the quantizer
        quantize_dynamic(str(fp32), str(folder / "model.onnx"), per_channel=True, weight_type=QuantType.QInt8)
        fp32.unlink()
    return names


def export_onnx(
    spec: str | Path,
    *,
    kind: str | None = None,
    quantize: str | None = None,
    opset: int = 17,
    force: bool = False,
    min_agreement: float = 0.9,
) -> Path:
    """Export a model to ONNX (fp32, or int8 with ``quantize="int8"``); returns the export folder (an
    extraction bundle: every component, and the first one's folder). ``min_agreement``: a quantized
    classifier must give the same predictions on at least this share of its probe texts, else the
    export is refused."""
    if quantize not in (None, "int8"):
        raise EncoderkitError(f"unknown quantization '{quantize}'", hint="use int8 or leave it out")
    ref = resolve_model(spec)
    model_path = ref.path
    kind = kind or detect_kind(model_path)
    if kind == "extraction":
        components = (read_card(model_path).get("components") or {}).values()
        outs = [export_onnx(model_path / sub, quantize=quantize, force=force, opset=opset) for sub in components]
        if not outs:
            raise EncoderkitError(f"'{model_path}' has no components to export")
        return outs[0]
    if kind == "colbert" and quantize:
        raise EncoderkitError("ColBERT models export in fp32 only", hint="leave out --quantize")
    head = get_kind(kind).head()
    out = export_folder(head.fingerprint_of(model_path), head.kind, quantize)
    if (out / "model.onnx").is_file() and not force:
        return out
    layout = read_st_layout(model_path)
    if layout is not None and layout["unsupported"] and kind == "encoder":
        raise EncoderkitError(f"{model_path} has modules ONNX export does not cover ({', '.join(layout['unsupported'])})")
    started = _announce(f"exporting {ref.name} to ONNX {quantize or 'fp32'} (once per model; cached in {out.parent})")
    backbone = Backbone.load(ref, head=head, eager=True, device="cpu")  # traced on the CPU, for ONNX Runtime
    feats = _probe_features(backbone, model_path, kind)
    tmp = out.with_name(out.name + f".tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    names = trace_and_quantize(backbone.torch_module, head.output, feats[0], tmp, quantize=quantize, opset=opset)
    _copy_model_files(model_path, layout, tmp)
    del backbone  # the traced copy; compare against the model as encoderkit loads it for serving
    agreement = agreement_with_torch(model_path, tmp, kind, feats)
    problem = gate(agreement, quantize, min_agreement)
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
                "kind": head.kind,
                "opset": opset,
                "quantize": quantize,
                "per_channel": bool(quantize),
                "inputs": names,
                "output": head.output or "logits",
                **agreement,
            },
            indent=1,
        )
    )
    shutil.rmtree(out, ignore_errors=True)
    os.replace(tmp, out)
    if started is not None:
        _announce(f"exported {ref.name} to ONNX {quantize or 'fp32'} in {time.perf_counter() - started:.1f} s")
    return out


def _announce(line: str) -> float | None:
    """A progress line on stderr (an export takes tens of seconds: never a silent minute); None when quiet."""
    from ..runtime.threads import progress_enabled

    if not progress_enabled(None):
        return None
    sys.stderr.write(line + "\n")
    sys.stderr.flush()
    return time.perf_counter()


def _copy_model_files(model_path: Path, layout: dict | None, folder: Path) -> None:
    """The tokenizer and config files an ONNX backbone reads beside the graph."""
    from .layout import transformer_dir

    tpath = transformer_dir(model_path)
    for name in TOKENIZER_FILES:
        for src in (tpath / name, model_path / name):
            if src.is_file():
                shutil.copy(src, folder / name)
                break
    if layout and layout.get("pooling") and (model_path / "1_Pooling" / "config.json").is_file():
        (folder / "1_Pooling").mkdir(exist_ok=True)
        shutil.copy(model_path / "1_Pooling" / "config.json", folder / "1_Pooling" / "config.json")


def gate(agreement: dict, quantize: str | None, min_agreement: float) -> str | None:
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


def agreement_with_torch(model_path: Path, folder: Path, kind: str, feats: list[dict] | None = None) -> dict:
    """How closely the export in ``folder`` reproduces the torch model on probe texts (padded batches)."""
    if kind in ("tagger", "span-pair"):
        head = get_kind(kind).head()
        ref = resolve_model(model_path)
        torch_bb = Backbone.load(ref, head=head, device="cpu")
        onnx_bb = Backbone.load(ref, head=head, runtime="onnx", onnx_folder=folder)
        diff = max(float(np.abs(torch_bb.forward(f) - onnx_bb.forward(f)).max()) for f in feats or [])
        return {"max_abs_logit_diff": round(diff, 6)}
    if kind == "classifier":
        return _classifier_agreement(model_path, folder)
    if kind == "cross-encoder":
        from .heads.cross_encoder import Reranker

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
        from .heads.colbert import ColBERT

        ref = ColBERT.load(model_path)
        got = ColBERT.load(model_path, backend="onnx", onnx_folder=folder)
        qa, mask = ref.encode_queries(PROBES)
        qb, _ = got.encode_queries(PROBES)
        cos = [(qa * qb).sum(-1)[mask]]
        cos += [(a * b).sum(-1) for a, b in zip(ref.encode_documents(PROBES), got.encode_documents(PROBES))]
        return {"min_cosine_to_torch": float(np.concatenate(cos).min())}
    from .heads.encoder import Encoder

    ref = Encoder.load(model_path)
    got = Encoder.from_backbone(Backbone.load(ref.ref, runtime="onnx", onnx_folder=folder), ref)
    cos = (ref.encode(PROBES, batch_size=4) * got.encode(PROBES, batch_size=4)).sum(1)
    return {"min_cosine_to_torch": float(cos.min())}


def _classifier_agreement(model_path: Path, folder: Path) -> dict:
    """Same predicted labels (thresholds and "none of these" included) on the classifier's probe texts."""
    from .heads.classifier import PROBES as PROBE_FILE
    from .heads.classifier import Classifier

    ref = Classifier.load(model_path)
    got = Classifier(
        Backbone.load(ref.ref, head=get_kind("classifier").head(), runtime="onnx", onnx_folder=folder),
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
