"""The one training loop of encoderkit: every objective (contrastive bi-encoders, cross-encoder
rerankers, distillation, masked LM, ELECTRA, and whatever comes next) runs on :class:`Trainer`.

An objective (see :class:`Objective`) says what a batch costs, how to validate and how to save the
model; the trainer does the rest, the same way for all:

* AdamW; no weight decay on parameters with fewer than 2 dimensions (biases, LayerNorm).
* Two parameter groups, "head" and "encoder", each with a linear warm-up and a linear decay to 0 at
  the last step. For the first ``head_only_steps`` the encoder is frozen (LR 0, no gradients), so a
  freshly initialised head settles before its gradients reach a pretrained encoder; the encoder then
  gets its own warm-up from 0. The head's LR is ``head_lr`` (default ``lr * head_lr_mult``).
* ``grad_accum`` batches per optimizer step (each batch's loss weighted by its share of the
  examples, so for losses that average over examples this equals one big batch), gradient clipping,
  optional bfloat16 autocast.
* At least ``min_steps`` optimizer steps: a small data set is seen for more epochs (validated about
  ten times over the run), so a schedule set for a large corpus does not stop a small one half-trained.
* Validation at the start, every ``eval_every`` steps (0: at each epoch end) and at the end. With
  ``select_best`` the model is exported whenever the validation ``metric`` (maximised) improves;
  otherwise (and when there is nothing to validate) it is exported at the end. Early stopping:
  with ``patience`` N, the run ends (``stopped_early`` says why) after N validations in a row
  without a better metric.
* A checkpoint (safetensors + JSON, no pickle: :mod:`.checkpoint`) at each validation;
  ``run(resume=True)`` continues from it exactly as an uninterrupted run would: the batches of an
  epoch are a plan seeded by (seed, epoch), the phase and the learning rates are functions of the
  step, and weights, AdamW moments and torch's RNG come back from the checkpoint.
* Ctrl-C (SIGINT) finishes the current step, writes a checkpoint and raises
  :class:`TrainingInterrupted`; a second Ctrl-C stops at once. ``max_minutes`` of training time
  stops the run early: it is then validated and exported as if it had ended.

The log, ``out/train_log.json`` (also what :meth:`Trainer.run` returns), has the same names for
every objective: ``config``, ``objective``, ``metric``, ``total_steps``, ``steps_per_epoch``,
``step``, ``completed``, ``stopped_early``, ``resumed_from_step``, ``loss_curve`` (one entry every
``log_every`` steps: step, epoch, phase, lr_head, lr_encoder, loss, grad_norm, the objective's stats,
train_seconds), ``evals`` (step, epoch, the metrics, train_seconds, eval_seconds), ``best`` (the
evaluation with the highest metric), ``train_seconds`` (optimizer steps only), ``wall_seconds`` (the
whole loop, validations and checkpoints included; both summed over resumed runs), plus the extras
the caller passes as ``run_info`` (e.g. pretraining's ``data``, the fine-tuning ``card``).
"""

from __future__ import annotations

import contextlib
import json
import math
import signal
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Callable, Iterable, Protocol, Sequence

import numpy as np

from ..errors import EncoderkitError
from ..runtime.devices import autocast_dtype_name, describe_device, is_cuda, resolve_device
from .batching import epoch_batches, step_batches
from .checkpoint import find_checkpoint, load_checkpoint, remove_checkpoint, save_checkpoint

LOG = "train_log.json"
ADAM_EPS = 1e-6  # BERT, RoBERTa and ELECTRA's value
# settings that may differ when a run is resumed: they change neither the steps nor the weights
RESUME_FREE = ("max_minutes", "eval_every", "eval_at_start", "log_every", "keep_checkpoint", "device")


