"""Sequence classification: a linear head on the pooled sentence embedding of the shared backbone,
single-label (softmax) or multi-label (one sigmoid per label), with calibration and thresholds.

A saved classifier is a folder that is also a sentence-transformers model (its encoder, so
``Encoder.load(folder)`` gives the fine-tuned embeddings) plus:

- ``classifier.json``: format and version, labels, multi_label, pooling, normalize, max_length, the
  calibration (``temperature``: probabilities are softmax/sigmoid of logits / T), per-label
  ``thresholds`` (multi-label), ``none_threshold`` ("none of these" below it: on the top probability, or
  on the top cosine for zero-shot heads), the method and training settings, measured metrics;
- ``classifier_head.safetensors``: ``weight`` [labels, hidden] and ``bias`` [labels];
- ``probe_texts.json``: texts of the task, used to check ONNX exports (same predictions);
- ``encoderkit_model.json``: the model card.

On the torch runtime the head runs in the same module as the transformer; on ONNX Runtime (after
``encoderkit export onnx --model FOLDER [--quantize int8]``) the whole graph, head included, is one
export, so int8 speeds up the head's input too.

>>> clf = Classifier.load("runs/sst2")                                    # doctest: +SKIP
>>> clf.predict(["a gorgeous, witty film"], top_k=1)                      # doctest: +SKIP
[[{'label': 'positive', 'score': 0.98}]]

Softmax/sigmoid over logits divided by a temperature fitted on dev data is temperature scaling (Guo et
al. 2017, "On Calibration of Modern Neural Networks").
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
from pathlib import Path
from typing import Sequence

import numpy as np

from ...errors import EncoderkitError
from ..backbone import RUNTIMES, Backbone, Head, describe_model
from ..fingerprint import fingerprint
from ..layout import max_length_for, read_json, read_st_layout, transformer_dir
from ..ref import ModelRef, resolve_model

FORMAT = "encoderkit-classifier"
FORMAT_VERSION = 1
CONFIG = "classifier.json"
HEAD_FILE = "classifier_head.safetensors"
PROBES = "probe_texts.json"
SKIP_FILES = {"README.md", ".gitattributes", "pytorch_model.bin", "checkpoint", "train_log.json"}
SKIP_DIRS = {"onnx", "openvino", "checkpoint", "checkpoint.tmp", "checkpoint.old"}


def is_classifier(path: str | Path) -> bool:
    return (Path(path) / CONFIG).is_file()


def read_config(path: Path) -> dict:
    cfg = read_json(Path(path) / CONFIG)
    if cfg.get("format") != FORMAT:
        raise EncoderkitError(
            f"{path} is not an encoderkit classifier (no {CONFIG})", hint="train one: encoderkit train classify"
        )
    if int(cfg.get("format_version", 0)) > FORMAT_VERSION:
        raise EncoderkitError(
            f"{path} was written by a newer encoderkit (classifier format {cfg['format_version']})", hint="upgrade encoderkit"
        )
    return cfg


def classifier_fingerprint(path: Path) -> str:
    """sha256 over the encoder weights and the head (16 hex digits): equal fingerprints, equal logits."""
    cfg = read_json(Path(path) / CONFIG)
    return fingerprint(transformer_dir(path), then=[Path(path) / HEAD_FILE], settings=[cfg.get("pooling"), cfg.get("normalize")])


def _build(body, folder: Path):
    """The saved classifier's torch module around a loaded transformer body."""
    from safetensors.numpy import load_file

    from .torch_modules import ClassifierModule

    cfg = read_config(folder)
    head = load_file(str(folder / HEAD_FILE))
    module = ClassifierModule(body, len(cfg["labels"]), pooling=cfg["pooling"], normalize=cfg["normalize"])
    module.set_head(head["weight"], head["bias"])
    module.body_is_base = True  # the weights are those of the folder it was loaded from
    return module


HEAD = Head("classifier", "logits", build=_build, fingerprint=classifier_fingerprint)


def softmax(x: np.ndarray) -> np.ndarray:
    """Row-wise softmax (stable).

    >>> softmax(np.array([[0.0, 0.0], [0.0, np.log(3.0)]])).round(2).tolist()
    [[0.5, 0.5], [0.25, 0.75]]
    """
    z = x - x.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def rank_labels(
    probs: np.ndarray, labels: Sequence[str], *, top_k: int | None, keep: np.ndarray | None = None
) -> list[list[dict]]:
    """Per row: {"label", "score"} best first, only where ``keep`` (bool, same shape) is True, at most ``top_k``.

    >>> rank_labels(np.array([[0.2, 0.8]]), ["neg", "pos"], top_k=1)
    [[{'label': 'pos', 'score': 0.8}]]
    """
    out = []
    for i, row in enumerate(probs):
        order = np.argsort(-row, kind="stable")
        if keep is not None:
            order = [j for j in order if keep[i, j]]
        if top_k is not None:
            order = order[: max(0, int(top_k))]
        out.append([{"label": labels[j], "score": round(float(row[j]), 6)} for j in order])
    return out


