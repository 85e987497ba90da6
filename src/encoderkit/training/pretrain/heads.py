"""Masked-LM models: load an encoder with its MLM head, or attach a new tied head, or build one from scratch.

An encoder saved without an MLM head (sentence-transformers models such as all-MiniLM-L6-v2 keep only
``BertModel``) is loaded into the standard transformers MLM class of its architecture
(``BertForMaskedLM`` for BERT: ``cls.predictions`` = dense + GELU + LayerNorm transform, then a decoder
whose weight *is* the input word-embedding matrix, plus an output bias; Devlin et al., 2019; tying as
in Press & Wolf, 2017). transformers initialises the missing head weights (normal(0, 0.02), LayerNorm
1/0, bias 0) and ties the decoder to the embeddings; :func:`load_mlm_model` reports which head
weights were new, so training can warm them up with the encoder frozen.

From scratch, :func:`scratch_model` builds a BERT of one of :data:`SIZES` (the compact BERTs of Turc
et al., 2019: tiny L2/H128, mini L4/H256, small L4/H512) with the vocabulary of a given tokenizer.

>>> model, info = load_mlm_model(bundled_model_path())       # doctest: +SKIP
>>> info["head_initialized"], is_tied(model)                  # doctest: +SKIP
(True, True)
"""

from __future__ import annotations

import inspect
from pathlib import Path

from ...errors import EncoderkitError

# name -> (hidden, layers, heads, intermediate)
SIZES = {
    "tiny": (128, 2, 2, 512),
    "mini": (256, 4, 4, 1024),
    "small": (512, 4, 8, 2048),
}


def quiet_transformers() -> None:
    """Silence transformers' load reports and progress bars (missing-head warnings are expected here)."""
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()


def transformer_dir(path: Path) -> Path:
    """The folder holding the transformers weights of a sentence-transformers or transformers model."""
    from ...models.heads.encoder import read_st_layout

    layout = read_st_layout(Path(path))
    if layout is not None and layout["unsupported"]:
        raise EncoderkitError(
            f"model {path} has modules after pooling ({', '.join(layout['unsupported'])})",
            hint="MLM pretraining needs a plain encoder (Transformer + Pooling)",
        )
    return Path(layout["transformer_path"]) if layout else Path(path)


def load_tokenizer(path: Path, *, trust_remote_code: bool = False):
    from transformers import AutoTokenizer

    try:
        return AutoTokenizer.from_pretrained(transformer_dir(path), trust_remote_code=trust_remote_code)
    except (OSError, ValueError) as exc:
        raise EncoderkitError(f"could not load a tokenizer from {path}: {str(exc).splitlines()[0]}") from None


def load_mlm_model(path: Path, *, nsp: bool = False, trust_remote_code: bool = False):
    """Load ``path`` as a masked-LM model (``BertForPreTraining`` with ``nsp``). Returns (model, info) where
    info has ``head_initialized`` (the MLM head was not in the checkpoint) and ``new_weights``."""
    from transformers import AutoConfig, AutoModelForMaskedLM, BertForPreTraining

    quiet_transformers()
    tdir = transformer_dir(path)
    try:
        config = AutoConfig.from_pretrained(tdir, trust_remote_code=trust_remote_code)
        if nsp and config.model_type != "bert":
            raise EncoderkitError(
                f"--nsp is implemented for BERT models, not {config.model_type}",
                hint="drop --nsp (RoBERTa showed it is not needed)",
            )
        cls = BertForPreTraining if nsp else AutoModelForMaskedLM
        model, loading = cls.from_pretrained(tdir, output_loading_info=True, trust_remote_code=trust_remote_code)
    except (OSError, ValueError, KeyError) as exc:
        raise EncoderkitError(
            f"could not load {path} as a masked-LM model: {str(exc).splitlines()[0]}",
            hint="pass 'default', a BERT-style model folder or hub id",
        ) from None
    prefix = model.base_model_prefix + "."
    missing = sorted(loading["missing_keys"])
    head_new = [k for k in missing if not k.startswith(prefix)]
    body_new = [k for k in missing if k.startswith(prefix) and ".pooler." not in k]
    if body_new:
        raise EncoderkitError(
            f"{path}: {len(body_new)} encoder weights missing from the checkpoint (e.g. {body_new[0]})",
            hint="is this the right model folder?",
        )
    mlm_new = [k for k in head_new if "seq_relationship" not in k]
    return model, {"head_initialized": bool(mlm_new), "new_weights": head_new, "model_type": config.model_type}


def scratch_model(tokenizer, size: str, *, nsp: bool = False, max_positions: int = 512, seed: int = 0):
    """A randomly initialised BERT of ``size`` (tiny | mini | small) for ``tokenizer``'s vocabulary."""
    import torch
    from transformers import BertConfig, BertForMaskedLM, BertForPreTraining

    if size not in SIZES:
        raise EncoderkitError(f"unknown size '{size}'", hint=f"use one of: {', '.join(SIZES)}")
    hidden, layers, heads, inter = SIZES[size]
    config = BertConfig(
        vocab_size=len(tokenizer),
        hidden_size=hidden,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        intermediate_size=inter,
        max_position_embeddings=max_positions,
        pad_token_id=tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0,
        type_vocab_size=2,
        tie_word_embeddings=True,
    )
    torch.manual_seed(seed)
    return (BertForPreTraining if nsp else BertForMaskedLM)(config)


def is_tied(model) -> bool:
    """True when the MLM decoder uses the very tensor of the input word embeddings."""
    out = model.get_output_embeddings()
    return out is not None and out.weight.data_ptr() == model.get_input_embeddings().weight.data_ptr()


def head_parameter_names(model) -> set[str]:
    """Parameters of the pretraining head(s), i.e. outside the base encoder. A tied decoder weight is the
    embedding matrix and counts as encoder (``named_parameters`` lists a shared tensor once, by its first
    name, which is the embedding's)."""
    prefix = model.base_model_prefix + "."
    return {n for n, _ in model.named_parameters() if not n.startswith(prefix)}


def mlm_head(model):
    """A function hidden states [n, d] -> vocabulary logits [n, V] for the model's MLM head, so logits are
    computed only at masked positions (6x less work than the full-sequence forward at 15%); None if
    the architecture is not known (callers then run the whole model)."""
    if hasattr(model, "cls") and hasattr(model.cls, "predictions"):  # BERT family
        return model.cls.predictions
    if hasattr(model, "lm_head"):  # RoBERTa, XLM-R, CamemBERT, ...
        return model.lm_head
    if hasattr(model, "generator_lm_head"):  # ELECTRA generator
        return lambda h: model.generator_lm_head(model.generator_predictions(h))
    if hasattr(model, "vocab_projector"):  # DistilBERT
        return lambda h: model.vocab_projector(model.vocab_layer_norm(model.activation(model.vocab_transform(h))))
    return None


def encoder_inputs(base, batch: dict) -> dict:
    """The keyword inputs the base encoder accepts (DistilBERT takes no token_type_ids)."""
    params = inspect.signature(base.forward).parameters
    kw = {"input_ids": batch["input_ids"], "attention_mask": batch["attention_mask"]}
    if "token_type_ids" in params and "token_type_ids" in batch:
        kw["token_type_ids"] = batch["token_type_ids"]
    return kw
