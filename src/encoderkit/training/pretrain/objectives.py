"""The two pretraining objectives, as :class:`encoderkit.training.loop.Objective` s.

* :class:`MLMObjective`: masked LM (Devlin et al., 2019), optionally + next-sentence prediction
  (BERT's second objective; RoBERTa, Liu et al., 2019, found it unnecessary). Logits are computed only
  at the masked positions.
* :class:`RTDObjective`: ELECTRA's generator MLM + λ·replaced-token detection (Clark et al., 2020), see
  :mod:`.electra`.

Both hold their training examples (``train``) and held-out sets (``eval_sets``: "mlm" sequences, and
"nsp" pairs with NSP). Besides the loop's interface (``module``, ``named_groups()`` with the head and
encoder parameters, so training can warm up the head with the encoder frozen and give the two
different learning rates; ``loss(indices, epoch)``, ``evaluate()``, ``export(folder)``) they offer the
steps underneath: ``collate(examples, indices, epoch)`` -> a masked batch, ``batch_loss(batch) ->
(loss, stats)`` and ``evaluate(eval_sets, batch_size)`` on any examples. Held-out evaluation always
uses static masks drawn with :data:`EVAL_SEED`, so the numbers of every checkpoint (and of every run
on the same split) are measured on the same masks.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ..batching import sorted_length_batches
from .collate import MaskingCollator
from .data import Example
from .electra import RTD_WEIGHT, corrupt, rtd_labels, sample_replacements
from .heads import encoder_inputs, head_parameter_names, mlm_head
from .masking import IGNORE, MaskSpec

EVAL_SEED = 20200101


class MLMObjective:
    """Masked LM (+ NSP when the model is a ``BertForPreTraining`` and ``nsp`` is on)."""

    name = "mlm"
    metric = "accuracy"  # masked-token accuracy on the held-out set

    def __init__(
        self,
        model,
        tokenizer,
        spec: MaskSpec,
        *,
        static: bool = False,
        copies: int = 1,
        seed: int = 0,
        nsp: bool = False,
        train: Sequence[Example] = (),
        eval_sets: dict | None = None,
        eval_batch_size: int = 64,
    ):
        self.train = list(train)
        self.eval_sets = {k: v for k, v in (eval_sets or {}).items() if v}
        self.eval_batch_size = eval_batch_size
        self.model = model
        self.module = model
        self.tokenizer = tokenizer
        self.spec = spec
        self.nsp = nsp
        self.base = model.base_model
        self.head = mlm_head(model)
        self.collator = MaskingCollator.for_tokenizer(tokenizer, spec, static=static, copies=copies, seed=seed)
        self.eval_collator = MaskingCollator.for_tokenizer(tokenizer, spec, static=True, seed=EVAL_SEED)

    def named_groups(self) -> dict[str, list[tuple[str, nn.Parameter]]]:
        head = head_parameter_names(self.model)
        params = list(self.model.named_parameters())
        return {"head": [(n, p) for n, p in params if n in head], "encoder": [(n, p) for n, p in params if n not in head]}

    @property
    def n_examples(self) -> int:
        return len(self.train)

    def collate(self, examples, indices, epoch):
        return self.collator(examples, indices, epoch)

    def loss(self, indices: list[int], epoch: int):
        return self.batch_loss(self.collate([self.train[i] for i in indices], indices, epoch))

    def _forward(self, batch):
        labels = batch["labels"]
        selected = labels != IGNORE
        if self.head is None:  # unknown architecture: full forward, then keep the masked positions
            out = self.model(**encoder_inputs(self.model, batch))
            return out.logits[selected], labels[selected], None
        hidden = self.base(**encoder_inputs(self.base, batch)).last_hidden_state
        logits = self.head(hidden[selected])
        nsp_logits = None
        if self.nsp and "next_sentence_label" in batch:
            nsp_logits = self.model.cls.seq_relationship(self.base.pooler(hidden))
        return logits, labels[selected], nsp_logits

    def batch_loss(self, batch):
        logits, targets, nsp_logits = self._forward(batch)
        mlm = F.cross_entropy(logits.float(), targets) if len(targets) else logits.sum() * 0.0
        stats = {"mlm_loss": float(mlm.detach()), "masked_tokens": int(len(targets))}
        total = mlm
        if nsp_logits is not None:
            nsp = F.cross_entropy(nsp_logits.float(), batch["next_sentence_label"])
            total = total + nsp
            stats["nsp_loss"] = float(nsp.detach())
        return total, stats

    @torch.no_grad()
    def evaluate(self, eval_sets: dict[str, list[Example]] | None = None, batch_size: int | None = None) -> dict:
        """Held-out masked-token loss, perplexity (exp of the mean loss per masked token) and accuracy;
        NSP accuracy on the held-out pairs when trained with NSP. Default: the objective's own sets."""
        eval_sets = self.eval_sets if eval_sets is None else eval_sets
        batch_size = batch_size or self.eval_batch_size
        was_training = self.module.training
        self.module.eval()
        res: dict = {}
        try:
            examples = eval_sets.get("mlm") or []
            total, correct, count = 0.0, 0, 0
            for idx in sorted_length_batches([len(e) for e in examples], batch_size):
                batch = self.eval_collator([examples[i] for i in idx], idx, 0)
                logits, targets, _ = self._forward(batch)
                total += float(F.cross_entropy(logits.float(), targets, reduction="sum"))
                correct += int((logits.argmax(-1) == targets).sum())
                count += len(targets)
            if count:
                res.update(
                    mlm_loss=total / count,
                    perplexity=math.exp(min(total / count, 50.0)),
                    accuracy=correct / count,
                    masked_tokens=count,
                )
            pairs = eval_sets.get("nsp") or []
            if self.nsp and pairs:
                hits = 0
                for idx in sorted_length_batches([len(e) for e in pairs], batch_size):
                    batch = self.eval_collator([pairs[i] for i in idx], idx, 0)
                    _, _, nsp_logits = self._forward(batch)
                    hits += int((nsp_logits.argmax(-1) == batch["next_sentence_label"]).sum())
                res["nsp_accuracy"] = hits / len(pairs)
        finally:
            self.module.train(was_training)
        return res

    def export(self, out: Path) -> None:
        self.model.save_pretrained(out)


