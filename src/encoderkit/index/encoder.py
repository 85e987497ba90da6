"""The index's own encoder: found from the manifest, checked against it, run on the chosen backend."""

from __future__ import annotations

from pathlib import Path

from ..errors import EncoderkitError
from ..runtime.onnx import export_folder

QUERY_BACKENDS = ("auto", "torch", "onnx", "onnx-int8")


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
    from ..models.encoder import Encoder

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
