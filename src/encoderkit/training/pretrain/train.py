"""One call from settings to a trained, exported encoder: what ``encoderkit pretrain mlm|rtd`` runs.

>>> from encoderkit.training.pretrain import PretrainConfig, run_pretraining               # doctest: +SKIP
>>> cfg = PretrainConfig(objective="mlm", model="default", corpus=["corpus.jsonl"], out="out/mlm",
...                      head_only_steps=100, max_steps=600)                   # doctest: +SKIP
>>> result = run_pretraining(cfg)                                              # doctest: +SKIP

>>> result["evals"][-1]["perplexity"]                                          # doctest: +SKIP

The output folder loads with ``Encoder.load(out)``, ``SentenceTransformer(out)`` and (for MLM) the
transformers fill-mask pipeline; ``out/train_log.json`` (the log of :mod:`encoderkit.training.loop`,
plus ``pretrain``: these settings, ``data``: the corpus summary, ``model`` and ``masking``) holds the
loss curve, the held-out metrics of every checkpoint and the times. ``resume=True`` continues from
``out/checkpoint``.
"""

from __future__ import annotations

import json
import math
import shutil
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import numpy as np

from ...errors import EncoderkitError
from ..checkpoint import find_checkpoint, read_state
from ..loop import LOG, total_steps
from .masking import STRATEGIES, MaskSpec

OBJECTIVES = ("mlm", "rtd")
# settings that may change when resuming (everything else must match the checkpoint)
_RESUME_FREE = {"max_minutes", "eval_every", "log_every", "keep_checkpoint", "out"}


@dataclass
class PretrainConfig:
    """Every setting of a pretraining run (recorded in the training log)."""

    objective: str = "mlm"  # mlm | rtd
    model: str = "default"
    corpus: list[str] = field(default_factory=list)
    out: str = ""
    from_scratch: bool = False
    size: str = "tiny"
    max_steps: int | None = None
    epochs: float | None = None
    batch_size: int = 32
    lr: float | None = None  # default: 5e-5 continued, 5e-4 from scratch
    head_lr: float | None = None  # default: 1e-3 for a new MLM head, 5e-4 for a new ELECTRA generator/head, else lr
    head_only_steps: int = 0
    warmup_ratio: float = 0.06
    weight_decay: float = 0.01
    max_length: int = 128
    mlm_prob: float = 0.15
    masking: str = "token"  # token | whole-word | span
    static_masking: bool = False
    mask_copies: int = 1
    nsp: bool = False
    eval_fraction: float = 0.1
    max_eval_examples: int = 1000
    eval_every: int | None = None  # default: 5 evaluations over the run; 0: at each epoch end
    log_every: int = 10
    seed: int = 0
    split_seed: int = 0
    line_docs: bool = False
    generator_size: float = 0.25
    generator_layers: int | None = None
    rtd_weight: float = 50.0
    max_minutes: float | None = None
    keep_checkpoint: bool = False

    def validate(self) -> None:
        if self.objective not in OBJECTIVES:
            raise EncoderkitError(f"unknown objective '{self.objective}'", hint="use mlm or rtd")
        if self.masking not in STRATEGIES:
            raise EncoderkitError(f"unknown masking '{self.masking}'", hint=f"use one of: {', '.join(STRATEGIES)}")
        if not self.out:
            raise EncoderkitError("no output folder", hint="pass --out DIR")
        if self.max_steps is not None and self.max_steps < 1:
            raise EncoderkitError("--max-steps must be at least 1")
        if self.epochs is not None and self.epochs <= 0:
            raise EncoderkitError("--epochs must be positive")
        if self.batch_size < 1 or self.max_length < 16:
            raise EncoderkitError("--batch-size must be >= 1 and --max-length >= 16")
        if self.head_only_steps < 0:
            raise EncoderkitError("--head-only-steps must be >= 0")
        if self.nsp and self.objective == "rtd":
            raise EncoderkitError("--nsp goes with the mlm objective only")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_options(cls, objective: str, **options) -> PretrainConfig:
        """The config of a run from command-line options by field name (options that are not fields,
        such as ``quiet``, are ignored; paths become strings)."""
        names = {f.name for f in fields(cls)}
        values = {k: v for k, v in options.items() if k in names}
        values["corpus"] = [str(c) for c in values.get("corpus") or []]
        values["out"] = str(values.get("out") or "")
        return cls(objective=objective, **values)