@dataclass
class TrainConfig:
    """Every setting of the loop (recorded in the log as ``config``)."""

    max_steps: int | None = None  # optimizer steps; None: ``epochs`` passes over the examples
    epochs: float = 1.0
    min_steps: int = 0  # at least this many optimizer steps (small data runs more epochs); max_steps overrides
    batch_size: int = 32  # examples per forward/backward pass
    grad_accum: int = 1  # batches per optimizer step (examples per step = batch_size * grad_accum)
    lr: float = 2e-5  # peak learning rate of the encoder
    head_lr: float | None = None  # peak learning rate of the head; None: lr * head_lr_mult
    head_lr_mult: float = 1.0
    head_only_steps: int = 0  # first N steps train only the head (encoder frozen, LR 0)
    warmup_ratio: float = 0.1  # linear warm-up share of each group's steps
    weight_decay: float = 0.01  # AdamW; never on parameters with ndim < 2 (biases, LayerNorm)
    max_grad_norm: float = 1.0  # 0: no clipping
    eval_every: int = 0  # steps; 0: at each epoch end (and always at the end)
    eval_at_start: bool = True  # validate the starting point (with select_best, training must beat it)
    log_every: int = 10
    seed: int = 0
    bf16: bool = False  # autocast to bfloat16 (weights and optimizer stay fp32)
    max_minutes: float | None = None  # training-time budget: stop, validate and export when spent
    select_best: bool = True  # export the best model by the validation metric; False: the last one
    keep_checkpoint: bool = False  # keep out/checkpoint when the run has finished
    patience: int = 0  # early stopping: end after N validations without a better metric (0: never)
    device: str | None = None  # auto | cpu | cuda | cuda:N; None: the process default (runtime.devices)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_options(cls, **options) -> TrainConfig:
        """The loop settings among command-line options, by field name (``warmup`` is ``warmup_ratio``);
        options that are not loop settings are ignored, None keeps the default.

        >>> TrainConfig.from_options(epochs=2.0, warmup=0.2, quiet=True, lr=None).warmup_ratio
        0.2
        """
        names = {f.name for f in fields(cls)}
        if "warmup" in options:
            options = {**options, "warmup_ratio": options["warmup"]}
        return cls(**{k: v for k, v in options.items() if k in names and v is not None})

    def check(self) -> None:
        """Raise :class:`EncoderkitError` for settings the loop cannot run."""
        if self.max_steps is not None and self.max_steps < 1:
            raise EncoderkitError("max_steps must be at least 1")
        if self.max_steps is None and not self.epochs > 0:
            raise EncoderkitError("epochs must be positive")
        if self.batch_size < 1 or self.grad_accum < 1:
            raise EncoderkitError("batch_size and grad_accum must be at least 1")
        if self.head_only_steps < 0:
            raise EncoderkitError("head_only_steps must be >= 0")
        if self.patience < 0:
            raise EncoderkitError("patience must be >= 0")
        if self.min_steps < 0:
            raise EncoderkitError("min_steps must be >= 0")


class Objective(Protocol):
    """What :class:`Trainer` needs from a training objective.

    ``name``: short name for the log ("embed", "mlm", ...). ``module``: the torch module that is
    trained and checkpointed (all trained parameters must be inside it). ``metric``: the key of
    ``evaluate()``'s result that is maximised (None without validation). ``n_examples``: training
    examples, indexed 0..n-1.

    Optional: ``batches(epoch, batch_size, seed)`` (default: :func:`epoch_batches`, a permutation
    seeded by (seed, epoch)) and ``evaluate()`` (called in eval mode without gradients; an empty
    result is not recorded).
    """

    name: str
    module: object
    metric: str | None
    n_examples: int

    def named_groups(self) -> dict[str, list[tuple[str, object]]]:
        """{"head": [(name, parameter)], "encoder": [...]}; see :func:`split_by_name`."""

    def loss(self, batch: list[int], epoch: int) -> tuple[object, dict]:
        """(scalar loss tensor, stats) of the examples ``batch``; stats are numbers for the log (ints are
        counts, summed over logged steps; floats are averaged)."""

    def export(self, folder: Path) -> None:
        """Save a loadable model in ``folder``."""


