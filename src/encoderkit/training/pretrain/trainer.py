"""The pretraining loop: AdamW, head warm-up, linear schedules, held-out evaluation, resumable checkpoints.

Everything that decides what a step does is a pure function of the step number: the batch (epoch =
step // steps_per_epoch, order = a permutation seeded by (seed, epoch)), its masks (seeded per
example, see :mod:`.masking`), the phase and learning rates. With weights, AdamW moments and the
torch RNG restored from a checkpoint, a resumed run therefore repeats exactly what an uninterrupted
run would have done.

Phases: for ``head_only_steps`` steps only the head trains (encoder frozen, its decoder weight is the
tied embedding matrix so it stays frozen too); then everything trains, the encoder with its own
linear warm-up from 0 to ``lr`` and linear decay to 0 at ``max_steps``, the head with ``head_lr``
(warm-up at the start of training, decay to 0 at the end).

Ctrl-C (SIGINT) during training finishes the current step, writes a checkpoint and stops; a second
Ctrl-C interrupts at once.
"""

from __future__ import annotations

import math
import signal
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from ..checkpoint import load_checkpoint, save_checkpoint


@dataclass
class TrainConfig:
    max_steps: int
    batch_size: int = 32
    lr: float = 5e-5
    head_lr: float | None = None  # default: lr
    head_only_steps: int = 0
    warmup_ratio: float = 0.06
    weight_decay: float = 0.01
    max_grad_norm: float = 1.0
    eval_every: int = 0  # 0: only before and after training
    log_every: int = 10
    seed: int = 0
    max_minutes: float | None = None  # stop (and export) after this much training time
    eval_batch_size: int = 64
    eval_at_start: bool = True

    def to_dict(self) -> dict:
        return asdict(self)


class TrainingInterrupted(Exception):
    """Training stopped by Ctrl-C after saving a checkpoint at ``step``."""

    def __init__(self, step: int, out: Path):
        self.step = step
        self.out = out
        super().__init__(f"interrupted at step {step}")


def lr_at(step: int, base: float, start: int, end: int, warmup_ratio: float) -> float:
    """Linear warm-up over ``warmup_ratio`` of [start, end) then linear decay to 0 at ``end``; 0 before start."""
    if step < start or end <= start:
        return 0.0
    warm = max(1, int(round(warmup_ratio * (end - start))))
    s = step - start
    if s < warm:
        return base * (s + 1) / warm
    return base * max(0.0, (end - step) / max(1, end - start - warm))


def epoch_order(seed: int, epoch: int, n: int) -> np.ndarray:
    return np.random.default_rng([int(seed) & 0xFFFFFFFF, int(epoch), 31337]).permutation(n)


def batch_at(step: int, n: int, batch_size: int, seed: int) -> tuple[int, np.ndarray]:
    """(epoch, example indices) of training step ``step`` (the last batch of an epoch may be smaller)."""
    per_epoch = math.ceil(n / batch_size)
    epoch, pos = divmod(step, per_epoch)
    order = epoch_order(seed, epoch, n)
    return epoch, order[pos * batch_size : (pos + 1) * batch_size]


def _no_decay(name: str) -> bool:
    low = name.lower()
    return low.endswith("bias") or "layernorm" in low or "layer_norm" in low or ".norm" in low


