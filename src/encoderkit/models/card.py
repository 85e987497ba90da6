"""The model card of encoderkit's trained heads, and their saved folders (token tagger, span-pair
classifier, extraction bundles).

A folder holds the fine-tuned transformer in transformers format (``config.json``,
``model.safetensors``, tokenizer files: ``AutoModel`` loads it), the head's own tensors in
``head.safetensors`` and ``encoderkit_model.json`` (format version, ``kind``, labels and every
setting the head needs, plus the training card). No pickle anywhere. Loading is the backbone's
(:meth:`encoderkit.models.backbone.Backbone.load` with the head's :class:`~.backbone.Head`).

>>> special_ids_from([101, 7, 102], [7])
([101], [102])
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from ..errors import EncoderkitError
from .layout import read_json, transformer_dir

CARD = "encoderkit_model.json"
TRAIN_LOG = "train_log.json"  # written by the training loop next to the model it exports
ALLOW_UNFINISHED = "ENCODERKIT_ALLOW_UNFINISHED"  # "1": load a model whose training did not finish
HEAD_FILE = "head.safetensors"
FORMAT = 1
TOKENIZER_EXTRAS = ("tokenizer_config.json", "special_tokens_map.json", "vocab.txt")


def read_card(path: str | Path) -> dict:
    """The folder's ``encoderkit_model.json`` ({} if there is none)."""
    return read_json(Path(path) / CARD)


def check_finished(path: str | Path) -> None:
    """Refuse a folder whose training started and did not finish (its ``train_log.json`` says so: an
    interrupted run exports its best model so far, which must never pass for a trained one), unless
    ``ENCODERKIT_ALLOW_UNFINISHED=1``.

    >>> import tempfile, pathlib, json
    >>> d = pathlib.Path(tempfile.mkdtemp()); _ = (d / TRAIN_LOG).write_text(json.dumps({"completed": True}))
    >>> check_finished(d)
    """
    import os

    log = read_json(Path(path) / TRAIN_LOG)
    if not log or log.get("completed") is not False or os.environ.get(ALLOW_UNFINISHED) == "1":
        return
    step, total = log.get("step"), log.get("total_steps")
    where = f" (stopped at step {step} of {total})" if step is not None and total else ""
    raise EncoderkitError(
        f"'{path}' holds a model whose training did not finish{where}",
        hint=f"finish it: run the same `encoderkit train ...` command again with --resume; or load it as it is "
        f"with {ALLOW_UNFINISHED}=1",
    )


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
    """sha256 (16 hex digits) over the transformer weights and the head tensors (names the head's ONNX
    export and keys the annotations made with it)."""
    from .fingerprint import fingerprint

    return fingerprint(path, files=("model.safetensors", HEAD_FILE))


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
