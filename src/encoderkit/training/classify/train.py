"""`encoderkit train classify`: text classifiers from an encoder, by the recipe practitioners follow.

- ``probe``: frozen encoder, logistic regression on the sentence embeddings, C chosen on dev data
  (:mod:`.probe`). Always run first, so the user sees what fine-tuning buys.
- ``finetune``: the whole model (or LoRA adapters with ``lora``) trained with cross-entropy on the one
  loop, starting from the probe's head (LP-FT), the encoder at a lower learning rate than the head,
  class weights for imbalanced data, model selection and early stopping on dev data, optional bf16,
  exact resume; then temperature scaling (and per-label thresholds for multi-label data) on dev.
- ``fewshot``: ``shots`` examples per class; SetFit (Tunstall et al. 2022): contrastive fine-tuning on
  pairs, then a logistic-regression head; repeated over ``seeds`` draws and reported as mean ± std,
  beside the frozen probe on the same examples.

Without a dev split, ``dev_fraction`` of the training data (stratified) is held out. Data without a
training split (e.g. AG News here: only test) can be used by ``fewshot`` only: each seed's examples
are drawn from the test file and left out of that seed's evaluation.

>>> summary = train_classify("../shared/data/sst2", "runs/sst2", options=ClassifyOptions(method="finetune"))  # doctest: +SKIP
"""

from __future__ import annotations

import json
import resource
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Callable

import numpy as np

from ...data.corpora.labelled import LabeledData, LabeledSet, check_trainable, read_labeled, sample_per_class, stratified_split
from ...errors import EncoderkitError
from ...evaluation.classification import (
    fit_temperature,
    mean_std,
    multi_label_metrics,
    single_label_metrics,
    tune_thresholds,
)
from ..loop import TrainConfig, Trainer
from .objectives import ClassifyObjective, PairObjective, class_weights, count_params, setfit_pairs, wrap_lora
from .probe import C_GRID, fit_probe, logits_of

METHODS = ("probe", "finetune", "fewshot")
SUMMARY = "train_summary.json"


@dataclass
class ClassifyOptions:
    """Everything but the loop's settings (:class:`~encoderkit.training.loop.TrainConfig`)."""

    method: str = "probe"
    model: str = "default"
    max_length: int | None = None  # token limit per text [the model's]
    dev_fraction: float = 0.1  # held out of training when the data has no dev split
    metric: str | None = None  # dev selection: accuracy | macro_f1 (single-label), micro_f1 | macro_f1 (multi-label)
    Cs: tuple = C_GRID  # probe: inverse regularisation values tried on dev
    class_weights: str = "auto"  # auto | balanced | none
    dropout: float = 0.1  # on the pooled embedding, fine-tuning only
    label_smoothing: float = 0.0
    init_head: str = "probe"  # fine-tuning starts from the probe's head (LP-FT) | random
    lora: int | None = None  # LoRA rank (fine-tuning trains adapters instead of all weights)
    lora_alpha: float | None = None
    shots: int = 8  # fewshot: examples per class
    seeds: int = 5  # fewshot: independent draws
    pair_iterations: int = 20  # fewshot: SetFit pair-generation rounds
    head_c: float = 1.0  # fewshot: C of the logistic-regression head (scikit-learn's default, as SetFit)
    seed: int = 0

    def to_dict(self) -> dict:
        d = asdict(self)
        d["Cs"] = list(self.Cs)
        return d


@dataclass
class Splits:
    train: LabeledSet
    dev: LabeledSet | None
    test: LabeledSet | None
    labels: list[str]
    multi_label: bool
    dev_source: str = "none"  # data | held out of training | none
    notes: list[str] = field(default_factory=list)


def default_train_config(method: str, lora: int | None = None) -> TrainConfig:
    """The loop settings each method starts from (every one can be overridden)."""
    if method == "fewshot":  # SetFit's defaults: 1 epoch over the pairs, batch 16, lr 2e-5
        return TrainConfig(epochs=1.0, batch_size=16, lr=2e-5, warmup_ratio=0.1, eval_at_start=False, select_best=False)
    lr = 5e-4 if lora else 5e-5
    return TrainConfig(epochs=4.0, batch_size=32, lr=lr, head_lr=lr * 2 if lora else 5e-4, warmup_ratio=0.1, patience=2)