# ---------------------------------------------------------------------------- output folder
def finished_log(out: Path) -> dict | None:
    """The log of a finished run in ``out`` (None if there is none: the log of an unfinished run, written
    while it trained, does not count)."""
    log = Path(out) / LOG
    if not log.is_file():
        return None
    data = json.loads(log.read_text())
    return data if data.get("completed") else None


def _prepare_out(cfg: PretrainConfig, resume: bool, overwrite: bool) -> tuple[Path, Path | None]:
    out = Path(cfg.out)
    ckpt = find_checkpoint(out) if out.is_dir() else None
    log = out / LOG
    if overwrite and out.is_dir() and (ckpt is not None or log.is_file()):
        shutil.rmtree(out)
        ckpt = None
    elif ckpt is not None and not resume:
        raise EncoderkitError(
            f"'{out}' holds an unfinished run (checkpoint at step {read_state(ckpt)['step']})",
            hint="add --resume to continue it, or --overwrite to start again",
        )
    elif ckpt is None and finished_log(out) is not None and not resume:
        raise EncoderkitError(f"'{out}' already holds a trained model", hint="pick another --out, or add --overwrite")
    elif ckpt is None and out.is_dir() and any(out.iterdir()) and not log.is_file():
        raise EncoderkitError(f"'{out}' exists and is not empty", hint="pick a new or empty --out folder")
    out.mkdir(parents=True, exist_ok=True)
    return out, ckpt


def _check_resume(cfg: PretrainConfig, state: dict) -> None:
    before = state.get("pretrain") or {}
    diffs = [
        f"{k}: {before.get(k)!r} -> {v!r}"
        for k, v in cfg.to_dict().items()
        if k not in _RESUME_FREE and k in before and before[k] != v
    ]
    if diffs:
        raise EncoderkitError(
            f"--resume with different settings ({'; '.join(diffs[:4])})",
            hint="resume with the settings of the original run, or use --overwrite",
        )


# ---------------------------------------------------------------------------- data
def prepare_data(cfg: PretrainConfig, tokenizer, show_progress: bool | None = None) -> dict:
    """Corpus -> held-out split -> tokenized documents -> training examples and evaluation sets."""
    from .data import SpecialLayout, load_corpus, nsp_pairs, pack_segments, split_holdout, tokenize_documents

    corpus = load_corpus(cfg.corpus, line_docs=cfg.line_docs)
    train_idx, eval_idx = split_holdout(len(corpus), cfg.eval_fraction, cfg.split_seed)
    docs = tokenize_documents(corpus.texts, tokenizer, show_progress=show_progress)
    layout = SpecialLayout.of(tokenizer)
    train_docs = [docs[i] for i in train_idx]
    eval_docs = [docs[i] for i in eval_idx]
    if cfg.nsp:
        train = nsp_pairs(train_docs, layout, cfg.max_length, seed=cfg.seed, doc_index=train_idx)
    else:
        train = pack_segments(train_docs, layout, cfg.max_length, doc_index=train_idx)
    if not train:
        raise EncoderkitError(
            f"nothing left to train on: {len(train_docs)} training document(s) give no sequence of 4+ tokens",
            hint="add more text to the corpus",
        )
    rng = np.random.default_rng([int(cfg.split_seed), 424242])
    eval_sets = {
        "mlm": _subsample(pack_segments(eval_docs, layout, cfg.max_length, doc_index=eval_idx), cfg.max_eval_examples, rng)
    }
    if cfg.nsp and len(eval_docs) >= 2:
        eval_sets["nsp"] = _subsample(
            nsp_pairs(eval_docs, layout, cfg.max_length, seed=cfg.split_seed, doc_index=eval_idx), cfg.max_eval_examples, rng
        )
    skipped: dict[str, int] = {}
    for s in corpus.skipped:
        reason = s.reason.split(" (")[0].split(" at byte")[0]
        reason = "document shorter than minimum" if reason.startswith("document ") and "shorter" in reason else reason
        skipped[reason] = skipped.get(reason, 0) + 1
    summary = {
        "documents": len(corpus),
        "train_documents": len(train_idx),
        "eval_documents": len(eval_idx),
        "eval_document_ids": [corpus.ids[i] for i in eval_idx][:10000],
        "corpus_fingerprint": corpus.fingerprint(),
        "skipped": skipped,
        "train_examples": len(train),
        "train_tokens": int(sum(len(e) for e in train)),
        "eval_examples": len(eval_sets["mlm"]),
        "eval_tokens": int(sum(len(e) for e in eval_sets["mlm"])),
    }
    if cfg.nsp:
        summary["nsp_is_next_fraction"] = float(np.mean([e.nsp_label == 0 for e in train]))
    return {"train": train, "eval_sets": eval_sets, "summary": summary}


