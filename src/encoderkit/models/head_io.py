"""Saved folders of the extraction heads (token tagger, span-pair classifier).

A folder holds the fine-tuned transformer in transformers format (``config.json``,
``model.safetensors``, tokenizer files: ``AutoModel`` loads it), the head's own tensors in
``head.safetensors`` and ``encoderkit_model.json`` (format version, ``kind``, labels and every
setting the head needs, plus the training card). No pickle anywhere.

>>> special_ids_from([101, 7, 102], [7])
([101], [102])
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

from ..errors import EncoderkitError
from .layout import read_json, transformer_dir

CARD = "encoderkit_model.json"
HEAD_FILE = "head.safetensors"
FORMAT = 1
TOKENIZER_EXTRAS = ("tokenizer_config.json", "special_tokens_map.json", "vocab.txt")


def read_card(path: str | Path) -> dict:
    """The folder's ``encoderkit_model.json`` ({} if there is none)."""
    return read_json(Path(path) / CARD)


def head_card(path: str | Path, kind: str) -> dict:
    """The card of a head model of ``kind``; an error naming the folder otherwise."""
    card = read_card(path)
    if card.get("kind") != kind:
        found = card.get("kind") or "no encoderkit_model.json"
        raise EncoderkitError(f"'{path}' is not a {kind} model ({found})", hint=f"pass a folder saved by training a {kind}")
    if int(card.get("format", 0)) > FORMAT:
        raise EncoderkitError(f"'{path}' has format {card.get('format')}; this encoderkit reads up to {FORMAT}")
    return card


def head_fingerprint(path: str | Path) -> str:
    """sha256 (16 hex digits) over the transformer weights and the head tensors."""
    h = hashlib.sha256()
    for name in ("model.safetensors", HEAD_FILE):
        f = Path(path) / name
        if f.is_file():
            with open(f, "rb") as fh:
                for block in iter(lambda: fh.read(1 << 22), b""):
                    h.update(block)
    return h.hexdigest()[:16]


def special_ids_from(with_special: list[int], without: list[int]) -> tuple[list[int], list[int]]:
    """(prefix, suffix) special-token ids a tokenizer's template wraps around a single text."""
    n = len(without)
    for k in range(len(with_special) - n + 1):
        if with_special[k : k + n] == without:
            return with_special[:k], with_special[k + n :]
    raise EncoderkitError("cannot locate the text inside the tokenizer's template")


def special_ids(tokenizer) -> tuple[list[int], list[int]]:
    """(prefix, suffix) ids of a ``tokenizers.Tokenizer``'s single-text template ([CLS] / [SEP], <s> / </s>)."""
    return special_ids_from(tokenizer.encode("a").ids, tokenizer.encode("a", add_special_tokens=False).ids)


def load_transformer(path: str | Path):
    """The transformers ``AutoModel`` under ``path`` (a sentence-transformers or transformers folder)."""
    from transformers import AutoModel
    from transformers.utils import logging as hf_logging

    from ..runtime import configure_torch

    configure_torch()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        return AutoModel.from_pretrained(transformer_dir(Path(path)))
    except (OSError, ValueError) as exc:
        raise EncoderkitError(f"could not load a transformer from {path}: {str(exc).splitlines()[0]}") from None


def load_tokenizer(path: str | Path):
    """A ``tokenizers.Tokenizer`` (truncation and padding off) from a model folder's tokenizer.json."""
    from tokenizers import Tokenizer

    f = transformer_dir(Path(path)) / "tokenizer.json"
    if not f.is_file():
        raise EncoderkitError(f"{path} has no fast tokenizer (tokenizer.json)")
    tok = Tokenizer.from_file(str(f))
    tok.no_truncation()
    tok.no_padding()
    return tok


def save_head_model(folder: Path, module, tokenizer, card: dict, base: str | Path) -> None:
    """Write the transformer (``module.encoder``), the tokenizer, ``head.safetensors`` (every parameter of
    ``module`` outside ``encoder.``) and the card into ``folder``."""
    from safetensors.torch import save_file

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    module.encoder.save_pretrained(str(folder), safe_serialization=True)
    tokenizer.save(str(folder / "tokenizer.json"))
    src = transformer_dir(Path(base))
    for name in TOKENIZER_EXTRAS:
        if (src / name).is_file() and src.resolve() != folder.resolve():
            shutil.copy(src / name, folder / name)
    head = {k: v.detach().contiguous().cpu() for k, v in module.state_dict().items() if not k.startswith("encoder.")}
    save_file(head, str(folder / HEAD_FILE))
    (folder / CARD).write_text(json.dumps({"format": FORMAT, **card}, indent=1, ensure_ascii=False))


def onnx_head_runner(path: str | Path, kind: str, backend: str):
    """The ONNX Runtime ``run`` of a head model's export (``backend``: onnx | onnx-int8); a clear error
    naming the export command when it has not been made."""
    from ..runtime.onnx import OnnxRunner, export_folder

    folder = export_folder(head_fingerprint(path), kind, "int8" if backend == "onnx-int8" else None)
    if not (folder / "model.onnx").is_file():
        raise EncoderkitError(
            f"no ONNX export ({backend}) of {path} yet",
            hint=f"run `encoderkit export onnx --model {path}{' --quantize int8' if 'int8' in backend else ''}`",
        )
    return OnnxRunner(folder).run


def load_head_tensors(folder: Path, *, numpy: bool = False) -> dict:
    """The head's tensors (torch, or numpy arrays without importing torch)."""
    f = Path(folder) / HEAD_FILE
    if not f.is_file():
        raise EncoderkitError(f"{folder} has no {HEAD_FILE}", hint="the folder is incomplete; train or copy it again")
    if numpy:
        from safetensors.numpy import load_file as load_np

        return load_np(str(f))
    from safetensors.torch import load_file

    return load_file(str(f))


def torch_inputs(module) -> list[str]:
    """Which of input_ids / attention_mask / token_type_ids the transformer's forward takes."""
    import inspect

    params = inspect.signature(module.forward).parameters
    return [n for n in ("input_ids", "attention_mask", "token_type_ids") if n in params]