class Classifier:
    """A loaded sequence classifier. Build with :meth:`load`; call :meth:`predict`."""

    kind = "classifier"

    def __init__(self, backbone: Backbone, ref: ModelRef, config: dict, *, path: Path | None = None, fingerprint: str = ""):
        self.backbone = backbone
        self.ref = ref
        self.config = config
        self.path = Path(path) if path else None
        self._fingerprint = fingerprint

    # ------------------------------------------------------------------ loading
    @classmethod
    def load(cls, spec: str | Path, *, backend: str = "torch", max_length: int | None = None, device: str | None = None):
        """Load a classifier folder. ``backend``: torch | onnx | onnx-int8 (ONNX Runtime: needs
        ``encoderkit export onnx --model FOLDER [--quantize int8]`` first)."""
        if backend not in RUNTIMES:
            raise EncoderkitError(f"unknown backend '{backend}'", hint=f"use one of: {', '.join(RUNTIMES)}")
        path = Path(spec).expanduser()
        if not path.is_dir():
            raise EncoderkitError(
                f"classifier '{spec}' does not exist", hint="pass a folder written by encoderkit train classify"
            )
        cfg = read_config(path)
        if not (path / HEAD_FILE).is_file():
            raise EncoderkitError(f"{path} has no {HEAD_FILE}", hint="the classifier folder is incomplete: train it again")
        ref = resolve_model(path)
        if max_length:
            cfg = {**cfg, "max_length": int(max_length)}
        backbone = Backbone.load(ref, head=HEAD, runtime=backend, device=device)
        return cls(backbone, ref, cfg, path=path, fingerprint=backbone.fingerprint)

    @classmethod
    def from_module(cls, module, ref: ModelRef, config: dict):
        """An in-memory classifier over a :class:`ClassifierModule` whose body was loaded from ``ref``
        (e.g. a zero-shot head, or a model in training); :meth:`save` writes it as a folder."""
        module.eval()
        return cls(Backbone.for_module(ref, module, head=HEAD), ref, config)

    # ------------------------------------------------------------------ facts
    @property
    def labels(self) -> list[str]:
        return list(self.config["labels"])

    @property
    def multi_label(self) -> bool:
        return bool(self.config["multi_label"])

    @property
    def max_length(self) -> int:
        return int(self.config["max_length"])

    @property
    def backend(self) -> str:
        return self.backbone.runtime

    @property
    def name(self) -> str:
        return (self.path.name if self.path else None) or self.config.get("name") or self.ref.name

    @property
    def fingerprint(self) -> str:
        return self._fingerprint

    @property
    def module(self):
        """The torch :class:`ClassifierModule` (torch backend; None on ONNX Runtime)."""
        return self.backbone.torch_module

    def describe(self) -> dict:
        c = self.config
        return {
            **describe_model(self.ref, self.fingerprint, kind=self.kind, backend=self.backend, max_length=self.max_length),
            "name": self.name,
            "labels": self.labels,
            "multi_label": self.multi_label,
            "method": c.get("method"),
            "pooling": c.get("pooling"),
            "normalize": c.get("normalize"),
            "temperature": c.get("temperature", 1.0),
            "thresholds": c.get("thresholds"),
            "none_threshold": c.get("none_threshold"),
            "none_on": c.get("none_on"),
            "base_model": c.get("base_model"),
            "metrics": c.get("metrics", {}),
            "format_version": c.get("format_version", FORMAT_VERSION),
        }

    # ------------------------------------------------------------------ inference
    def logits(self, texts: Sequence[str], *, batch_size: int = 32) -> np.ndarray:
        """Raw logits [n, labels] (float32); texts are length-sorted into batches, returned in order."""
        texts = _check_texts(texts)
        out = np.zeros((len(texts), len(self.labels)), dtype=np.float32)
        order = np.argsort([-len(t) for t in texts], kind="stable")
        for i in range(0, len(order), batch_size):
            idx = order[i : i + batch_size]
            feats = self.backbone.features([texts[j] for j in idx], self.max_length)
            out[idx] = self.backbone.forward(feats)
        return out

    def probabilities(self, texts: Sequence[str] | None = None, *, logits: np.ndarray | None = None, batch_size: int = 32):
        """Calibrated probabilities [n, labels]: softmax (single-label) or sigmoid (multi-label) of logits / T."""
        z = self.logits(texts, batch_size=batch_size) if logits is None else np.asarray(logits, dtype=np.float32)
        z = z / float(self.config.get("temperature") or 1.0)
        return sigmoid(z) if self.multi_label else softmax(z)

    def decide(self, probs: np.ndarray, logits: np.ndarray) -> np.ndarray:
        """Which labels are predicted [n, labels] (bool): multi-label, those at or above their threshold;
        single-label, the best one unless "none of these" applies."""
        if self.multi_label:
            th = np.asarray(self.config.get("thresholds") or [0.5] * len(self.labels), dtype=np.float32)
            return probs >= th[None, :]
        keep = np.zeros(probs.shape, dtype=bool)
        keep[np.arange(len(probs)), probs.argmax(1)] = True
        none = self.config.get("none_threshold")
        if none is not None:
            top = self.none_scores(probs, logits)
            keep[top < float(none)] = False
        return keep

    def none_scores(self, probs: np.ndarray, logits: np.ndarray) -> np.ndarray:
        """What the "none of these" threshold is compared with: the top cosine (zero-shot heads, whose
        logits are scale * cosine) or the top probability."""
        if self.config.get("none_on") == "cosine":
            return logits.max(1) / float(self.config.get("logit_scale") or 1.0)
        return probs.max(1)

    def predict(self, texts: Sequence[str], top_k: int | None = None, *, batch_size: int = 32) -> list[list[dict]]:
        """Per text, a list of {"label", "score"} best first. Single-label: every label with its probability
        (``top_k`` keeps the best k), or [] when "none of these" applies; multi-label: the labels at or
        above their threshold."""
        texts = _check_texts(texts)
        z = self.logits(texts, batch_size=batch_size)
        probs = self.probabilities(logits=z)
        if self.multi_label:
            return rank_labels(probs, self.labels, top_k=top_k, keep=self.decide(probs, z))
        ranked = rank_labels(probs, self.labels, top_k=top_k)
        if self.config.get("none_threshold") is not None:
            accepted = self.decide(probs, z).any(1)
            ranked = [r if ok else [] for r, ok in zip(ranked, accepted)]
        return ranked

    def predict_labels(self, texts: Sequence[str], *, batch_size: int = 32) -> list[list[str]]:
        """The predicted labels of each text (single-label: one, or none for "none of these")."""
        z = self.logits(texts, batch_size=batch_size)
        keep = self.decide(self.probabilities(logits=z), z)
        return [[self.labels[j] for j in np.flatnonzero(row)] for row in keep]

    # ------------------------------------------------------------------ saving
    def save(self, folder: str | Path, *, card: dict | None = None, probe_texts: Sequence[str] = ()) -> Path:
        """Write this (torch) classifier as a folder that :meth:`load` reads."""
        module = self.module
        if module is None:
            raise EncoderkitError("only a torch classifier can be saved", hint="load it with backend='torch'")
        from .torch_modules import merged_body_state

        weight = module.head.weight.detach().float().cpu().numpy()
        bias = module.head.bias.detach().float().cpu().numpy()
        same = bool(getattr(module, "body_is_base", False))  # untouched base weights: link, do not rewrite
        write_classifier(
            folder,
            encoder_path=self.ref.path,
            head_weight=weight,
            head_bias=bias,
            config=self.config,
            card=card,
            body_state=None if same else merged_body_state(module.body),
            body_config=None if same else module.body.config,
            probe_texts=probe_texts,
        )
        return Path(folder)

    def __repr__(self) -> str:
        return f"Classifier({self.name!r}, labels={len(self.labels)}, multi_label={self.multi_label}, backend={self.backend!r})"


