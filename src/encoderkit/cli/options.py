"""The options many commands share, defined once: each ``*_option`` function returns the ``typer.Option``
of one flag (its default and help adjustable per command), so a flag means the same everywhere; groups
of them (:func:`schedule`, :func:`run_controls`, :func:`mining`) are added to a command by
:func:`with_options` and reach it in its ``**options``, so a new shared flag is one line here.

>>> epochs_option(3.0).default, quiet_option().param_decls
(3.0, ('--quiet', '-q'))
>>> sorted(run_controls())
['as_json', 'bf16', 'eval_every', 'max_steps', 'quiet', 'resume', 'seed']
"""

from __future__ import annotations

import copy
import inspect
from typing import Optional

import typer


def with_options(*groups: dict):
    """Decorator: add every option of ``groups`` (name -> (type, typer.Option)) to a command as keyword
    parameters after its own; the command receives them in its ``**options``."""

    def decorate(fn):
        sig = inspect.signature(fn)
        own = [p for p in sig.parameters.values() if p.kind is not inspect.Parameter.VAR_KEYWORD]
        added = [  # a copy per command: help texts are escaped in place, once per command (common.escape_help)
            inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=copy.copy(option), annotation=kind)
            for group in groups
            for name, (kind, option) in group.items()
        ]
        fn.__signature__ = sig.replace(parameters=own + added)
        return fn

    return decorate


def schedule(
    epochs: float = 1.0,
    batch_size: int = 16,
    lr: float = 2e-5,
    warmup: float = 0.1,
    *,
    batch_help: str = "Examples per step.",
    lr_help: str = "Peak learning rate of the encoder.",
) -> dict:
    """--epochs, --batch-size, --lr, --warmup with a command's defaults."""
    return {
        "epochs": (float, epochs_option(epochs)),
        "batch_size": (int, batch_size_option(batch_size, batch_help)),
        "lr": (float, lr_option(lr, lr_help)),
        "warmup": (float, warmup_option(warmup)),
    }


def run_controls(*, budget: bool = False) -> dict:
    """--eval-every, --max-steps (and with ``budget`` --max-minutes), --seed, --bf16, --resume, --json,
    --quiet: how a training run is validated, stopped, seeded, resumed and reported."""
    group = {"eval_every": (int, eval_every_option()), "max_steps": (Optional[int], max_steps_option())}
    if budget:
        group["max_minutes"] = (Optional[float], max_minutes_option())
    group.update(
        seed=(int, seed_option()),
        bf16=(bool, bf16_option()),
        resume=(bool, resume_option()),
        as_json=(bool, json_option("Print the training log as JSON.")),
        quiet=(bool, quiet_option()),
    )
    return group


def mining(hard_negatives: str = "both", negatives: int = 4, neg_range: str = "0:30", *, at_least: int = 1) -> dict:
    """--hard-negatives, --negatives (at least ``at_least``), --neg-range, --neg-sampling with a command's defaults."""
    return {
        "hard_negatives": (str, hard_negatives_option(hard_negatives)),
        "negatives": (int, typer.Option(negatives, min=at_least, help="Hard negatives per query (or example).")),
        "neg_range": (str, neg_range_option(neg_range)),
        "neg_sampling": (str, neg_sampling_option()),
    }


def quiet_option(help: str = "No progress bars."):
    return typer.Option(False, "--quiet", "-q", help=help)


def json_option(help: str = "Print the report as JSON."):
    return typer.Option(False, "--json", help=help)


def resume_option(help: str = "Continue from the checkpoint in --out."):
    return typer.Option(False, "--resume", help=help)


def bf16_option(help: str = "Mixed-precision training (bfloat16 autocast; faster on CPUs with AVX-512 BF16)."):
    return typer.Option(False, "--bf16", help=help)


def seed_option(help: str = "Seed for data order, sampling and initialisation."):
    return typer.Option(0, help=help)


def epochs_option(default: float = 1.0, help: str = "Passes over the training examples (fractions allowed)."):
    return typer.Option(default, min=0.0, help=help)


def batch_size_option(default: int = 16, help: str = "Examples per step."):
    return typer.Option(default, min=1, help=help)


def lr_option(default: float = 2e-5, help: str = "Peak learning rate."):
    return typer.Option(default, min=0.0, help=help)


def warmup_option(default: float = 0.1):
    return typer.Option(default, min=0.0, max=1.0, help="Warm-up share of the steps.")


def eval_every_option():
    return typer.Option(0, min=0, help="Validate every N steps (0: each epoch).")


def max_steps_option(help: str = "Stop after N optimiser steps (overrides --epochs) [from --epochs]."):
    return typer.Option(None, min=1, help=help)


def max_minutes_option():
    return typer.Option(None, min=0.0, help="Training-time budget: stop, validate and export when spent.")


def head_lr_mult_option(default: float = 10.0):
    return typer.Option(default, min=0.0, help="Learning-rate multiplier of the new head.")


def val_fraction_option(help: str = "Share of queries held out for validation."):
    return typer.Option(0.1, min=0.0, max=0.9, help=help)


def out_option(help: str):
    return typer.Option(..., "--out", "-o", help=help)


def hard_negatives_option(default: str = "both", help: str = "Mine hard negatives with: bm25 | dense | both | none."):
    return typer.Option(default, help=help)


def neg_range_option(default: str = "0:30"):
    return typer.Option(default, help="Rank window MIN:MAX the negatives are drawn from.")


def neg_sampling_option():
    return typer.Option("random", help="random | top within the window.")


def ray_option(purpose: str):
    """The ``--ray [ADDRESS]`` option of index, search and serve (its optional value: see
    :func:`encoderkit.cli.common.optional_values`)."""
    return typer.Option(
        None,
        "--ray",
        metavar="[ADDRESS]",
        help=f"{purpose} (no address: a local Ray instance; 'auto', HOST:PORT or ray://HOST:PORT joins a cluster; "
        'needs pip install "encoderkit[ray]").',
    )