class TrainingInterrupted(Exception):
    """Training stopped by Ctrl-C after saving a checkpoint at ``step``."""

    def __init__(self, step: int, out: Path):
        self.step = step
        self.out = out
        super().__init__(f"interrupted at step {step}")


# ---------------------------------------------------------------------------- pure helpers
def lr_at(step: int, base: float, start: int, end: int, warmup_ratio: float) -> float:
    """Learning rate at ``step``: 0 before ``start``, linear warm-up over ``warmup_ratio`` of [start, end)
    (at least one step), then linear decay to 0 at ``end``.

    >>> [round(lr_at(s, 1.0, 0, 10, 0.2), 3) for s in range(11)]
    [0.5, 1.0, 1.0, 0.875, 0.75, 0.625, 0.5, 0.375, 0.25, 0.125, 0.0]
    >>> lr_at(1, 1.0, 2, 10, 0.2), lr_at(2, 1.0, 2, 10, 0.2)   # frozen until step 2, then its own warm-up
    (0.0, 0.5)
    """
    if step < start or end <= start:
        return 0.0
    warm = max(1, int(round(warmup_ratio * (end - start))))
    s = step - start
    if s < warm:
        return base * (s + 1) / warm
    return base * max(0.0, (end - step) / max(1, end - start - warm))


def total_steps(max_steps: int | None, epochs: float, steps_per_epoch: int, min_steps: int = 0) -> int:
    """Optimizer steps of a run: ``max_steps``, else ``epochs`` passes (rounded up, at least 1) and at
    least ``min_steps`` (a small data set is seen for more epochs).

    >>> total_steps(None, 1.5, 5), total_steps(7, 3.0, 5), total_steps(None, 0.01, 5), total_steps(None, 5, 13, 500)
    (8, 7, 1, 500)
    """
    if max_steps:
        return int(max_steps)
    return max(1, math.ceil(round(epochs * steps_per_epoch, 6)), int(min_steps))


def validation_interval(eval_every: int, steps_per_epoch: int, total: int, min_steps: int = 0) -> int:
    """Steps between validations: ``eval_every``, else one epoch; when ``min_steps`` made a small data
    set run many epochs, a tenth of the run (at least an epoch).

    >>> validation_interval(0, 90, 450), validation_interval(0, 13, 500, 500), validation_interval(25, 13, 500, 500)
    (90, 50, 25)
    """
    if eval_every:
        return eval_every
    if min_steps and total <= min_steps:
        return max(steps_per_epoch, math.ceil(total / 10))
    return steps_per_epoch


def objective_modules(objective) -> list:
    """The torch modules an objective holds (its model, and e.g. a teacher or an ELECTRA generator)."""
    import torch

    found = [objective.module] if getattr(objective, "module", None) is not None else []
    found += [v for v in vars(objective).values() if isinstance(v, torch.nn.Module)]
    return found


def split_by_name(named: Iterable[tuple[str, object]], head_fragments: Sequence[str]) -> dict[str, list]:
    """Parameter groups: those whose name contains one of ``head_fragments`` are the head.

    >>> split_by_name([("bert.layer.0.weight", 1), ("classifier.weight", 2)], ("classifier.",))
    {'head': [('classifier.weight', 2)], 'encoder': [('bert.layer.0.weight', 1)]}
    """
    groups: dict[str, list] = {"head": [], "encoder": []}
    for name, p in named:
        groups["head" if any(f in name for f in head_fragments) else "encoder"].append((name, p))
    return groups


def summarize(records: list[dict]) -> dict:
    """One log entry from several: ints (counts) are summed, floats averaged, keys in first-seen order.

    >>> summarize([{"loss": 1.0, "masked_tokens": 3}, {"loss": 2.0, "masked_tokens": 4}])
    {'loss': 1.5, 'masked_tokens': 7}
    """
    keys = list(dict.fromkeys(k for r in records for k in r))
    out = {}
    for k in keys:
        vals = [r[k] for r in records if k in r]
        if all(isinstance(v, int) and not isinstance(v, bool) for v in vals):
            out[k] = int(sum(vals))
        else:
            out[k] = float(np.mean(vals))
    return out