def train_config_for(method: str, lora: int | None = None, **given) -> TrainConfig:
    """:func:`default_train_config` with the settings a user gave (None: the method's default). A learning
    rate given without a head learning rate sets the head's to ten times it (probe and fine-tune)."""
    from dataclasses import replace

    cfg = default_train_config(method, lora)
    cfg = replace(cfg, **{k: v for k, v in given.items() if v is not None})
    if given.get("lr") is not None and given.get("head_lr") is None and method != "fewshot":
        cfg = replace(cfg, head_lr=given["lr"] * 10)
    return cfg


# ---------------------------------------------------------------------------- data
def prepare_splits(data: LabeledData, options: ClassifyOptions) -> Splits:
    """Train / dev / test of a data set for ``options.method`` (see the module docstring)."""
    notes: list[str] = []
    has_train = data.has("train") or data.has("all")
    if not has_train and options.method != "fewshot":
        raise EncoderkitError(
            f"{data.source} has no training split (only {', '.join(data.splits)})",
            hint="use --method fewshot (examples drawn from the test split), or add a train file",
        )
    train = data.split("train") if has_train else data.split("test")
    test = data.splits.get("test") if data.has("test") and train is not data.splits.get("test") else None
    if not has_train:
        notes.append("no train split: each seed's examples are drawn from test and excluded from its evaluation")
    dev, dev_source = data.splits.get("dev"), "data" if data.has("dev") else "none"
    if dev is None and options.method != "fewshot" and options.dev_fraction > 0:
        keep, held = stratified_split(train.labels, options.dev_fraction, options.seed)
        train, dev, dev_source = train.subset(keep), train.subset(held), f"{options.dev_fraction:.0%} held out of training"
    others = {k: v for k, v in (("dev", dev), ("test", test)) if v is not None}
    known = check_trainable(train, others if has_train else {}, data.multi_label)
    labels = [lab for lab in data.labels if lab in set(known)]
    return Splits(train, dev, test, labels, data.multi_label, dev_source, notes)


def targets_of(split: LabeledSet, labels: list[str], multi_label: bool) -> np.ndarray:
    """Label indices [n] or a 0/1 matrix [n, k]."""
    pos = {lab: i for i, lab in enumerate(labels)}
    if multi_label:
        y = np.zeros((len(split), len(labels)), dtype=np.int8)
        for i, labs in enumerate(split.labels):
            for lab in labs:
                y[i, pos[lab]] = 1
        return y
    return np.array([pos[labs[0]] for labs in split.labels], dtype=np.int64)


def summary_metrics(logits: np.ndarray, y: np.ndarray, multi_label: bool, thresholds=None, temperature: float = 1.0) -> dict:
    """accuracy and F1 of logits against targets (multi-label: sigmoid(logits / T) >= thresholds)."""
    if multi_label:
        th = np.asarray(thresholds if thresholds is not None else [0.5] * logits.shape[1])
        pred = 1 / (1 + np.exp(-logits / temperature)) >= th[None, :]
        m = multi_label_metrics(y, pred)
        return {k: round(m[k], 6) for k in ("accuracy", "micro_f1", "macro_f1")} | {"n": m["n"]}
    m = single_label_metrics(y, logits.argmax(1), logits.shape[1])
    return {"accuracy": round(m["accuracy"], 6), "macro_f1": round(m["macro_f1"], 6), "n": m["n"]}


def peak_rss_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