class Trainer:
    """Runs ``objective`` on ``train`` examples; evaluates on ``eval_sets``; checkpoints into ``out``."""

    def __init__(self, objective, train: list, eval_sets: dict, config: TrainConfig, out: Path, *,
                 run_info: dict | None = None, show_progress: bool | None = None,
                 on_step: Callable[["Trainer", int], None] | None = None):
        if not train:
            from ...errors import EncoderkitError

            raise EncoderkitError("no training examples", hint="add text to the corpus")
        self.objective = objective
        self.train_examples = train
        self.eval_sets = {k: v for k, v in eval_sets.items() if v}
        self.config = config
        self.out = Path(out)
        self.run_info = run_info or {}
        self.show_progress = show_progress
        self.on_step = on_step
        self.stop_requested = False
        groups = objective.named_groups()
        self.head_params = [p for _, p in groups["head"]]
        self.encoder_params = [p for _, p in groups["encoder"]]
        head_lr = config.head_lr if config.head_lr is not None else config.lr
        self.group_specs = []  # (kind, base lr) per optimizer group
        param_groups = []
        for kind, base in (("head", head_lr), ("encoder", config.lr)):
            for decay in (True, False):
                params = [p for n, p in groups[kind] if _no_decay(n) != decay]
                if params:
                    param_groups.append({"params": params, "weight_decay": config.weight_decay if decay else 0.0,
                                         "lr": 0.0})
                    self.group_specs.append((kind, base))
        self.optimizer = torch.optim.AdamW(param_groups, lr=0.0, betas=(0.9, 0.999), eps=1e-6)
        self.state = {"step": 0, "log": [], "evals": [], "train_seconds": 0.0, "wall_seconds": 0.0,
                      "completed": False, "stopped_early": None}

    # ------------------------------------------------------------------ schedule
    def lrs(self, step: int) -> dict[str, float]:
        c = self.config
        head_base = c.head_lr if c.head_lr is not None else c.lr
        return {"head": lr_at(step, head_base, 0, c.max_steps, c.warmup_ratio),
                "encoder": lr_at(step, c.lr, min(c.head_only_steps, c.max_steps), c.max_steps, c.warmup_ratio)}

    def _set_phase(self, step: int) -> str:
        phase = "head" if step < self.config.head_only_steps else "full"
        for p in self.encoder_params:
            p.requires_grad_(phase == "full")
        for p in self.head_params:
            p.requires_grad_(True)
        return phase

    # ------------------------------------------------------------------ checkpoints
    def checkpoint(self) -> None:
        self.state["run"] = self.run_info
        self.state["config"] = self.config.to_dict()
        save_checkpoint(self.out, self.objective.module, self.optimizer, self.state)

    def restore(self, folder: Path) -> None:
        self._set_phase(0)  # parameter identity is what matters to the optimizer, not requires_grad
        self.state = load_checkpoint(folder, self.objective.module, self.optimizer)

    def evaluate(self, step: int) -> dict:
        t = time.perf_counter()
        metrics = self.objective.evaluate(self.eval_sets, self.config.eval_batch_size) if self.eval_sets else {}
        record = {"step": step, "train_seconds": round(self.state["train_seconds"], 2),
                  "eval_seconds": round(time.perf_counter() - t, 2), **metrics}
        self.state["evals"].append(record)
        return record

    # ------------------------------------------------------------------ loop
    def run(self) -> dict:
        c = self.config
        module = self.objective.module
        module.train()
        start = int(self.state["step"])
        wall0 = time.perf_counter() - float(self.state.get("wall_seconds", 0.0))
        if start == 0 and c.eval_at_start and self.eval_sets and not self.state["evals"]:
            self.evaluate(0)
        bar = None
        from ...runtime import progress_enabled

        if progress_enabled(self.show_progress):
            from tqdm.auto import tqdm

            bar = tqdm(total=c.max_steps, initial=start, desc=f"pretrain {self.objective.name}", unit="step")
        previous_handler = self._install_sigint()
        window: list[dict] = []
        last = (0, None, self.lrs(start))  # epoch, phase, lrs of the latest step
        try:
            for step in range(start, c.max_steps):
                if self.stop_requested:
                    break
                if c.max_minutes is not None and self.state["train_seconds"] >= c.max_minutes * 60:
                    self.state["stopped_early"] = f"time budget of {c.max_minutes} min reached at step {step}"
                    break
                t0 = time.perf_counter()
                phase = self._set_phase(step)
                lrs = self.lrs(step)
                for group, (kind, _) in zip(self.optimizer.param_groups, self.group_specs):
                    group["lr"] = lrs[kind]
                epoch, idx = batch_at(step, len(self.train_examples), c.batch_size, c.seed)
                last = (epoch, phase, lrs)
                batch = self.objective.collate([self.train_examples[i] for i in idx], idx, epoch)
                loss, stats = self.objective.loss(batch)
                loss.backward()
                trainable = [p for g in self.optimizer.param_groups for p in g["params"] if p.grad is not None]
                grad_norm = float(torch.nn.utils.clip_grad_norm_(trainable, c.max_grad_norm)) if c.max_grad_norm else 0.0
                self.optimizer.step()
                self.optimizer.zero_grad(set_to_none=True)
                self.state["train_seconds"] += time.perf_counter() - t0
                self.state["step"] = step + 1
                window.append({"loss": float(loss.detach()), "grad_norm": grad_norm, **stats})
                if (step + 1) % c.log_every == 0 or step + 1 == c.max_steps:
                    self._log(step + 1, *last, window)
                    window = []
                if bar is not None:
                    bar.update(1)
                    bar.set_postfix(loss=f"{float(loss.detach()):.3f}", phase=phase)
                if self.on_step is not None:
                    self.on_step(self, step + 1)
                if c.eval_every and (step + 1) % c.eval_every == 0 and step + 1 < c.max_steps:
                    self.evaluate(step + 1)
                    self.state["wall_seconds"] = time.perf_counter() - wall0
                    self.checkpoint()
        finally:
            self._restore_sigint(previous_handler)
            if bar is not None:
                bar.close()
        if window:
            self._log(int(self.state["step"]), *last, window)
        done = int(self.state["step"])
        interrupted = self.stop_requested and done < c.max_steps and not self.state["stopped_early"]
        if not interrupted:
            if not self.state["evals"] or self.state["evals"][-1]["step"] != done:
                self.evaluate(done)
            self.state["completed"] = True
        self.state["wall_seconds"] = time.perf_counter() - wall0
        self.checkpoint()
        if interrupted:
            raise TrainingInterrupted(done, self.out)
        return self.state

    def _log(self, step, epoch, phase, lrs, window) -> None:
        keys = {k for w in window for k in w}
        rec = {"step": step, "epoch": int(epoch), "phase": phase, "lr_head": lrs["head"], "lr_encoder": lrs["encoder"],
               "train_seconds": round(self.state["train_seconds"], 2)}
        for k in sorted(keys):
            vals = [w[k] for w in window if k in w]
            rec[k] = float(np.sum(vals)) if k == "masked_tokens" else float(np.mean(vals))
        self.state["log"].append(rec)

    # ------------------------------------------------------------------ Ctrl-C
    def request_stop(self) -> None:
        """Stop after the current step (checkpoint saved); what Ctrl-C does."""
        self.stop_requested = True

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