def _subsample(examples: list, limit: int, rng) -> list:
    if limit and len(examples) > limit:
        keep = np.sort(rng.choice(len(examples), size=limit, replace=False))
        return [examples[i] for i in keep]
    return examples


# ---------------------------------------------------------------------------- models
def build_objective(cfg: PretrainConfig, ref, tokenizer, data: dict | None = None):
    """The objective with its model(s) and the examples of ``data`` (from :func:`prepare_data`);
    returns (objective, info)."""
    import torch

    from .heads import load_mlm_model, scratch_model
    from .objectives import MLMObjective, RTDObjective

    spec = MaskSpec(prob=cfg.mlm_prob, strategy=cfg.masking)
    kw = dict(
        static=cfg.static_masking,
        copies=cfg.mask_copies,
        seed=cfg.seed,
        train=(data or {}).get("train", ()),
        eval_sets=(data or {}).get("eval_sets"),
    )
    if cfg.objective == "mlm":
        if cfg.from_scratch:
            model = scratch_model(tokenizer, cfg.size, nsp=cfg.nsp, max_positions=max(512, cfg.max_length), seed=cfg.seed)
            info = {"head_initialized": True, "encoder_initialized": True}
        else:
            torch.manual_seed(cfg.seed)  # a newly attached head is initialised from the run's seed
            model, info = load_mlm_model(ref.path, nsp=cfg.nsp)
            info["encoder_initialized"] = False
        _check_length(cfg, model.config)
        return MLMObjective(model, tokenizer, spec, nsp=cfg.nsp, **kw), info
    from transformers import AutoModel, BertConfig, BertModel

    from .electra import RTDHead, build_generator, generator_spec
    from .heads import SIZES, quiet_transformers, transformer_dir

    quiet_transformers()
    if cfg.from_scratch:
        hidden, layers, heads, inter = SIZES[cfg.size] if cfg.size in SIZES else (None,) * 4
        if hidden is None:
            raise EncoderkitError(f"unknown size '{cfg.size}'", hint=f"use one of: {', '.join(SIZES)}")
        torch.manual_seed(cfg.seed)
        disc = BertModel(
            BertConfig(
                vocab_size=len(tokenizer),
                hidden_size=hidden,
                num_hidden_layers=layers,
                num_attention_heads=heads,
                intermediate_size=inter,
                max_position_embeddings=max(512, cfg.max_length),
                type_vocab_size=2,
                pad_token_id=tokenizer.pad_token_id or 0,
            ),
            add_pooling_layer=False,
        )
    else:
        try:
            disc = AutoModel.from_pretrained(transformer_dir(ref.path))
        except (OSError, ValueError) as exc:
            raise EncoderkitError(f"could not load {ref.path}: {str(exc).splitlines()[0]}") from None
    _check_length(cfg, disc.config)
    torch.manual_seed(cfg.seed + 1)
    head = RTDHead(disc.config.hidden_size, getattr(disc.config, "hidden_act", "gelu"))
    gen = build_generator(disc, cfg.generator_size, cfg.generator_layers, seed=cfg.seed + 2)
    rtd = RTDObjective(disc, head, gen, tokenizer, generator_spec(cfg.mlm_prob, cfg.masking), weight=cfg.rtd_weight, **kw)
    return rtd, {
        "head_initialized": True,
        "encoder_initialized": cfg.from_scratch,
        "generator": {
            "hidden_size": gen.config.hidden_size,
            "layers": gen.config.num_hidden_layers,
            "heads": gen.config.num_attention_heads,
        },
    }


def _check_length(cfg: PretrainConfig, config) -> None:
    limit = getattr(config, "max_position_embeddings", 512) or 512
    if getattr(config, "model_type", "") in ("roberta", "xlm-roberta", "camembert"):
        limit -= 2
    if cfg.max_length > limit:
        raise EncoderkitError(f"--max-length {cfg.max_length} is longer than the model's {limit} positions")


