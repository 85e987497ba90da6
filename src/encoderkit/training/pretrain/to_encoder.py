"""Write a trained encoder so every consumer can load it: transformers (``AutoModel``, the fill-mask
pipeline, ``AutoModelForMaskedLM``), :meth:`encoderkit.Encoder.load` and ``SentenceTransformer(DIR)``.

The folder is a plain transformers checkpoint (config, ``model.safetensors``, tokenizer) plus the
sentence-transformers files: ``modules.json`` (Transformer at the root, Pooling, and Normalize when
the source model had it), ``1_Pooling/config.json`` and ``sentence_bert_config.json``; and
``encoderkit_model.json``, a card recording the base model, objective and training log summary.
"""

from __future__ import annotations

import json
from pathlib import Path

_POOLING_KEYS = {
    "mean": "pooling_mode_mean_tokens",
    "cls": "pooling_mode_cls_token",
    "max": "pooling_mode_max_tokens",
    "weighted_mean": "pooling_mode_weightedmean_tokens",
    "last": "pooling_mode_lasttoken",
}


def source_layout(path: Path) -> dict:
    """Pooling, normalisation and max length of the model we start from (mean / no Normalize by default)."""
    from ...models.heads.encoder import read_st_layout

    layout = read_st_layout(Path(path)) or {}
    max_len = None
    sb = Path(path) / "sentence_bert_config.json"
    if sb.is_file():
        max_len = json.loads(sb.read_text()).get("max_seq_length")
    return {"pooling": layout.get("pooling") or "mean", "normalize": bool(layout.get("normalize")), "max_seq_length": max_len}


def write_sentence_transformers_files(
    out: Path, *, dim: int, pooling: str = "mean", normalize: bool = False, max_seq_length: int = 256
) -> None:
    modules = [
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
    ]
    if normalize:
        modules.append({"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"})
        (out / "2_Normalize").mkdir(exist_ok=True)
    (out / "modules.json").write_text(json.dumps(modules, indent=2))
    (out / "1_Pooling").mkdir(exist_ok=True)
    cfg = {
        "word_embedding_dimension": dim,
        **{key: name == pooling for name, key in _POOLING_KEYS.items()},
        "pooling_mode_mean_sqrt_len_tokens": False,
    }
    (out / "1_Pooling" / "config.json").write_text(json.dumps(cfg, indent=2))
    (out / "sentence_bert_config.json").write_text(
        json.dumps({"max_seq_length": int(max_seq_length), "do_lower_case": False}, indent=2)
    )


def write_card(out: Path, card: dict) -> None:
    (out / "encoderkit_model.json").write_text(json.dumps(card, indent=2))


def finish_model_dir(out: Path, tokenizer, *, dim: int, layout: dict, max_length: int, card: dict) -> None:
    """Add tokenizer, sentence-transformers files and the card next to weights already saved in ``out``."""
    tokenizer.save_pretrained(out)
    write_sentence_transformers_files(
        out,
        dim=dim,
        pooling=layout.get("pooling") or "mean",
        normalize=layout.get("normalize", False),
        max_seq_length=layout.get("max_seq_length") or max_length,
    )
    write_card(out, card)
