"""The index's own encoder: found from the manifest, checked against it, run on the chosen backend."""

from __future__ import annotations

from pathlib import Path

from ...errors import EncoderkitError
from ...runtime.onnx import export_folder

QUERY_BACKENDS = ("auto", "torch", "torch-bf16", "onnx", "onnx-int8")


def model_spec(model: dict) -> str:
    """What to load for a manifest's model entry (bundled name, local folder, or hub id)."""
    source = model.get("source", "local")
    if source == "bundled":
        return model["spec"]
    if Path(model["path"]).is_dir():
        return model["path"]
    if source == "hub":
        return model["spec"]  # not in the local cache any more: fetch again (needs network)
    raise EncoderkitError(
        f"the model this index was built with is missing: {model['path']}",
        hint="restore that model directory, or rebuild with --model DIR --rebuild",
    )


def resolve_backend(model: dict, backend: str) -> str:
    """ "auto" is ONNX Runtime when an fp32 export of the model exists, torch otherwise."""
    if backend not in QUERY_BACKENDS:
        raise EncoderkitError(f"unknown backend '{backend}'", hint=f"use one of: {', '.join(QUERY_BACKENDS)}")
    if backend != "auto":
        return backend
    return "onnx" if (export_folder(model["fingerprint"], "encoder") / "model.onnx").is_file() else "torch"


def load_index_encoder(manifest: dict, path: Path, backend: str = "auto"):
    from ...models.heads.encoder import Encoder

    m = manifest["model"]
    enc = Encoder.load(model_spec(m), pooling=m["pooling"], max_length=m["max_length"], backend=resolve_backend(m, backend))
    check_encoder(manifest, enc, path)
    return enc


def check_encoder(manifest: dict, enc, path: Path) -> None:
    """An encoder that would not reproduce the index's vectors is an error, never a silent mismatch."""
    m = manifest["model"]
    got = enc.describe()
    for key in ("fingerprint", "pooling", "max_length", "dim"):
        if got[key] != m[key]:
            raise EncoderkitError(
                f"encoder does not match index '{path}': {key} is {got[key]!r}, the index was built with "
                f"{m[key]!r} (model {m['name']})",
                hint="search with the index's own model (omit --model), or rebuild the index with --rebuild",
            )


# ---------------------------------------------------------------------- chunk-encoding precision
PRECISIONS = ("fp32", "bf16", "int8")
PRECISION_BACKENDS = {"fp32": "torch", "bf16": "torch-bf16", "int8": "onnx-int8"}
GATE_MIN_MEAN_COSINE = 0.99  # mean cosine of the candidate's chunk vectors to fp32's, on probe texts
GATE_MAX_NDCG_DROP = 0.005  # nDCG@10 lost on the dev set (fp32 queries against the candidate's vectors)


def gate_problem(gate: dict | None) -> str | None:
    """Why a measured quality gate fails, or None when it passes.

    >>> gate_problem({"mean_cosine": 0.995, "ndcg_drop": 0.001}) is None
    True
    >>> gate_problem({"mean_cosine": 0.97, "ndcg_drop": 0.001})
    'mean cosine to fp32 0.9700 < 0.99'
    """
    if not gate:
        return "no quality-gate measurement"
    problems = []
    if float(gate.get("mean_cosine", 0.0)) < GATE_MIN_MEAN_COSINE:
        problems.append(f"mean cosine to fp32 {float(gate.get('mean_cosine', 0.0)):.4f} < {GATE_MIN_MEAN_COSINE}")
    if gate.get("ndcg_drop") is None:
        problems.append("no nDCG@10 measured on a dev set")
    elif float(gate["ndcg_drop"]) > GATE_MAX_NDCG_DROP:
        problems.append(f"nDCG@10 drop {float(gate['ndcg_drop']):.4f} > {GATE_MAX_NDCG_DROP}")
    return "; ".join(problems) or None


def load_document_encoder(manifest: dict):
    """The encoder of chunks at the manifest's ``encode_precision`` (bf16: torch autocast; int8: the
    per-channel ONNX Runtime export, made once and cached)."""
    from ...models.heads.encoder import Encoder

    m = manifest["model"]
    precision = m.get("encode_precision") or "fp32"
    if precision not in PRECISIONS:
        raise EncoderkitError(f"unknown encode precision '{precision}'", hint=f"use one of: {', '.join(PRECISIONS)}")
    spec = model_spec(m)
    if precision == "int8":
        from ...models.export import export_onnx

        export_onnx(spec, quantize="int8")
    return Encoder.load(spec, pooling=m["pooling"], max_length=m["max_length"], backend=PRECISION_BACKENDS[precision])
