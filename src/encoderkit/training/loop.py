"""The training loop shared by `train embed`, `train rerank` and `train distill`.

AdamW with linear warm-up and decay; validation every ``eval_every`` steps and at each epoch end;
the best model by the validation metric is exported to the output folder; a checkpoint (weights,
optimizer moments, RNG: safetensors + JSON, no pickle) is written at each validation so ``resume``
continues from the last one. What a step does is a pure function of (seed, step): the batch order
of an epoch is a permutation seeded by (seed, epoch), so a resumed run repeats what an
uninterrupted one would have done.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from ..errors import EncoderkitError


@dataclass
class FitConfig:
    epochs: float = 1.0
    batch_size: int = 32
    lr: float = 2e-5
    warmup_ratio: float = 0.1
    weight_decay: float = 0.01
    max_grad_norm: float = 1.0
    eval_every: int = 0          # steps; 0 = at each epoch end only
    log_every: int = 10
    seed: int = 0
    max_steps: int | None = None  # overrides epochs
    bf16: bool = False            # mixed precision (autocast to bfloat16; weights and optimizer stay fp32)
    head_lr_mult: float = 1.0     # learning-rate multiplier for freshly initialised head parameters
    head_params: tuple = ("classifier.", "pooler.")  # name fragments that mark head parameters

    def to_dict(self) -> dict:
        return asdict(self)


def lr_factor(step: int, total: int, warmup: int) -> float:
    """Linear warm-up to 1 over ``warmup`` steps, then linear decay to 0 at ``total``."""
    if step < warmup:
        return (step + 1) / max(1, warmup)
    return max(0.0, (total - step) / max(1, total - warmup))


def epoch_batches(n: int, batch_size: int, seed: int, epoch: int, keys: Sequence | None = None) -> list[list[int]]:
    """Batches of example indices for one epoch, shuffled by (seed, epoch). With ``keys`` (e.g. the
    texts of each example), no batch holds two examples sharing a key: duplicates inside a batch would
    be false in-batch negatives for MNRL."""
    order = np.random.default_rng([seed, epoch, 7]).permutation(n).tolist()
    if keys is None:
        return [order[i : i + batch_size] for i in range(0, n, batch_size)]
    batches: list[list[int]] = []
    open_batches: list[tuple[list[int], set]] = []
    for i in order:
        k = set(keys[i]) if isinstance(keys[i], (tuple, list, set, frozenset)) else {keys[i]}
        for b, used in open_batches:
            if not (used & k):
                b.append(i)
                used |= k
                if len(b) == batch_size:
                    batches.append(b)
                    open_batches.remove((b, used))
                break
        else:
            open_batches.append(([i], set(k)))
    batches.extend(b for b, _ in open_batches)
    return batches


def fit(model, step_loss: Callable[[list[int]], "object"], n_examples: int, cfg: FitConfig, out: Path, *,
        evaluate: Callable[[], dict] | None, metric: str, export: Callable[[Path], None],
        batch_keys: Sequence | None = None, resume: bool = False, show_progress: bool | None = None,
        extra_state: dict | None = None) -> dict:
    """Train ``model`` (a torch module) minimising ``step_loss(batch indices)``.

    ``evaluate()`` returns validation metrics (``metric`` is maximised); ``export(folder)`` saves a
    loadable model. Returns the training log (also written to ``out/train_log.json``).
    """
    import torch

    from .checkpoint import find_checkpoint, load_checkpoint, remove_checkpoint, save_checkpoint
    from ..runtime import progress_enabled

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    steps_per_epoch = math.ceil(len(epoch_batches(n_examples, cfg.batch_size, cfg.seed, 0, batch_keys)))
    total = cfg.max_steps or max(1, int(round(cfg.epochs * steps_per_epoch)))
    warmup = int(cfg.warmup_ratio * total)
    named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    params = [p for _, p in named]
    groups = []
    for is_head in (False, True):  # a new head learns faster than the pretrained encoder under it
        sel = [(n, p) for n, p in named if any(h in n for h in cfg.head_params) == is_head]
        mult = cfg.head_lr_mult if is_head else 1.0
        groups += [{"params": [p for _, p in sel if p.ndim >= 2], "weight_decay": cfg.weight_decay, "lr_mult": mult},
                   {"params": [p for _, p in sel if p.ndim < 2], "weight_decay": 0.0, "lr_mult": mult}]
    optimizer = torch.optim.AdamW([g for g in groups if g["params"]], lr=cfg.lr)
    log = {"config": cfg.to_dict(), "metric": metric, "total_steps": total, "steps_per_epoch": steps_per_epoch,
           "losses": [], "evals": [], "best": None, "seconds": 0.0, **(extra_state or {})}
    step = 0
    if resume:
        ck = find_checkpoint(out)
        if ck is None:
            raise EncoderkitError(f"no checkpoint to resume in '{out}'", hint="run without --resume to start fresh")
        log = load_checkpoint(ck, model, optimizer)
        step = log["step"]
        if log["total_steps"] != total:
            raise EncoderkitError(f"checkpoint in '{out}' was made for {log['total_steps']} steps, not {total}",
                                  hint="resume with the same data and options")
    elif find_checkpoint(out) is not None:
        remove_checkpoint(out)

    def validate() -> None:
        if evaluate is None:
            return
        t = time.perf_counter()
        model.eval()
        with torch.no_grad():
            res = evaluate()
        entry = {"step": step, "epoch": round(step / steps_per_epoch, 3), **res,
                 "eval_seconds": round(time.perf_counter() - t, 1)}
        log["evals"].append(entry)
        if log["best"] is None or res[metric] > log["best"][metric]:
            log["best"] = entry
            export(out)
        model.train()  # after export too: saving a sentence-transformers model switches it to eval mode

    bar = None
    if progress_enabled(show_progress):
        from tqdm.auto import tqdm

        bar = tqdm(total=total, initial=step, desc="training", unit="step")
    if step == 0:
        validate()  # the starting point: training must beat it to be exported
    model.train()
    t0 = time.perf_counter() - log.get("seconds", 0.0)
    running: list[float] = []
    plan: dict[int, list[list[int]]] = {}
    while step < total:
        epoch, pos = divmod(step, steps_per_epoch)
        if epoch not in plan:
            plan = {epoch: epoch_batches(n_examples, cfg.batch_size, cfg.seed, epoch, batch_keys)}
        batch = plan[epoch][pos % len(plan[epoch])]
        f = lr_factor(step, total, warmup)
        for g in optimizer.param_groups:
            g["lr"] = cfg.lr * f * g["lr_mult"]
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=cfg.bf16):
            loss = step_loss(batch)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, cfg.max_grad_norm)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        step += 1
        running.append(float(loss.detach()))
        if step % cfg.log_every == 0 or step == total:
            log["losses"].append({"step": step, "loss": round(float(np.mean(running)), 5)})
            log["step"], log["seconds"] = step, round(time.perf_counter() - t0, 1)
            (out / "train_log.json").write_text(json.dumps(log, indent=1))  # progress, readable while training
            if bar is not None:
                bar.set_postfix(loss=f"{np.mean(running):.4f}")
            running = []
        if bar is not None:
            bar.update(1)
        at_epoch_end = step % steps_per_epoch == 0
        if step == total or at_epoch_end or (cfg.eval_every and step % cfg.eval_every == 0):
            validate()
            log["step"] = step
            log["seconds"] = round(time.perf_counter() - t0, 1)
            save_checkpoint(out, model, optimizer, log)
    if bar is not None:
        bar.close()
    log["step"] = step
    log["seconds"] = round(time.perf_counter() - t0, 1)
    if evaluate is None:
        export(out)
    (out / "train_log.json").write_text(json.dumps(log, indent=1))
    remove_checkpoint(out)  # finished: the exported model is the result, nothing left to resume
    return log