# ---------------------------------------------------------------------------- the entry point
def train_classify(
    data: str | Path | LabeledData,
    out: str | Path,
    *,
    options: ClassifyOptions | None = None,
    train_config: TrainConfig | None = None,
    read_options: dict | None = None,
    resume: bool = False,
    show_progress: bool | None = None,
    on_event: Callable[[str, dict], None] | None = None,
) -> dict:
    """Train a classifier on ``data`` into ``out`` (see the module docstring); returns the summary also
    written to ``out/train_summary.json``. ``on_event(stage, payload)`` is called with each stage's
    results as soon as they exist ("probe" before a fine-tune starts, "finetune", "seed", ...)."""
    options = options or ClassifyOptions()
    if options.method not in METHODS:
        raise EncoderkitError(f"unknown method '{options.method}'", hint=f"use one of: {', '.join(METHODS)}")
    if resume and options.method != "finetune":
        raise EncoderkitError("--resume continues a fine-tune", hint="probe and few-shot runs are short: run them again")
    if options.lora and options.method != "finetune":
        raise EncoderkitError("--lora applies to --method finetune")
    if not isinstance(data, LabeledData):
        data = read_labeled(data, **(read_options or {}))
    cfg = train_config or default_train_config(options.method, options.lora)
    splits = prepare_splits(data, options)
    metric = options.metric or ("micro_f1" if splits.multi_label else "accuracy")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    emit = on_event or (lambda stage, payload: None)
    t0 = time.perf_counter()
    summary = {
        "method": options.method,
        "data": data.describe(),
        "labels": splits.labels,
        "multi_label": splits.multi_label,
        "dev_source": splits.dev_source,
        "notes": splits.notes,
        "options": options.to_dict(),
        "train_config": cfg.to_dict(),
        "metric": metric,
    }
    emit("data", {"train": len(splits.train), "dev": len(splits.dev or []), "test": len(splits.test or []), **summary})
    if options.method == "fewshot":
        summary["fewshot"] = run_fewshot(splits, out, options, cfg, show_progress, emit)
    else:
        probe_dir = out if options.method == "probe" else out / "probe"
        summary["probe"] = run_probe(splits, probe_dir, options, metric, show_progress, reuse=resume)
        emit("probe", summary["probe"])
        if options.method == "finetune":
            summary["finetune"] = run_finetune(splits, out, options, cfg, metric, resume, show_progress, summary["probe"])
            emit("finetune", summary["finetune"])
    summary["seconds"] = round(time.perf_counter() - t0, 2)
    summary["peak_rss_mb"] = peak_rss_mb()
    (out / SUMMARY).write_text(json.dumps(summary, indent=1, ensure_ascii=False))
    return summary


# ---------------------------------------------------------------------------- probe
def _encoder(options: ClassifyOptions):
    from ...models.heads.encoder import Encoder

    return Encoder.load(options.model, max_length=options.max_length)


def run_probe(splits: Splits, folder: Path, options: ClassifyOptions, metric: str, show_progress, *, reuse: bool = False) -> dict:
    """Fit the probe, calibrate it on dev, save it as a classifier in ``folder``; returns its results."""
    from ...models.heads.classifier import head_config, write_classifier

    if reuse and (folder / "probe.json").is_file():
        return json.loads((folder / "probe.json").read_text())
    t0 = time.perf_counter()
    enc = _encoder(options)
    k, multi = len(splits.labels), splits.multi_label
    y = targets_of(splits.train, splits.labels, multi)
    X = enc.encode(splits.train.texts, show_progress=show_progress, desc="encoding train")
    Xd = enc.encode(splits.dev.texts, show_progress=show_progress, desc="encoding dev") if splits.dev is not None else None
    yd = targets_of(splits.dev, splits.labels, multi) if splits.dev is not None else None
    encode_seconds = time.perf_counter() - t0
    weights = class_weights(y, k, options.class_weights, multi)
    fit = fit_probe(
        X,
        y,
        Xd,
        yd,
        k=k,
        multi_label=multi,
        metric=metric,
        Cs=options.Cs,
        class_weight="balanced" if weights is not None else None,
        seed=options.seed,
        show_progress=show_progress,
    )
    cfg = head_config(
        splits.labels,
        multi_label=multi,
        base=enc.ref,
        pooling=enc.pooling,
        normalize=True,
        max_length=enc.max_length,
        method="probe",
    )
    result = {"C": fit.C, "dev_scores_by_C": fit.scores, "class_weight": "balanced" if weights is not None else None}
    if Xd is not None:
        zd = logits_of(Xd, fit.weight, fit.bias)
        cfg["temperature"] = fit_temperature(zd, yd, multi)
        if multi:
            cfg["thresholds"] = tune_thresholds(1 / (1 + np.exp(-zd / cfg["temperature"])), yd)
        result["dev"] = summary_metrics(zd, yd, multi, cfg["thresholds"], cfg["temperature"])
    if splits.test is not None:
        Xt = enc.encode(splits.test.texts, show_progress=show_progress, desc="encoding test")
        yt = targets_of(splits.test, splits.labels, multi)
        result["test"] = summary_metrics(logits_of(Xt, fit.weight, fit.bias), yt, multi, cfg["thresholds"], cfg["temperature"])
    result |= {"temperature": cfg["temperature"], "thresholds": cfg["thresholds"]}
    result |= {
        "encode_seconds": round(encode_seconds, 2),
        "fit_seconds": fit.fit_seconds,
        "seconds": round(time.perf_counter() - t0, 2),
    }
    cfg["metrics"] = {k2: result[k2] for k2 in ("dev", "test") if k2 in result}
    cfg["training"] = {"C": fit.C, "metric": metric, "train_examples": len(splits.train), "dev": splits.dev_source}
    probes = (splits.dev or splits.train).texts[:64]
    write_classifier(
        folder, encoder_path=enc.ref.path, head_weight=fit.weight, head_bias=fit.bias, config=cfg, probe_texts=probes
    )
    (folder / "probe.json").write_text(json.dumps(result, indent=1))
    return result


