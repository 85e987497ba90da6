"""Batches for pretraining: mask each example (static or dynamic, see :mod:`.masking`), then pad.

Masking happens before padding, so padding can never be masked; labels are -100 on every position
that is not predicted (special tokens, padding, unselected tokens).

>>> import numpy as np                                                   # doctest: +SKIP
>>> coll = MaskingCollator.for_tokenizer(tok, MaskSpec(), static=True, seed=0)   # doctest: +SKIP
>>> batch = coll([examples[3], examples[9]], indices=[3, 9], epoch=0)    # doctest: +SKIP
>>> sorted(batch)                                                        # doctest: +SKIP
['attention_mask', 'candidates', 'input_ids', 'labels', 'original_ids', 'token_type_ids']
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from .data import Example
from .masking import IGNORE, MaskSpec, example_rng, mask_draw, mask_example, random_token_ids


@dataclass
class MaskingCollator:
    """Turns examples into padded, masked torch batches. ``static``: same mask every epoch."""

    spec: MaskSpec
    mask_id: int
    pad_id: int
    random_ids: np.ndarray
    static: bool = False
    copies: int = 1  # static masking with K different masks cycled over epochs (BERT's dupe_factor)
    seed: int = 0

    @classmethod
    def for_tokenizer(cls, tokenizer, spec: MaskSpec, **kw) -> MaskingCollator:
        from ...errors import EncoderkitError

        if tokenizer.mask_token_id is None:
            raise EncoderkitError("the tokenizer has no mask token", hint="masked-LM pretraining needs one ([MASK])")
        pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
        return cls(spec, int(tokenizer.mask_token_id), int(pad), random_token_ids(tokenizer), **kw)

    def mask(self, example: Example, index: int, epoch: int) -> tuple[np.ndarray, np.ndarray]:
        """(masked ids, labels) of one example as seen in ``epoch``."""
        rng = example_rng(self.seed, index, mask_draw(epoch, static=self.static, copies=self.copies))
        return mask_example(
            example.input_ids,
            example.special,
            example.word_start,
            self.spec,
            rng,
            mask_id=self.mask_id,
            random_ids=self.random_ids,
        )

    def __call__(self, examples: Sequence[Example], indices: Sequence[int], epoch: int) -> dict:
        import torch

        n, width = len(examples), max(len(e) for e in examples)
        input_ids = np.full((n, width), self.pad_id, dtype=np.int64)
        original = np.full((n, width), self.pad_id, dtype=np.int64)
        labels = np.full((n, width), IGNORE, dtype=np.int64)
        attention = np.zeros((n, width), dtype=np.int64)
        types = np.zeros((n, width), dtype=np.int64)
        candidates = np.zeros((n, width), dtype=bool)
        for r, (ex, idx) in enumerate(zip(examples, indices)):
            masked, lab = self.mask(ex, int(idx), epoch)
            k = len(ex)
            input_ids[r, :k] = masked
            original[r, :k] = ex.input_ids
            labels[r, :k] = lab
            attention[r, :k] = 1
            types[r, :k] = ex.token_type_ids
            candidates[r, :k] = ~ex.special
        batch = {
            "input_ids": torch.as_tensor(input_ids),
            "attention_mask": torch.as_tensor(attention),
            "token_type_ids": torch.as_tensor(types),
            "labels": torch.as_tensor(labels),
            "original_ids": torch.as_tensor(original),
            "candidates": torch.as_tensor(candidates),
        }
        if any(e.nsp_label >= 0 for e in examples):
            batch["next_sentence_label"] = torch.tensor([e.nsp_label for e in examples], dtype=torch.long)
        return batch