class RTDObjective:
    """ELECTRA: generator MLM loss + ``weight`` x discriminator replaced-token-detection loss."""

    name = "rtd"
    metric = "disc_accuracy"  # replaced-token detection accuracy on the held-out set

    def __init__(
        self,
        discriminator,
        rtd_head,
        generator,
        tokenizer,
        spec: MaskSpec,
        *,
        static: bool = False,
        copies: int = 1,
        seed: int = 0,
        weight: float = RTD_WEIGHT,
        temperature: float = 1.0,
        train: Sequence[Example] = (),
        eval_sets: dict | None = None,
        eval_batch_size: int = 64,
    ):
        self.train = list(train)
        self.eval_sets = {k: v for k, v in (eval_sets or {}).items() if v}
        self.eval_batch_size = eval_batch_size
        self.discriminator = discriminator
        self.rtd_head = rtd_head
        self.generator = generator
        self.tokenizer = tokenizer
        self.spec = spec
        self.weight = weight
        self.temperature = temperature
        self.module = nn.ModuleDict({"discriminator": discriminator, "rtd_head": rtd_head, "generator": generator})
        self.gen_head = mlm_head(generator)
        self.collator = MaskingCollator.for_tokenizer(tokenizer, spec, static=static, copies=copies, seed=seed)
        self.eval_collator = MaskingCollator.for_tokenizer(tokenizer, spec, static=True, seed=EVAL_SEED)

    def named_groups(self) -> dict[str, list[tuple[str, nn.Parameter]]]:
        enc = list(self.discriminator.named_parameters())
        shared = {id(p) for _, p in enc}
        head = [(f"rtd_head.{n}", p) for n, p in self.rtd_head.named_parameters()]
        head += [(f"generator.{n}", p) for n, p in self.generator.named_parameters() if id(p) not in shared]
        return {"head": head, "encoder": [(f"discriminator.{n}", p) for n, p in enc]}

    @property
    def n_examples(self) -> int:
        return len(self.train)

    def collate(self, examples, indices, epoch):
        return self.collator(examples, indices, epoch)

    def loss(self, indices: list[int], epoch: int):
        return self.batch_loss(self.collate([self.train[i] for i in indices], indices, epoch))

    def _forward(self, batch, sampler: torch.Generator | None = None):
        labels = batch["labels"]
        selected = labels != IGNORE
        gen_hidden = self.generator.electra(**encoder_inputs(self.generator.electra, batch)).last_hidden_state
        gen_logits = self.gen_head(gen_hidden[selected])
        samples = sample_replacements(gen_logits.detach(), sampler, self.temperature)
        corrupted = corrupt(batch["original_ids"], selected, samples)
        disc_batch = {**batch, "input_ids": corrupted}
        hidden = self.discriminator(**encoder_inputs(self.discriminator, disc_batch)).last_hidden_state
        cand = batch["candidates"]
        disc_logits = self.rtd_head(hidden)[cand]
        targets = rtd_labels(batch["original_ids"], corrupted, selected)[cand]
        return gen_logits, labels[selected], disc_logits, targets

    def batch_loss(self, batch):
        gen_logits, gen_targets, disc_logits, targets = self._forward(batch)
        gen = F.cross_entropy(gen_logits.float(), gen_targets) if len(gen_targets) else gen_logits.sum() * 0.0
        disc = F.binary_cross_entropy_with_logits(disc_logits.float(), targets)
        stats = {
            "gen_loss": float(gen.detach()),
            "disc_loss": float(disc.detach()),
            "replaced_fraction": float(targets.mean()) if len(targets) else 0.0,
        }
        return gen + self.weight * disc, stats

    @torch.no_grad()
    def evaluate(self, eval_sets: dict[str, list[Example]] | None = None, batch_size: int | None = None) -> dict:
        """Generator MLM metrics and discriminator accuracy / replaced-token precision and recall on the
        held-out set, with the generator's samples drawn from a fixed seed. Default: the objective's own sets."""
        eval_sets = self.eval_sets if eval_sets is None else eval_sets
        batch_size = batch_size or self.eval_batch_size
        was_training = self.module.training
        self.module.eval()
        sampler = torch.Generator().manual_seed(EVAL_SEED)
        examples = eval_sets.get("mlm") or []
        g_total = 0.0
        g_correct = g_count = 0
        d_total = 0.0
        d_correct = d_count = tp = pred_pos = true_pos = 0
        try:
            for idx in sorted_length_batches([len(e) for e in examples], batch_size):
                batch = self.eval_collator([examples[i] for i in idx], idx, 0)
                gl, gt, dl, dt = self._forward(batch, sampler)
                g_total += float(F.cross_entropy(gl.float(), gt, reduction="sum"))
                g_correct += int((gl.argmax(-1) == gt).sum())
                g_count += len(gt)
                d_total += float(F.binary_cross_entropy_with_logits(dl.float(), dt, reduction="sum"))
                pred = dl > 0
                d_correct += int((pred == dt.bool()).sum())
                d_count += len(dt)
                tp += int((pred & dt.bool()).sum())
                pred_pos += int(pred.sum())
                true_pos += int(dt.sum())
        finally:
            self.module.train(was_training)
        if not d_count:
            return {}
        g_loss = g_total / max(1, g_count)
        return {
            "gen_mlm_loss": g_loss,
            "gen_perplexity": math.exp(min(g_loss, 50.0)),
            "gen_accuracy": g_correct / max(1, g_count),
            "disc_loss": d_total / d_count,
            "disc_accuracy": d_correct / d_count,
            "replaced_fraction": true_pos / d_count,
            "replaced_precision": tp / pred_pos if pred_pos else 0.0,
            "replaced_recall": tp / true_pos if true_pos else 0.0,
            "tokens": d_count,
        }

    def export(self, out: Path) -> None:
        from safetensors.torch import save_file

        self.discriminator.save_pretrained(out)
        self.generator.save_pretrained(out / "generator")
        save_file({k: v.contiguous() for k, v in self.rtd_head.state_dict().items()}, str(out / "rtd_head.safetensors"))