def _defaults(cfg: PretrainConfig, info: dict, n_train: int) -> tuple[float, float, int, int]:
    lr = cfg.lr if cfg.lr is not None else (5e-4 if cfg.from_scratch else 5e-5)
    if cfg.head_lr is not None:
        head_lr = cfg.head_lr
    elif cfg.from_scratch or not info.get("head_initialized"):
        head_lr = lr
    else:
        head_lr = 1e-3 if cfg.objective == "mlm" else 5e-4
    steps = total_steps(cfg.max_steps, cfg.epochs or 1.0, math.ceil(n_train / cfg.batch_size))
    every = cfg.eval_every if cfg.eval_every is not None else max(1, steps // 5)
    return lr, head_lr, steps, every


# ---------------------------------------------------------------------------- main entry
def run_pretraining(
    cfg: PretrainConfig, *, resume: bool = False, overwrite: bool = False, show_progress: bool | None = None, on_step=None
) -> dict:
    """Train and export; returns the training log (also written to ``out/train_log.json``).
    ``on_step(trainer, step)`` runs after every step (see :class:`~encoderkit.training.loop.Trainer`)."""
    from ...models.ref import resolve_model
    from ...runtime import configure_torch
    from ..loop import TrainConfig, Trainer
    from .heads import load_tokenizer, quiet_transformers

    cfg.validate()
    out, ckpt = _prepare_out(cfg, resume, overwrite)
    if resume and ckpt is None and finished_log(out) is not None:
        return {**finished_log(out), "resumed": "already complete"}
    state = read_state(ckpt) if ckpt is not None else None
    if state is not None:
        _check_resume(cfg, state)
    ref = resolve_model(cfg.model)
    configure_torch()
    quiet_transformers()
    tokenizer = load_tokenizer(ref.path)
    data = prepare_data(cfg, tokenizer, show_progress)
    if state is not None and (state.get("data") or {}).get("corpus_fingerprint") != data["summary"]["corpus_fingerprint"]:
        raise EncoderkitError(
            "the corpus changed since the checkpoint was written", hint="resume with the same corpus files, or use --overwrite"
        )
    objective, info = build_objective(cfg, ref, tokenizer, data)
    lr, head_lr, steps, every = _defaults(cfg, info, len(data["train"]))
    tcfg = TrainConfig(
        max_steps=steps,
        epochs=cfg.epochs or 1.0,
        batch_size=cfg.batch_size,
        lr=lr,
        head_lr=head_lr,
        head_only_steps=cfg.head_only_steps,
        warmup_ratio=cfg.warmup_ratio,
        weight_decay=cfg.weight_decay,
        eval_every=every,
        log_every=cfg.log_every,
        seed=cfg.seed,
        max_minutes=cfg.max_minutes,
        select_best=False,
        keep_checkpoint=cfg.keep_checkpoint,
    )
    run_info = {
        "pretrain": cfg.to_dict(),
        "data": data["summary"],
        "masking": objective.spec.to_dict(),
        "model": {"spec": cfg.model, "name": ref.name, "from_scratch": cfg.from_scratch, **info, "parameters": _count(objective)},
    }
    log = Trainer(objective, tcfg, out, show_progress, run_info, on_step=on_step).run(resume=state is not None)
    finish_folder(cfg, objective, ref, tokenizer, out, info, log)
    return log


def _count(objective) -> dict:
    groups = objective.named_groups()
    return {k: int(sum(p.numel() for _, p in v)) for k, v in groups.items()}


def finish_folder(cfg, objective, ref, tokenizer, out: Path, info: dict, log: dict) -> None:
    """Next to the weights the trainer exported: tokenizer, sentence-transformers files and the card."""
    from .to_encoder import finish_model_dir, source_layout

    layout = {"pooling": "mean", "normalize": False} if cfg.from_scratch else source_layout(ref.path)
    final = log["evals"][-1] if log["evals"] else {}
    corpus_name = ", ".join(Path(c).name for c in cfg.corpus[:3])
    base = f"scratch-{cfg.size}" if cfg.from_scratch else ref.name
    card = {
        "name": f"{base}+{cfg.objective}({corpus_name})",
        "base_model": ref.name,
        "base_spec": cfg.model,
        "objective": cfg.objective,
        "from_scratch": cfg.from_scratch,
        "steps": log["step"],
        "masking": cfg.masking,
        "static_masking": cfg.static_masking,
        "nsp": cfg.nsp,
        "final_eval": final,
        "head_initialized": info.get("head_initialized"),
        "created_by": "encoderkit pretrain",
    }
    dim = int(objective.module.config.hidden_size) if cfg.objective == "mlm" else int(objective.discriminator.config.hidden_size)
    finish_model_dir(out, tokenizer, dim=dim, layout=layout, max_length=cfg.max_length, card=card)
    if cfg.objective == "rtd":
        tokenizer.save_pretrained(out / "generator")
        (out / "rtd_head.json").write_text(json.dumps({"hidden_size": dim, "weight": cfg.rtd_weight}))
