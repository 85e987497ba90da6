"""Pretraining objectives and domain-adaptive pretraining for encoders.

Building blocks (each module names the paper it follows): :mod:`.masking` (BERT 80/10/10, static vs
dynamic, whole-word, SpanBERT spans), :mod:`.data` (corpus, sentences, packing, NSP pairs),
:mod:`.collate`, :mod:`.heads` (tied MLM head on a head-less encoder, models from scratch),
:mod:`.electra` (replaced-token detection), :mod:`.objectives` (MLM and RTD as objectives of the shared
loop, :mod:`encoderkit.training.loop`), :mod:`.fill_mask`. :func:`run_pretraining` ties them together
(``encoderkit pretrain``).

Importing this package does not import torch; the submodules that need it do.
"""

from __future__ import annotations

from .masking import MaskSpec, mask_example
from .train import PretrainConfig, run_pretraining

__all__ = ["MaskSpec", "mask_example", "PretrainConfig", "run_pretraining"]