def _check_texts(texts) -> list[str]:
    if isinstance(texts, str):
        raise EncoderkitError("pass a list of texts, not one string", hint="e.g. predict([text])")
    items = list(texts)
    for i, t in enumerate(items):
        if not isinstance(t, str):
            raise EncoderkitError(f"text {i} is {type(t).__name__}, not str", hint="pass a list of strings")
    return items


# ---------------------------------------------------------------------------- writing folders
def head_config(
    labels: Sequence[str],
    *,
    multi_label: bool,
    base: ModelRef,
    pooling: str | None = None,
    normalize: bool = True,
    max_length: int | None = None,
    method: str,
    **extra,
) -> dict:
    """The ``classifier.json`` of a new classifier on the encoder ``base`` (its pooling and token limit
    unless given)."""
    layout = read_st_layout(base.path) or {}
    if max_length is None:
        max_length = default_max_length(base)
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "labels": list(labels),
        "multi_label": bool(multi_label),
        "pooling": pooling or layout.get("pooling") or "mean",
        "normalize": bool(normalize),
        "max_length": int(max_length),
        "temperature": 1.0,
        "thresholds": [0.5] * len(labels) if multi_label else None,
        "none_threshold": None,
        "none_on": "probability",
        "logit_scale": None,
        "method": method,
        "base_model": {"spec": base.spec, "name": base.name, "revision": base.revision, "source": base.source},
        "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        **extra,
    }


