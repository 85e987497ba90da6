"""Distil a static embedding model from a sentence encoder (Tulkens & van Dongen 2024, "Model2Vec").

Every token of the encoder's vocabulary is passed through the encoder on its own (``[CLS] token [SEP]``,
mean of the output states); the token vectors are reduced by PCA (256 dimensions) and weighted by smooth
inverse frequency with frequencies estimated from the vocabulary's order (Zipf's law: the ``i``-th token
has probability proportional to ``1 / (i + 2)``; weight ``a / (a + p)``, ``a = 1e-4``). A text's vector is
then the normalised mean of its tokens' rows.

Re-implemented here, following model2vec's ``distill_from_model`` step for step: its ``distill`` extra pins
transformers < 5.4, which cannot load a local model folder on this stack (STACK-NOTES). Tokens that are
placeholders (``[unused12]``) or special (``[CLS]``) get no vector of their own, as in model2vec; the
encoder's tokenizer is kept unchanged, so the table has a row per token id (zeros for those).

The output folder is Model2Vec's layout (``model.safetensors`` with the ``embeddings`` table,
``tokenizer.json``, ``config.json``): ``model2vec.StaticModel.from_pretrained(folder)`` loads it.

>>> weights = sif_weights(4, 1e-4); bool(weights[0] < weights[-1] < 1)
True
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import numpy as np

from ...errors import EncoderkitError

UNUSED = re.compile(r"\[unused\d+\]")
FORMAT = "model2vec"


def sif_weights(n: int, sif_coefficient: float = 1e-4) -> np.ndarray:
    """Smooth-inverse-frequency weights of ``n`` tokens ranked by frequency (Zipf-estimated)."""
    inv_rank = 1.0 / np.arange(2, n + 2)
    proba = inv_rank / inv_rank.sum()
    return sif_coefficient / (sif_coefficient + proba)


def pca(x: np.ndarray, dims: int) -> np.ndarray:
    """Principal-component projection of the rows of ``x`` onto ``dims`` axes (eigendecomposition of the
    covariance, as model2vec does; the axes' signs are arbitrary)."""
    centred = x - x.mean(0)
    cov = centred.T @ centred / max(1, len(x) - 1)
    values, vectors = np.linalg.eigh(cov)
    order = np.argsort(values)[::-1][: min(dims, x.shape[1])]
    return centred @ vectors[:, order]


def token_vectors(backbone, ids: list[int], batch_size: int = 512, show_progress: bool | None = None) -> np.ndarray:
    """The encoder's mean output state of ``[CLS] token [SEP]`` for every token id."""
    import torch

    from ...runtime.threads import progress_enabled

    module = backbone.torch_module
    tok = backbone.raw_tokenizer()
    cls_id, sep_id = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    if cls_id is None or sep_id is None:
        enc = tok.encode("a")  # the model's own special tokens around one token
        specials = [i for i, s in zip(enc.ids, enc.special_tokens_mask) if s]
        if len(specials) != 2:
            raise EncoderkitError(f"{backbone.ref.name}: cannot tell its start and end tokens", hint="use a BERT-style encoder")
        cls_id, sep_id = specials
    bar = None
    if progress_enabled(show_progress):
        from tqdm.auto import tqdm

        bar = tqdm(total=len(ids), desc="encoding the vocabulary", unit="token")
    out = []
    with torch.inference_mode():
        for i in range(0, len(ids), batch_size):
            chunk = torch.tensor([[cls_id, t, sep_id] for t in ids[i : i + batch_size]], dtype=torch.long)
            chunk = chunk.to(backbone.runner.device)
            states = module(input_ids=chunk, attention_mask=torch.ones_like(chunk)).last_hidden_state
            out.append(states.float().mean(1).cpu().numpy())
            if bar is not None:
                bar.update(len(chunk))
    if bar is not None:
        bar.close()
    return np.concatenate(out)


def distill_static(
    model: str | Path,
    out: str | Path,
    *,
    pca_dims: int = 256,
    sif_coefficient: float = 1e-4,
    show_progress: bool | None = None,
) -> dict:
    """Distil ``model`` (an encoder: 'default', a folder or a hub id) into a static model in ``out``;
    returns what was done (vocabulary, dimensions, seconds)."""
    from safetensors.numpy import save_file

    from ..backbone import Backbone
    from ..ref import resolve_model

    t0 = time.perf_counter()
    ref = resolve_model(model)
    backbone = Backbone.load(ref)
    tok = backbone.raw_tokenizer()
    special = {t.content for t in tok.get_added_tokens_decoder().values()} if hasattr(tok, "get_added_tokens_decoder") else set()
    vocab = sorted(tok.get_vocab().items(), key=lambda kv: kv[1])
    kept = [i for token, i in vocab if not UNUSED.fullmatch(token) and token not in special]
    if len(kept) <= pca_dims:
        raise EncoderkitError(f"{ref.name} has {len(kept)} usable tokens, too few for {pca_dims} dimensions")
    vectors = token_vectors(backbone, kept, show_progress=show_progress)
    reduced = pca(vectors.astype(np.float64), pca_dims) * sif_weights(len(kept), sif_coefficient)[:, None]
    table = np.zeros((tok.get_vocab_size(), reduced.shape[1]), dtype=np.float32)
    table[np.array(kept)] = reduced.astype(np.float32)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    save_file({"embeddings": table}, str(out / "model.safetensors"))
    tok.save(str(out / "tokenizer.json"))
    config = {
        "model_type": FORMAT,
        "architectures": ["StaticModel"],
        "tokenizer_name": ref.name,
        "apply_pca": pca_dims,
        "sif_coefficient": sif_coefficient,
        "hidden_dim": int(table.shape[1]),
        "seq_length": 1_000_000,
        "normalize": True,
        "pooling": "mean",
        "distilled_by": "encoderkit (a re-implementation of model2vec's distill_from_model)",
        "base_model": ref.name,
        "base_fingerprint": backbone.fingerprint,
    }
    (out / "config.json").write_text(json.dumps(config, indent=1) + "\n")
    return {"out": str(out), "vocabulary": len(kept), "dims": int(table.shape[1]), "seconds": round(time.perf_counter() - t0, 1)}
