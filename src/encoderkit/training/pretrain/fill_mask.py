"""Top-k predictions for masked tokens: a quick look at what an MLM head has learned.

Same numbers as transformers' ``pipeline("fill-mask")`` (softmax over the vocabulary at each mask,
top k), computed directly so that a model without a trained MLM head is reported as an error
instead of printing random guesses. ``[MASK]`` in the text is mapped to the model's own mask token
(e.g. ``<mask>`` for RoBERTa).

>>> fm = FillMask.load("out/mlm")                                    # doctest: +SKIP
>>> [p["token"] for p in fm("The capital of France is [MASK].", k=3)[0]]   # doctest: +SKIP
['paris', 'lyon', 'france']
"""

from __future__ import annotations

from pathlib import Path

from ...errors import EncoderkitError


class FillMask:
    """A masked-LM model and its tokenizer, ready to fill ``[MASK]`` tokens."""

    def __init__(self, model, tokenizer, name: str):
        self.model = model
        self.tokenizer = tokenizer
        self.name = name

    @classmethod
    def load(cls, spec: str | Path) -> FillMask:
        from ...models.ref import resolve_model
        from ...runtime import configure_torch
        from .heads import load_mlm_model, load_tokenizer

        ref = resolve_model(spec)
        configure_torch()
        model, info = load_mlm_model(ref.path)
        if info["head_initialized"]:
            hint = (
                (f"this looks like an ELECTRA discriminator: use its generator, --model {Path(ref.path) / 'generator'}")
                if (Path(ref.path) / "generator").is_dir()
                else "train one with `encoderkit pretrain mlm --model ... --head-only-steps N`"
            )
            raise EncoderkitError(f"model {ref.name} has no trained masked-LM head", hint=hint)
        model.eval()
        tokenizer = load_tokenizer(ref.path)
        if tokenizer.mask_token is None:
            raise EncoderkitError(f"the tokenizer of {ref.name} has no mask token")
        return cls(model, tokenizer, ref.name)

    def __call__(self, text: str, k: int = 5) -> list[list[dict]]:
        """For each mask in ``text`` (left to right): k dicts {token, token_id, score, sequence}."""
        import torch

        if k < 1:
            raise EncoderkitError("-k must be at least 1")
        mask = self.tokenizer.mask_token
        if "[MASK]" in text and mask != "[MASK]":
            text = text.replace("[MASK]", mask)
        enc = self.tokenizer(text, return_tensors="pt", truncation=True)
        positions = (enc["input_ids"][0] == self.tokenizer.mask_token_id).nonzero().flatten().tolist()
        if not positions:
            raise EncoderkitError(f"no {mask} in the text", hint=f"write {mask} where a word should be predicted")
        with torch.inference_mode():
            logits = self.model(**enc).logits[0]
        drop = {
            self.tokenizer.cls_token_id,
            self.tokenizer.sep_token_id,
            self.tokenizer.pad_token_id,
            self.tokenizer.bos_token_id,
            self.tokenizer.eos_token_id,
        } - {None}
        results = []
        for pos in positions:
            probs = torch.softmax(logits[pos].float(), dim=-1)
            top = torch.topk(probs, min(k, probs.numel()))
            preds = []
            for score, tid in zip(top.values.tolist(), top.indices.tolist()):
                ids = enc["input_ids"][0].clone()
                ids[pos] = tid
                preds.append(
                    {
                        "token": self.tokenizer.decode([tid]).strip(),
                        "token_id": int(tid),
                        "score": float(score),
                        "sequence": self.tokenizer.decode([i for i in ids.tolist() if i not in drop]),
                    }
                )
            results.append(preds)
        return results