def default_max_length(base: ModelRef) -> int:
    """The token limit of the encoder under ``base`` (sentence-transformers' max_seq_length, else the
    tokenizer's, capped by the position embeddings)."""
    layout = read_st_layout(base.path)
    tdir = transformer_dir(base.path)
    cfg, tok = read_json(tdir / "config.json"), read_json(tdir / "tokenizer_config.json")
    return max_length_for(
        base.path if layout else tdir, tok.get("model_max_length"), cfg.get("max_position_embeddings"), cfg.get("model_type", "")
    )


def _link_or_copy(src: Path, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    if dst.exists() or dst.is_symlink():
        dst.unlink()
    try:
        os.link(src, dst)  # the encoder of a probe is the base model, byte for byte: no second copy on disk
    except OSError:
        shutil.copy2(src, dst)


def copy_encoder(src: Path, dst: Path, *, skip_weights: bool) -> None:
    """Copy (hard-link where possible) a model folder's files into ``dst``, leaving out caches, cards,
    checkpoints and, with ``skip_weights``, the weight files."""
    src, dst = Path(src), Path(dst)
    for root, dirs, files in os.walk(src):
        dirs[:] = [d for d in dirs if d not in SKIP_DIRS and not d.startswith(".")]
        for f in files:
            if f in SKIP_FILES or (f in (CONFIG, HEAD_FILE, PROBES, "encoderkit_model.json") and Path(root) == src):
                continue
            if skip_weights and f.endswith((".safetensors", ".bin")):
                continue
            rel = Path(root).relative_to(src) / f
            if (src / rel).resolve() == (dst / rel).resolve():
                continue
            _link_or_copy(src / rel, dst / rel)


def write_classifier(
    folder: str | Path,
    *,
    encoder_path: Path,
    head_weight,
    head_bias,
    config: dict,
    card: dict | None = None,
    body_state: dict | None = None,
    body_config=None,
    probe_texts: Sequence[str] = (),
) -> Path:
    """Write a classifier folder: the encoder (copied from ``encoder_path``, or ``body_state`` + ``body_config``
    for trained weights), the head, ``classifier.json``, probe texts and the card."""
    from safetensors.numpy import save_file

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    copy_encoder(encoder_path, folder, skip_weights=body_state is not None)
    if body_state is not None:
        from safetensors.torch import save_file as save_torch

        tdir = folder / transformer_dir(encoder_path).relative_to(encoder_path)
        tdir.mkdir(parents=True, exist_ok=True)
        for stale in ("model.safetensors", "pytorch_model.bin"):
            if (tdir / stale).exists():
                (tdir / stale).unlink()
        save_torch(body_state, str(tdir / "model.safetensors"), metadata={"format": "pt"})
        if body_config is not None:
            body_config.to_json_file(str(tdir / "config.json"))
    weight = np.ascontiguousarray(np.asarray(head_weight, dtype=np.float32))
    bias = np.ascontiguousarray(np.asarray(head_bias, dtype=np.float32))
    if weight.shape != (len(config["labels"]), weight.shape[1]) or bias.shape != (len(config["labels"]),):
        raise EncoderkitError(f"head shape {weight.shape} does not match {len(config['labels'])} labels")
    save_file({"weight": weight, "bias": bias}, str(folder / HEAD_FILE))
    (folder / PROBES).write_text(json.dumps(list(probe_texts)[:64], ensure_ascii=False, indent=0))
    name = config.get("name") or f"{(config.get('base_model') or {}).get('name', 'encoder')} classifier"
    info = {"name": name, "task": "classify", "method": config.get("method"), "labels": config["labels"], **(card or {})}
    (folder / "encoderkit_model.json").write_text(json.dumps(info, indent=1, ensure_ascii=False))
    tmp = folder / (CONFIG + ".tmp")
    tmp.write_text(json.dumps(config, indent=1, ensure_ascii=False))
    os.replace(tmp, folder / CONFIG)  # last: a folder with classifier.json is complete
    return folder


def update_config(folder: str | Path, **changes) -> dict:
    """Change entries of a saved classifier's ``classifier.json`` (calibration, thresholds, metrics)."""
    folder = Path(folder)
    cfg = read_config(folder)
    cfg.update(changes)
    tmp = folder / (CONFIG + ".tmp")
    tmp.write_text(json.dumps(cfg, indent=1, ensure_ascii=False))
    os.replace(tmp, folder / CONFIG)
    return cfg