# ---------------------------------------------------------------------------- the loop
class Trainer:
    """Trains ``objective`` with ``config``; logs, checkpoints and exports into ``out``.

    ``run_info``: extra entries of the log (and of the checkpoint). ``on_step(trainer, step)`` is called
    after every optimizer step (e.g. to :meth:`request_stop`).
    """

    def __init__(
        self,
        objective: Objective,
        config: TrainConfig,
        out: Path,
        show_progress: bool | None = None,
        run_info: dict | None = None,
        *,
        on_step: Callable[[Trainer, int], None] | None = None,
    ):
        import torch

        config.check()
        if objective.n_examples < 1:
            raise EncoderkitError("no training examples", hint="check the training data")
        self.objective = objective
        self.config = config
        self.out = Path(out)
        self.show_progress = show_progress
        self.run_info = dict(run_info or {})
        self.on_step = on_step
        self.stop_requested = False
        self._plan: tuple[int, list[list[int]]] | None = None
        self.steps_per_epoch = max(1, math.ceil(len(self.plan(0)) / config.grad_accum))
        self.total_steps = total_steps(config.max_steps, config.epochs, self.steps_per_epoch, config.min_steps)
        self.eval_interval = validation_interval(config.eval_every, self.steps_per_epoch, self.total_steps, config.min_steps)
        self.head_lr = config.head_lr if config.head_lr is not None else config.lr * config.head_lr_mult
        self.device = resolve_device(config.device)
        if is_cuda(self.device):  # the model and every other module of the objective (a teacher, a generator)
            for module in {id(m): m for m in objective_modules(objective)}.values():
                module.to(self.device)
        self.groups = self._trainable(objective.named_groups())
        if config.head_only_steps and not self.groups["head"]:
            raise EncoderkitError(
                f"head-only steps need a head: {objective.name} has no head parameters", hint="set head_only_steps to 0"
            )
        param_groups, self.group_kinds = [], []  # per optimizer group: its kind ("head" or "encoder")
        for kind in ("head", "encoder"):
            for decay in (True, False):
                params = [p for _, p in self.groups[kind] if (p.ndim >= 2) == decay]
                if params:
                    param_groups.append({"params": params, "weight_decay": config.weight_decay if decay else 0.0, "lr": 0.0})
                    self.group_kinds.append(kind)
        self.optimizer = torch.optim.AdamW(param_groups, lr=0.0, betas=(0.9, 0.999), eps=ADAM_EPS)
        self.device_type = "cuda" if is_cuda(self.device) else "cpu"
        # mixed precision: --bf16 on the CPU; always on a GPU (bfloat16, or float16 with loss scaling)
        self.amp_dtype = getattr(torch, autocast_dtype_name(self.device))
        self.amp = config.bf16 or is_cuda(self.device)
        self.scaler = torch.amp.GradScaler("cuda") if self.amp and self.amp_dtype == torch.float16 else None
        self.train_seconds = 0.0
        self.window: list[dict] = []  # per-step records not yet in the loss curve
        self.log = {
            "config": config.to_dict(),
            "objective": objective.name,
            "metric": getattr(objective, "metric", None),
            "total_steps": self.total_steps,
            "steps_per_epoch": self.steps_per_epoch,
            "step": 0,
            "completed": False,
            "stopped_early": None,
            "resumed_from_step": None,
            "loss_curve": [],
            "evals": [],
            "best": None,
            "train_seconds": 0.0,
            "wall_seconds": 0.0,
            "device": describe_device(self.device),
            **self.run_info,
        }

    @staticmethod
    def _trainable(groups: dict) -> dict[str, list]:
        """The head and encoder parameters that require gradients, each once (a tensor shared by both
        groups stays in the head)."""
        seen: set[int] = set()
        out: dict[str, list] = {"head": [], "encoder": []}
        for kind in out:
            for name, p in groups.get(kind, []):
                if p.requires_grad and id(p) not in seen:
                    seen.add(id(p))
                    out[kind].append((name, p))
        return out

    # ------------------------------------------------------------------ plan and schedule
    def plan(self, epoch: int) -> list[list[int]]:
        """The batches of ``epoch`` (the objective's own batching, else a seeded permutation)."""
        if self._plan is None or self._plan[0] != epoch:
            c = self.config
            batches = getattr(self.objective, "batches", None)
            plan = (
                batches(epoch, c.batch_size, c.seed)
                if batches is not None
                else epoch_batches(self.objective.n_examples, c.batch_size, c.seed, epoch)
            )
            self._plan = (epoch, plan)
        return self._plan[1]

    def batches_at(self, step: int) -> tuple[int, list[list[int]]]:
        """(epoch, batches) of optimizer step ``step`` (0-based)."""
        epoch, pos = divmod(step, self.steps_per_epoch)
        return epoch, step_batches(self.plan(epoch), pos, self.config.grad_accum)

    def planned_examples(self) -> list[int]:
        """Every example index the steps of this run use (e.g. to prepare only those), sorted."""
        used: set[int] = set()
        for step in range(self.total_steps):
            for b in self.batches_at(step)[1]:
                used.update(b)
        return sorted(used)

    def lrs(self, step: int) -> dict[str, float]:
        c, end = self.config, self.total_steps
        return {
            "head": lr_at(step, self.head_lr, 0, end, c.warmup_ratio),
            "encoder": lr_at(step, c.lr, min(c.head_only_steps, end), end, c.warmup_ratio),
        }

    def phase(self, step: int) -> str:
        return "head" if step < self.config.head_only_steps else "full"

    # ------------------------------------------------------------------ run
    def run(self, resume: bool = False) -> dict:
        """Train to the end (or the time budget); returns the log. ``resume``: continue from the checkpoint
        in ``out`` (an error if there is none); otherwise a stale checkpoint there is removed."""
        c = self.config
        self.out.mkdir(parents=True, exist_ok=True)
        if resume:
            self._restore()
        elif find_checkpoint(self.out) is not None:
            remove_checkpoint(self.out)
        module = self.objective.module
        if self.log["step"] < self.total_steps:
            self.log["completed"], self.log["stopped_early"] = False, None
        wall0 = time.perf_counter() - float(self.log["wall_seconds"])
        module.train()
        if self.log["step"] == 0 and not self.log["evals"] and c.eval_at_start:
            self._validate()
        bar = self._progress_bar()
        previous_handler = self._install_sigint()
        try:
            while self.log["step"] < self.total_steps:
                step = self.log["step"]
                if self.stop_requested:
                    break
                if c.max_minutes is not None and self.train_seconds >= c.max_minutes * 60:
                    self.log["stopped_early"] = f"time budget of {c.max_minutes} min reached at step {step}"
                    break
                self._step(step)
                done = step + 1
                if done % c.log_every == 0 or done == self.total_steps:
                    self._flush_window()
                    self._write_log(wall0)
                if bar is not None:
                    bar.update(1)
                    bar.set_postfix(loss=f"{self.window_loss():.4f}", phase=self.phase(step))
                if self.on_step is not None:
                    self.on_step(self, done)
                if self._validates_at(done):
                    self._validate()
                    if done < self.total_steps:  # the end is saved below
                        self._checkpoint(wall0)
        finally:
            self._restore_sigint(previous_handler)
            for _, p in self.groups["encoder"]:
                p.requires_grad_(True)  # the model leaves the loop as trainable as it came
            if bar is not None:
                bar.close()
        done = self.log["step"]
        if self.stop_requested and done < self.total_steps and not self.log["stopped_early"]:
            self._checkpoint(wall0)
            raise TrainingInterrupted(done, self.out)
        self._flush_window()
        if not self.log["evals"] or self.log["evals"][-1]["step"] != done:
            self._validate()  # stopped by the time budget between validations
        if not c.select_best or self.log["best"] is None:
            self._export()
        self.log["completed"] = True
        if c.keep_checkpoint:
            self._checkpoint(wall0)
        else:
            self._write_log(wall0)
            remove_checkpoint(self.out)  # the exported model is the result, nothing left to resume
        return self.log

    def request_stop(self) -> None:
        """Stop after the current step with a checkpoint (what Ctrl-C does)."""
        self.stop_requested = True

    def window_loss(self) -> float:
        """Mean loss of the steps since the last log line; right after one, that line's loss (the progress
        bar showed "nan" at every logging step)."""
        if self.window:
            return float(np.mean([w["loss"] for w in self.window]))
        curve = self.log.get("loss_curve") or []
        return float(curve[-1]["loss"]) if curve and "loss" in curve[-1] else float("nan")

    def _validates_at(self, done: int) -> bool:
        return done == self.total_steps or done % self.eval_interval == 0

    def _set_phase(self, step: int) -> str:
        phase = self.phase(step)
        for _, p in self.groups["encoder"]:
            p.requires_grad_(phase == "full")
        return phase

    def _step(self, step: int) -> None:
        """One optimizer step: ``grad_accum`` batches, each loss weighted by its share of the examples."""
        import torch

        c = self.config
        t0 = time.perf_counter()
        phase = self._set_phase(step)
        lrs = self.lrs(step)
        for group, kind in zip(self.optimizer.param_groups, self.group_kinds):
            group["lr"] = lrs[kind]
        epoch, batches = self.batches_at(step)
        n = sum(len(b) for b in batches)
        loss_value, stats = 0.0, []
        # on a GPU the objective's tensors are made there (torch.device as the default for factories)
        where = torch.device(self.device) if is_cuda(self.device) else contextlib.nullcontext()
        for batch in batches:
            with where, torch.autocast(self.device_type, dtype=self.amp_dtype, enabled=self.amp):
                loss, st = self.objective.loss(batch, epoch)
            scaled = loss * (len(batch) / n)
            (self.scaler.scale(scaled) if self.scaler is not None else scaled).backward()
            loss_value += float(loss.detach()) * len(batch) / n
            stats.append(st)
        params = [p for g in self.optimizer.param_groups for p in g["params"] if p.grad is not None]
        if self.scaler is not None:
            self.scaler.unscale_(self.optimizer)
        grad_norm = float(torch.nn.utils.clip_grad_norm_(params, c.max_grad_norm)) if c.max_grad_norm and params else 0.0
        if self.scaler is not None:
            self.scaler.step(self.optimizer)
            self.scaler.update()
        else:
            self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        self.train_seconds += time.perf_counter() - t0
        self.log["step"] = step + 1
        record = {
            "step": step + 1,
            "phase": phase,
            "lr_head": lrs["head"],
            "lr_encoder": lrs["encoder"],
            "loss": loss_value,
            "grad_norm": grad_norm,
        }
        for k, v in summarize(stats).items():
            record.setdefault(k, v)
        self.window.append(record)

    def _flush_window(self) -> None:
        if not self.window:
            return
        last = self.window[-1]
        numbers = summarize(
            [{k: v for k, v in w.items() if k not in ("step", "phase", "lr_head", "lr_encoder")} for w in self.window]
        )
        self.log["loss_curve"].append(
            {
                "step": last["step"],
                "epoch": round(last["step"] / self.steps_per_epoch, 3),
                "phase": last["phase"],
                "lr_head": last["lr_head"],
                "lr_encoder": last["lr_encoder"],
                **numbers,
                "train_seconds": round(self.train_seconds, 2),
            }
        )
        self.window = []

    # ------------------------------------------------------------------ validation, export, checkpoints
    def _validate(self) -> None:
        import torch

        evaluate = getattr(self.objective, "evaluate", None)
        if evaluate is None:
            return
        module, step = self.objective.module, self.log["step"]
        t = time.perf_counter()
        module.eval()
        where = torch.device(self.device) if is_cuda(self.device) else contextlib.nullcontext()
        try:
            with torch.no_grad(), where:  # on a GPU, tensors the evaluation makes are made there too
                res = evaluate()
        finally:
            module.train()
        if not res:
            return
        entry = {
            "step": step,
            "epoch": round(step / self.steps_per_epoch, 3),
            **res,
            "train_seconds": round(self.train_seconds, 2),
            "eval_seconds": round(time.perf_counter() - t, 2),
        }
        self.log["evals"].append(entry)
        metric, best = self.log["metric"], self.log["best"]
        if metric in res and (best is None or res[metric] > best[metric]):
            self.log["best"] = entry
            if self.config.select_best:
                self._export()
        elif metric in res and self.config.patience and step < self.total_steps:
            since = sum(1 for e in self.log["evals"] if e["step"] > self.log["best"]["step"])
            if since >= self.config.patience:
                self.log["stopped_early"] = f"no better {metric} in {since} validations (best at step {self.log['best']['step']})"
                self.stop_requested = True

    def _export(self) -> None:
        self.objective.export(self.out)
        self.objective.module.train()  # saving a sentence-transformers model switches it to eval mode

    def _write_log(self, wall0: float) -> None:
        self.log["train_seconds"] = round(self.train_seconds, 2)
        self.log["wall_seconds"] = round(time.perf_counter() - wall0, 2)
        (self.out / LOG).write_text(json.dumps(self.log, indent=1))

    def _checkpoint(self, wall0: float) -> None:
        self._write_log(wall0)
        save_checkpoint(self.out, self.objective.module, self.optimizer, {**self.log, "window": self.window})

    def _restore(self) -> None:
        folder = find_checkpoint(self.out)
        if folder is None:
            raise EncoderkitError(f"no checkpoint to resume in '{self.out}'", hint="run without --resume to start fresh")
        state = load_checkpoint(folder, self.objective.module, self.optimizer)
        if state.get("total_steps") != self.total_steps:
            raise EncoderkitError(
                f"checkpoint in '{self.out}' was made for {state.get('total_steps')} steps, not {self.total_steps}",
                hint="resume with the same data and options",
            )
        before, now = state.get("config") or {}, self.config.to_dict()
        diffs = [
            f"{k}: {before.get(k)!r} -> {v!r}" for k, v in now.items() if k not in RESUME_FREE and k in before and before[k] != v
        ]
        if diffs:
            raise EncoderkitError(
                f"resume with different settings ({'; '.join(diffs[:4])})", hint="resume with the settings of the original run"
            )
        self.window = state.pop("window", [])
        self.log = {**state, "config": now, **self.run_info, "resumed_from_step": state["step"]}
        self.train_seconds = float(state.get("train_seconds", 0.0))

    # ------------------------------------------------------------------ progress and Ctrl-C
    def _progress_bar(self):
        from ..runtime import progress_enabled

        if not progress_enabled(self.show_progress):
            return None
        from tqdm.auto import tqdm

        return tqdm(total=self.total_steps, initial=self.log["step"], desc=f"train {self.objective.name}", unit="step")

    def _install_sigint(self):
        def handler(signum, frame):
            if self.stop_requested:
                raise KeyboardInterrupt
            self.stop_requested = True

        try:
            return signal.signal(signal.SIGINT, handler)
        except ValueError:  # not the main thread
            return None

    @staticmethod
    def _restore_sigint(previous) -> None:
        if previous is not None:
            try:
                signal.signal(signal.SIGINT, previous)
            except ValueError:
                pass