# ---------------------------------------------------------------------------- fine-tuning
def _module(options: ClassifyOptions, k: int, *, dropout: float, head=None):
    """(module, backbone for features, base ref, base pooling, max length, body config)."""
    from ...models.backbone import Backbone
    from ...models.heads.torch_modules import ClassifierModule
    from ...models.layout import read_st_layout
    from ...models.ref import resolve_model

    ref = resolve_model(options.model)
    bb = Backbone.load(ref, head="base")
    enc_limit = _encoder_limit(ref, options)
    pooling = (read_st_layout(ref.path) or {}).get("pooling") or "mean"
    body = bb.torch_module
    body.train()
    body_config = body.config
    lora = None
    if options.lora:
        body, lora = wrap_lora(body, options.lora, options.lora_alpha)
    module = ClassifierModule(body, k, pooling=pooling, normalize=True, dropout=dropout)
    if head is not None:
        module.set_head(*head)
    return module, bb, ref, pooling, enc_limit, body_config, lora


def _encoder_limit(ref, options: ClassifyOptions) -> int:
    from ...models.heads.classifier import default_max_length

    return int(options.max_length or default_max_length(ref))


def _logits(module, features, texts: list[str], batch_size: int = 64) -> np.ndarray:
    import torch

    device = next(module.parameters()).device

    was = module.training
    module.eval()
    out = np.zeros((len(texts), module.head.out_features), dtype=np.float32)
    order = np.argsort([-len(t) for t in texts], kind="stable")
    with torch.inference_mode():
        for i in range(0, len(order), batch_size):
            idx = order[i : i + batch_size]
            feats = {k: torch.from_numpy(v).to(device) for k, v in features([texts[j] for j in idx]).items()}
            out[idx] = module(**feats).logits.float().cpu().numpy()
    module.train(was)
    return out


