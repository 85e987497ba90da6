"""What a saved model folder is: sentence-transformers modules, pooling, token limit, head kind.

Pure readers of the folder's JSON files; no model is loaded here.
"""

from __future__ import annotations

import json
from pathlib import Path

# sentence-transformers pooling names -> ours
ST_POOLING = {"mean": "mean", "cls": "cls", "max": "max", "weightedmean": "weighted_mean", "lasttoken": "last"}
OLD_ST_POOLING_KEYS = {
    "pooling_mode_mean_tokens": "mean",
    "pooling_mode_cls_token": "cls",
    "pooling_mode_max_tokens": "max",
    "pooling_mode_weightedmean_tokens": "weighted_mean",
    "pooling_mode_lasttoken": "last",
}


def read_json(path: Path) -> dict:
    """A JSON file as a dict; {} when it does not exist."""
    return json.loads(path.read_text()) if path.is_file() else {}


def read_st_layout(path: Path) -> dict | None:
    """Read a sentence-transformers directory's modules.json into a plain description.

    Returns None when there is no modules.json (a plain transformers directory). The result has
    ``transformer_path``, ``pooling`` (or None), ``normalize`` and ``unsupported`` (module types the
    fast path does not run, e.g. Dense).
    """
    path = Path(path)
    modules_file = path / "modules.json"
    if not modules_file.is_file():
        return None
    modules = json.loads(modules_file.read_text())
    layout = {"transformer_path": path, "pooling": None, "normalize": False, "unsupported": []}
    for mod in modules:
        kind = mod.get("type", "").rsplit(".", 1)[-1]
        sub = path / mod.get("path", "")
        if kind == "Transformer":
            layout["transformer_path"] = sub
        elif kind == "Pooling":
            layout["pooling"] = read_pooling(sub / "config.json")
        elif kind == "Normalize":
            layout["normalize"] = True
        else:
            layout["unsupported"].append(mod.get("type", "?"))
    return layout


def transformer_dir(path: Path) -> Path:
    """The folder holding config.json and the weights (a sentence-transformers module or ``path`` itself)."""
    layout = read_st_layout(path)
    return Path(layout["transformer_path"]) if layout else Path(path)


def read_pooling(config_file: Path) -> str | None:
    """Our pooling name from a sentence-transformers Pooling config (old or new keys).

    >>> import tempfile, pathlib
    >>> f = pathlib.Path(tempfile.mkdtemp()) / "config.json"
    >>> _ = f.write_text('{"pooling_mode_cls_token": true}'); read_pooling(f)
    'cls'
    """
    cfg = json.loads(Path(config_file).read_text())
    mode = cfg.get("pooling_mode")
    if isinstance(mode, list):
        mode = mode[0] if len(mode) == 1 else None
    if isinstance(mode, str):
        return ST_POOLING.get(mode)
    on = [ours for key, ours in OLD_ST_POOLING_KEYS.items() if cfg.get(key)]
    return on[0] if len(on) == 1 else None


def max_length_for(path: Path, tokenizer_limit: int | None, positions: int | None, model_type: str) -> int:
    """Max tokens per text: sentence_bert_config's max_seq_length, else the tokenizer's limit, capped
    by the position embeddings (RoBERTa-style models reserve two).

    >>> max_length_for(Path("/nonexistent"), 512, 514, "roberta")
    512
    """
    limit = read_json(Path(path) / "sentence_bert_config.json").get("max_seq_length")
    if not limit:
        limit = tokenizer_limit if tokenizer_limit and tokenizer_limit < 100_000 else None
    positions = positions or 512
    if model_type in ("roberta", "xlm-roberta", "camembert"):
        positions -= 2  # RoBERTa reserves padding_idx + 1 positions
    return int(min(limit or positions, positions))


def activation_of(path: Path) -> str:
    """A cross-encoder's output activation: identity if sentence-transformers says so, else sigmoid."""
    path = Path(path)
    if str(read_json(path / "config_sentence_transformers.json").get("activation_fn") or "").endswith("Identity"):
        return "identity"
    st = read_json(path / "config.json").get("sentence_transformers") or {}
    return "identity" if str(st.get("activation_fn", "")).endswith("Identity") else "sigmoid"
