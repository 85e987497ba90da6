"""``encoderkit pretrain mlm|rtd`` (continued or from-scratch pretraining) and ``encoderkit fill-mask``."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import List, Optional

import typer

from .common import console, print_json, quiet_env
from .options import (
    batch_size_option,
    json_option,
    max_minutes_option,
    max_steps_option,
    out_option,
    quiet_option,
    resume_option,
    seed_option,
    with_options,
)

_MODEL_HELP = (
    "'default' (bundled all-MiniLM-L6-v2), a local model folder or a hub id; with --from-scratch only its tokenizer is used."
)
_CORPUS_HELP = "Text files, folders (.txt .md .rst .html) or a BEIR corpus.jsonl. Repeat for several."


# the options mlm and rtd share, each named as the PretrainConfig field it sets
_SHARED = {
    "max_steps": (Optional[int], max_steps_option("Training steps [from --epochs].")),
    "epochs": (Optional[float], typer.Option(None, min=0.0, help="Passes over the training text [1] when --max-steps is unset.")),
    "batch_size": (int, batch_size_option(32, "Sequences per step.")),
    "warmup_ratio": (float, typer.Option(0.06, min=0.0, max=1.0, help="Linear warm-up fraction of each phase.")),
    "max_length": (int, typer.Option(128, min=8, help="Tokens per sequence (special tokens included).")),
    "eval_fraction": (float, typer.Option(0.1, min=0.0, max=0.9, help="Fraction of documents held out for evaluation.")),
    "max_eval_examples": (int, typer.Option(1000, min=1, help="Held-out sequences evaluated at each checkpoint.")),
    "eval_every": (
        Optional[int],
        typer.Option(None, min=0, help="Evaluate + checkpoint every N steps [5 per run; 0: each epoch end]."),
    ),
    "seed": (int, seed_option("Seed for initialisation, data order and masks.")),
    "split_seed": (int, typer.Option(0, help="Seed of the held-out split.")),
    "line_docs": (bool, typer.Option(False, "--line-docs", help="Each line of a text file is its own document.")),
    "max_minutes": (Optional[float], max_minutes_option()),
    "resume": (bool, resume_option("Continue the unfinished run in --out.")),
    "overwrite": (bool, typer.Option(False, "--overwrite", help="Replace a previous run in --out.")),
    "keep_checkpoint": (bool, typer.Option(False, "--keep-checkpoint", help="Keep --out/checkpoint after finishing.")),
    "as_json": (bool, json_option("Print the training log as JSON.")),
    "quiet": (bool, quiet_option()),
}


def register(app: typer.Typer) -> None:
    """Add the pretraining commands to the top-level app."""
    pretrain = typer.Typer(
        help="Pretrain an encoder: masked LM (BERT/RoBERTa) or ELECTRA replaced-token detection.", no_args_is_help=True
    )
    pretrain.command("mlm")(mlm)
    pretrain.command("rtd")(rtd)
    app.add_typer(pretrain, name="pretrain")
    app.command("fill-mask")(fill_mask)


@with_options(_SHARED)
def mlm(
    corpus: List[Path] = typer.Option(..., "--corpus", "-c", help=_CORPUS_HELP),
    out: Path = out_option("Output model folder."),
    model: str = typer.Option("default", help=_MODEL_HELP),
    from_scratch: bool = typer.Option(False, "--from-scratch", help="Random initialisation (tokenizer of --model)."),
    size: str = typer.Option("tiny", help="Size from scratch: tiny (L2/H128) | mini (L4/H256) | small (L4/H512)."),
    lr: Optional[float] = typer.Option(None, help="Encoder learning rate [5e-5 continued, 5e-4 from scratch]."),
    head_lr: Optional[float] = typer.Option(None, help="Head learning rate [1e-3 for a newly attached head, else --lr]."),
    head_only_steps: int = typer.Option(0, min=0, help="First N steps train only the MLM head (encoder frozen)."),
    mlm_prob: float = typer.Option(0.15, min=0.0, max=1.0, help="Fraction of tokens to predict."),
    masking: str = typer.Option("token", help="token | whole-word | span (SpanBERT)."),
    static_masking: bool = typer.Option(
        False, "--static-masking", help="Same masks every epoch (BERT) instead of fresh ones (RoBERTa)."
    ),
    mask_copies: int = typer.Option(1, min=1, help="With --static-masking: K masks cycled over epochs (BERT dupe_factor)."),
    nsp: bool = typer.Option(False, "--nsp", help="Add next-sentence prediction (BERT models; for ablations)."),
    **options,
):
    """Masked-LM pretraining: continue on your text (domain adaptation) or start from scratch.

    An encoder without an MLM head (e.g. the bundled MiniLM) gets a standard head tied to its input
    embeddings; --head-only-steps warms it up before the encoder trains. The output loads with
    Encoder.load, sentence-transformers and the transformers fill-mask pipeline.
    """
    _run("mlm", locals())


@with_options(_SHARED)
def rtd(
    corpus: List[Path] = typer.Option(..., "--corpus", "-c", help=_CORPUS_HELP),
    out: Path = out_option("Output model folder (generator in OUT/generator)."),
    model: str = typer.Option("default", help=_MODEL_HELP),
    from_scratch: bool = typer.Option(False, "--from-scratch", help="Random initialisation (tokenizer of --model)."),
    size: str = typer.Option("tiny", help="Discriminator size from scratch: tiny | mini | small."),
    generator_size: float = typer.Option(0.25, min=0.01, max=1.0, help="Generator width as a fraction of the discriminator's."),
    generator_layers: Optional[int] = typer.Option(None, min=1, help="Generator layers [same as the discriminator]."),
    rtd_weight: float = typer.Option(50.0, min=0.0, help="λ in loss = MLM_generator + λ·RTD (ELECTRA: 50)."),
    lr: Optional[float] = typer.Option(None, help="Discriminator learning rate [5e-5 continued, 5e-4 from scratch]."),
    head_lr: Optional[float] = typer.Option(None, help="Generator + RTD head learning rate [5e-4 continued, else --lr]."),
    head_only_steps: int = typer.Option(0, min=0, help="First N steps train only the generator and RTD head."),
    mlm_prob: float = typer.Option(0.15, min=0.0, max=1.0, help="Fraction of tokens the generator replaces."),
    masking: str = typer.Option("token", help="token | whole-word | span."),
    static_masking: bool = typer.Option(False, "--static-masking", help="Same masks every epoch."),
    **options,
):
    """ELECTRA replaced-token detection: a small generator corrupts the text, the encoder spots the fakes.

    The encoder (discriminator) is saved in --out for Encoder.load / sentence-transformers; the
    generator (an MLM, usable with fill-mask) in --out/generator.
    """
    _run("rtd", locals())


def _run(objective: str, values: dict) -> None:
    """Run ``objective`` with a command's options (its own and the shared ones in ``options``), each named
    as the :class:`~encoderkit.training.pretrain.train.PretrainConfig` field it sets."""
    from ..training.loop import TrainingInterrupted
    from ..training.pretrain.train import PretrainConfig, run_pretraining

    values = {**values, **values.pop("options")}
    resume, overwrite, as_json = values["resume"], values["overwrite"], values["as_json"]
    quiet_env(values["quiet"] or as_json)
    cfg = PretrainConfig.from_options(objective, **values)

    try:
        log = run_pretraining(cfg, resume=resume, overwrite=overwrite)
    except TrainingInterrupted as exc:
        print(
            f"interrupted at step {exc.step}: checkpoint saved in {exc.out}/checkpoint; "
            "run the same command with --resume to continue",
            file=sys.stderr,
        )
        sys.exit(130)
    if as_json:
        summary = {k: v for k, v in log.items() if k != "loss_curve"}
        summary["data"] = {k: v for k, v in summary.get("data", {}).items() if k != "eval_document_ids"}
        print_json({"out": cfg.out, **summary})
        return
    _print_log(cfg, log)


def _fmt(v) -> str:
    if isinstance(v, float):
        return f"{v:.4g}" if abs(v) < 1e4 else f"{v:.3e}"
    return str(v)


def _print_log(cfg, log: dict) -> None:
    from rich.table import Table

    out = console()
    if log.get("resumed") == "already complete":
        out.print(f"[green]{cfg.out} is already trained[/] ({log.get('step')} steps)")
    d = log["data"]
    out.print(
        f"data    {d['documents']} documents ({d['train_documents']} train / {d['eval_documents']} held out), "
        f"{d['train_examples']} training sequences, {d['train_tokens']} tokens"
        + (f"; skipped: {d['skipped']}" if d.get("skipped") else "")
    )
    keys = (
        ["mlm_loss", "perplexity", "accuracy", "nsp_accuracy"]
        if log["objective"] == "mlm"
        else ["gen_mlm_loss", "gen_accuracy", "disc_loss", "disc_accuracy", "replaced_precision", "replaced_recall"]
    )
    t = Table(title=f"held-out evaluation ({log['objective']})")
    t.add_column("step", justify="right")
    t.add_column("train s", justify="right")
    shown = [k for k in keys if any(k in e for e in log["evals"])]
    for k in shown:
        t.add_column(k.replace("_", " "), justify="right")
    for e in log["evals"]:
        t.add_row(str(e["step"]), _fmt(e.get("train_seconds", 0.0)), *[_fmt(e.get(k, "")) for k in shown])
    out.print(t)
    extra = f", stopped early: {log['stopped_early']}" if log.get("stopped_early") else ""
    on = f" on {log['device']}" if log.get("device") else ""
    out.print(f"trained {log['step']} steps in {log['train_seconds']:.0f} s{on}{extra}; model saved to [bold]{cfg.out}[/]")
    if log["objective"] == "mlm":
        out.print(f'try: encoderkit fill-mask "The capital of France is [MASK]." --model {cfg.out}')
    else:
        out.print(f"generator (fill-mask): {cfg.out}/generator")


def fill_mask(
    text: str = typer.Argument(..., metavar="TEXT", help="Text with one or more [MASK] tokens."),
    model: str = typer.Option(..., "--model", "-m", help="Model folder (or hub id) with a masked-LM head."),
    k: int = typer.Option(5, "-k", "--top-k", min=1, help="Predictions per mask."),
    as_json: bool = json_option("Print predictions as JSON."),
):
    """Predict the masked words of a text with a masked-LM model."""
    quiet_env(True)
    if "[MASK]" not in text and "<mask>" not in text:  # checked before the model is loaded
        from ..errors import EncoderkitError

        raise EncoderkitError(
            "the text has no [MASK]", hint='write [MASK] where a word should be predicted, e.g. "Paris is the [MASK] of France."'
        )
    from ..training.pretrain.fill_mask import FillMask

    fm = FillMask.load(model)
    results = fm(text, k=k)
    if as_json:
        print_json({"model": fm.name, "text": text, "masks": results})
        return
    from rich.table import Table

    out = console()
    for n, preds in enumerate(results, start=1):
        t = Table(title=f"[MASK] {n} of {len(results)}" if len(results) > 1 else f"{fm.name}: {text}")
        t.add_column("#", justify="right")
        t.add_column("token")
        t.add_column("score", justify="right")
        t.add_column("sequence")
        for r, p in enumerate(preds, start=1):
            t.add_row(str(r), p["token"], f"{p['score']:.4g}", p["sequence"])
        out.print(t)