def run_finetune(splits, out, options, cfg: TrainConfig, metric, resume, show_progress, probe: dict) -> dict:
    from safetensors.numpy import load_file

    from ...models.heads.classifier import HEAD_FILE, head_config, update_config, write_classifier
    from ...models.heads.torch_modules import merged_body_state

    k, multi = len(splits.labels), splits.multi_label
    head = None
    if options.init_head == "probe":
        h = load_file(str(out / "probe" / HEAD_FILE))
        head = (h["weight"], h["bias"])
    module, bb, ref, pooling, limit, body_config, lora = _module(options, k, dropout=options.dropout, head=head)
    features = lambda texts: bb.features(texts, limit)
    y = targets_of(splits.train, splits.labels, multi)
    weights = class_weights(y, k, options.class_weights, multi)
    yd = targets_of(splits.dev, splits.labels, multi) if splits.dev is not None else None

    def validate() -> dict:
        if splits.dev is None:
            return {}
        return summary_metrics(_logits(module, features, splits.dev.texts), yd, multi)

    params = count_params(module)
    card = {"base_model": ref.name, "data": splits.train.path, "lora": lora, "parameters": params}

    def export(folder: Path) -> None:
        hc = head_config(
            splits.labels, multi_label=multi, base=ref, pooling=pooling, normalize=True, max_length=limit, method="finetune"
        )
        hc["training"] = {"metric": metric, "lora": lora, "class_weights": options.class_weights, "init_head": options.init_head}
        write_classifier(
            folder,
            encoder_path=ref.path,
            head_weight=module.head.weight.detach().float().cpu().numpy(),
            head_bias=module.head.bias.detach().float().cpu().numpy(),
            config=hc,
            card=card,
            body_state=merged_body_state(module.body),
            body_config=body_config,
            probe_texts=(splits.dev or splits.train).texts[:64],
        )

    objective = ClassifyObjective(
        module,
        features,
        splits.train.texts,
        y,
        multi_label=multi,
        weights=weights,
        label_smoothing=options.label_smoothing,
        validator=validate if splits.dev is not None else None,
        metric=metric,
        exporter=export,
    )
    if splits.dev is None:
        cfg = replace(cfg, patience=0)
    rss_before = peak_rss_mb()
    log = Trainer(objective, cfg, out, show_progress, {"card": card}).run(resume=resume)
    epochs_done = log["step"] / max(1, log["steps_per_epoch"])
    result = {
        "best": log.get("best"),
        "evals": log.get("evals"),
        "stopped_early": log.get("stopped_early"),
        "steps": log["step"],
        "epochs": round(epochs_done, 3),
        "train_seconds": log["train_seconds"],
        "seconds_per_epoch": round(log["train_seconds"] / max(epochs_done, 1e-9), 2),
        "wall_seconds": log["wall_seconds"],
        "parameters": params,
        "lora": lora,
        "class_weights": None if weights is None else [round(float(w), 4) for w in weights],
        "peak_rss_mb_before_training": rss_before,
        "peak_rss_mb": peak_rss_mb(),
    }
    result |= calibrate_saved(out, splits)
    update_config(out, metrics={k2: result[k2] for k2 in ("dev", "test") if k2 in result})
    return result


def calibrate_saved(folder: Path, splits: Splits) -> dict:
    """Temperature (and multi-label thresholds) of the saved classifier fitted on dev; dev and test
    metrics with them."""
    from ...models.heads.classifier import Classifier, update_config

    clf = Classifier.load(folder)
    multi, res = splits.multi_label, {}
    if splits.dev is not None:
        zd = clf.logits(splits.dev.texts, batch_size=64)
        yd = targets_of(splits.dev, splits.labels, multi)
        t = fit_temperature(zd, yd, multi)
        th = tune_thresholds(1 / (1 + np.exp(-zd / t)), yd) if multi else None
        update_config(folder, temperature=t, thresholds=th)
        res |= {"temperature": t, "thresholds": th, "dev": summary_metrics(zd, yd, multi, th, t)}
    if splits.test is not None:
        cfg = Classifier.load(folder).config if splits.dev is not None else clf.config
        zt = clf.logits(splits.test.texts, batch_size=64)
        yt = targets_of(splits.test, splits.labels, multi)
        res["test"] = summary_metrics(zt, yt, multi, cfg.get("thresholds"), cfg.get("temperature") or 1.0)
    return res


# ---------------------------------------------------------------------------- few-shot (SetFit)
def run_fewshot(splits: Splits, out: Path, options: ClassifyOptions, cfg: TrainConfig, show_progress, emit) -> dict:
    from ...models.heads.classifier import head_config, write_classifier
    from ...models.heads.torch_modules import merged_body_state
    from .probe import logistic_regression, single_head

    if splits.multi_label:
        raise EncoderkitError("--method fewshot supports single-label data", hint="use --method probe or finetune")
    from_test = splits.test is None or splits.train is splits.test
    evalset = splits.test if splits.test is not None else splits.train
    k = len(splits.labels)
    y_eval = targets_of(evalset, splits.labels, False)
    enc = _encoder(options)
    t0 = time.perf_counter()
    X_eval = enc.encode(evalset.texts, show_progress=show_progress)
    frozen_eval_seconds = time.perf_counter() - t0
    runs = []
    for s in range(options.seeds):
        seed = options.seed + s
        idx = sample_per_class(splits.train.labels, options.shots, seed)
        few = splits.train.subset(idx)
        keep = np.ones(len(evalset), dtype=bool)
        if from_test:
            keep[idx] = False
        y_few = targets_of(few, splits.labels, False)
        # the frozen probe on the same examples (what contrastive fine-tuning is compared with)
        lr = logistic_regression(options.head_c, None, seed).fit(enc.encode(few.texts), y_few)
        probe_acc = float((lr.predict(X_eval[keep]) == y_eval[keep]).mean())
        t1 = time.perf_counter()
        module, bb, ref, pooling, limit, body_config, _ = _module(options, k, dropout=0.0)
        features = lambda texts, bb=bb, limit=limit: bb.features(texts, limit)
        pairs = setfit_pairs(few.labels, options.pair_iterations, seed)
        run_dir = out if s == 0 else out / "seeds" / f"seed-{seed}"
        log = Trainer(PairObjective(module, features, few.texts, pairs), replace(cfg, seed=seed), run_dir, show_progress).run()
        emb = _embed(module, features, few.texts)
        w, b = single_head(logistic_regression(options.head_c, None, seed).fit(emb, y_few), k, emb.shape[1])
        module.set_head(w, b)
        train_seconds = time.perf_counter() - t1
        t2 = time.perf_counter()
        z = _logits(module, features, [evalset.texts[i] for i in np.flatnonzero(keep)])
        eval_seconds = time.perf_counter() - t2
        acc = summary_metrics(z, y_eval[keep], False)
        run = {
            "seed": seed,
            "examples": len(idx),
            "pairs": len(pairs),
            "steps": log["step"],
            "frozen_probe_accuracy": round(probe_acc, 6),
            "test": acc,
            "train_seconds": round(train_seconds, 2),
            "eval_seconds": round(eval_seconds, 2),
            "eval_texts": int(keep.sum()),
        }
        runs.append(run)
        emit("seed", run)
        if s == 0:
            hc = head_config(
                splits.labels, multi_label=False, base=ref, pooling=pooling, normalize=True, max_length=limit, method="fewshot"
            )
            hc["training"] = {"shots": options.shots, "seed": seed, "pairs": len(pairs), "head_c": options.head_c}
            hc["metrics"] = {"test": acc}
            write_classifier(
                out,
                encoder_path=ref.path,
                head_weight=w,
                head_bias=b,
                config=hc,
                card={"base_model": ref.name, "data": splits.train.path, "shots": options.shots},
                body_state=merged_body_state(module.body),
                body_config=body_config,
                probe_texts=few.texts[:64],
            )
        del module
    return {
        "shots": options.shots,
        "seeds": [r["seed"] for r in runs],
        "drawn_from": "test (excluded from each seed's evaluation)" if from_test else "train",
        "runs": runs,
        "accuracy": mean_std([r["test"]["accuracy"] for r in runs]),
        "macro_f1": mean_std([r["test"]["macro_f1"] for r in runs]),
        "frozen_probe_accuracy": mean_std([r["frozen_probe_accuracy"] for r in runs]),
        "frozen_encode_seconds": round(frozen_eval_seconds, 2),
        "saved_seed": runs[0]["seed"] if runs else None,
    }


def _embed(module, features, texts: list[str], batch_size: int = 64) -> np.ndarray:
    import torch

    device = next(module.parameters()).device

    module.eval()
    out = []
    with torch.inference_mode():
        for i in range(0, len(texts), batch_size):
            feats = {k: torch.from_numpy(v).to(device) for k, v in features(texts[i : i + batch_size]).items()}
            out.append(module.embed(**feats).float().cpu().numpy())
    return np.concatenate(out)
