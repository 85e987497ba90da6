"""Zero-shot classification by embedding similarity: each label is the mean embedding of its names /
descriptions (through optional prompt templates, averaged: prompt ensembling as in CLIP, Radford et
al. 2021; embedding-similarity zero-shot classification as in Veeranna et al. 2016 and Yin et al.
2019's survey of the setting), and a text gets the label whose embedding is closest (cosine).

The result is an ordinary :class:`~encoderkit.models.heads.classifier.Classifier`: a linear head whose rows
are ``logit_scale`` x the label embeddings over the encoder's normalised sentence embedding, so it
saves, loads, exports to ONNX and serves like a trained one. "None of these": with ``none_threshold``
a text whose best cosine is below it gets no label; :func:`calibrate` fits that threshold (and the
softmax temperature) on a few labelled texts, out-of-scope ones included when there are some.

>>> parse_descriptions("sports, politics ,business")
{'sports': ['sports'], 'politics': ['politics'], 'business': ['business']}
>>> parse_descriptions({"pos": "a positive review", "neg": ["a negative review", "a bad review"]})["neg"]
['a negative review', 'a bad review']
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Sequence

import numpy as np

from ...data.corpora.label_formats import read_text
from ...errors import DataError, EncoderkitError

DEFAULT_SCALE = 20.0  # softmax over 20 x cosine (MNRL's scale): peaked enough for probabilities to mean something
NONE_LABELS = ("", "none", "none of these", "other", "out-of-scope")


def read_descriptions(path: Path) -> dict[str, list[str]]:
    """A file of labels and their descriptions: JSON ({label: text or [texts]} or [labels]), JSONL
    ({"label", "description"} per line), or text lines ``label<TAB>description``, ``label: description``
    or just ``label``."""
    path = Path(path)
    if path.suffix.lower() == ".json":
        try:
            return parse_descriptions(json.loads(read_text(path)))
        except json.JSONDecodeError as exc:
            raise DataError(path, f"invalid JSON ({exc.msg})", line=exc.lineno) from None
    out: dict[str, list[str]] = {}
    for n, line in enumerate(read_text(path).split("\n"), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if path.suffix.lower() == ".jsonl":
            try:
                rec = json.loads(line)
            except json.JSONDecodeError as exc:
                raise DataError(path, f"invalid JSON ({exc.msg})", line=n) from None
            label, desc = (rec.get("label"), rec.get("description", rec.get("label"))) if isinstance(rec, dict) else (None, None)
        elif "\t" in line:
            label, desc = line.split("\t", 1)
        elif ": " in line:
            label, desc = line.split(": ", 1)
        else:
            label, desc = line, line
        if not isinstance(label, str) or not label.strip() or not isinstance(desc, str) or not desc.strip():
            raise DataError(path, "expected a label and a description", line=n)
        out.setdefault(label.strip(), []).append(desc.strip())
    if len(out) < 2:
        raise DataError(path, f"{len(out)} label(s): zero-shot classification needs at least two")
    return out


def parse_descriptions(spec) -> dict[str, list[str]]:
    """Labels and their descriptions from a "a,b,c" string, a file path, a list of labels or a dict.

    A string is read by its content: with a comma (or a line break) it is the label names, however long;
    without, it is a file when one of that name exists.

    >>> list(parse_descriptions(",".join(f"label number {i}" for i in range(40))))[-1]
    'label number 39'
    """
    if isinstance(spec, Path) or (isinstance(spec, str) and not re.search(r"[,\n]", spec) and _is_file(spec)):
        return read_descriptions(Path(str(spec)).expanduser())
    if isinstance(spec, str):
        spec = [s for s in (x.strip() for x in spec.split(",")) if s]
    if isinstance(spec, dict):
        out = {}
        for label, desc in spec.items():
            descs = [desc] if isinstance(desc, str) else list(desc or [])
            descs = [d.strip() for d in descs if isinstance(d, str) and d.strip()] or [str(label)]
            out[str(label)] = descs
    elif isinstance(spec, (list, tuple)):
        out = {}
        for label in spec:
            out.setdefault(str(label).strip(), [str(label).strip()])
    else:
        raise EncoderkitError(f"cannot read labels from {type(spec).__name__}", hint="pass 'a,b,c', a list, a dict or a file")
    out = {k: v for k, v in out.items() if k}
    if len(out) < 2:
        raise EncoderkitError(f"{len(out)} label(s) given", hint="zero-shot classification needs at least two labels")
    return out


def _is_file(name: str) -> bool:
    try:
        return Path(name).expanduser().is_file()
    except (OSError, ValueError):  # a name too long for the file system, or with a NUL: not a file
        return False


def label_texts(descriptions: dict[str, list[str]], templates: Sequence[str]) -> dict[str, list[str]]:
    """Every (description, template) text of each label.

    >>> label_texts({"sports": ["sports"]}, ["This text is about {label}.", "{label}"])
    {'sports': ['This text is about sports.', 'sports']}
    """
    for t in templates:
        if "{label}" not in t:
            raise EncoderkitError(f"template {t!r} has no {{label}}", hint='e.g. "This text is about {label}."')
    return {lab: [t.replace("{label}", d) for d in descs for t in templates] for lab, descs in descriptions.items()}


def zero_shot(
    labels_or_descriptions,
    *,
    model="default",
    template: str | Sequence[str] | None = None,
    none_threshold: float | None = None,
    logit_scale: float | None = None,
    cls=None,
):
    """Build the zero-shot classifier (see the module docstring)."""
    from ...models.heads.classifier import Classifier, head_config
    from ...models.heads.encoder import Encoder
    from ...models.heads.torch_modules import ClassifierModule
    from ...models.layout import read_st_layout

    cls = cls or Classifier
    descriptions = parse_descriptions(labels_or_descriptions)
    templates = [template] if isinstance(template, str) else list(template or ["{label}"])
    texts = label_texts(descriptions, templates)
    enc = Encoder.load(model)
    if enc.model is None or (read_st_layout(enc.ref.path) or {}).get("unsupported"):
        raise EncoderkitError(
            f"zero-shot needs a plain transformer + pooling encoder; {enc.name} has extra modules",
            hint="use 'default' or another sentence-transformers model without Dense layers",
        )
    scale = float(logit_scale or DEFAULT_SCALE)
    labels = list(texts)
    rows = []
    for lab in labels:
        v = enc.encode(texts[lab]).mean(0)
        rows.append(v / max(float(np.linalg.norm(v)), 1e-12))
    weight = scale * np.stack(rows).astype(np.float32)
    module = ClassifierModule(enc.model, len(labels), pooling=enc.pooling, normalize=True, body_is_base=True)
    module.set_head(weight, np.zeros(len(labels), dtype=np.float32))
    config = head_config(
        labels,
        multi_label=False,
        base=enc.ref,
        pooling=enc.pooling,
        normalize=True,
        max_length=enc.max_length,
        method="zero-shot",
        zero_shot={"descriptions": descriptions, "templates": templates},
    )
    config.update(logit_scale=scale, none_on="cosine", none_threshold=none_threshold)
    return cls.from_module(module, enc.ref, config)


def calibrate(clf, texts: Sequence[str], labels: Sequence[str | None], *, keep_in_scope: float = 0.95) -> dict:
    """Fit a zero-shot classifier's temperature and "none of these" threshold on labelled texts; labels
    that are None or one of NONE_LABELS mark out-of-scope texts. With out-of-scope texts the threshold
    maximises accuracy (in-scope: right label and kept; out-of-scope: rejected); without, it keeps
    ``keep_in_scope`` of the in-scope texts. Updates ``clf.config``; returns what was fitted."""
    from ...evaluation.classification import fit_temperature

    if len(texts) != len(labels) or not texts:
        raise EncoderkitError("calibration needs texts with one label each")
    pos = {lab: i for i, lab in enumerate(clf.labels)}
    outside = np.array([lab is None or str(lab).strip().lower() in NONE_LABELS for lab in labels])
    unknown = [lab for lab, o in zip(labels, outside) if not o and lab not in pos]
    if unknown:
        raise EncoderkitError(f"calibration label '{unknown[0]}' is not a label of the classifier", hint=f"labels: {clf.labels}")
    z = clf.logits(list(texts))
    cos = z.max(1) / float(clf.config.get("logit_scale") or 1.0)
    y = np.array([pos.get(lab, -1) for lab in labels])
    inside = ~outside
    fitted: dict = {"examples": int(len(texts)), "out_of_scope": int(outside.sum())}
    if inside.any():
        fitted["temperature"] = fit_temperature(z[inside], y[inside])
    right = z.argmax(1) == y
    if outside.any():
        cands = np.unique(np.concatenate([cos, [cos.min() - 1e-6]]))
        acc = [float(np.mean(np.where(outside, cos < t, right & (cos >= t)))) for t in cands]
        best = int(np.argmax(acc))
        fitted |= {
            "none_threshold": float(cands[best]),
            "accuracy_with_none": acc[best],
            "rule": "max accuracy incl. out-of-scope",
        }
    elif inside.any():
        fitted |= {
            "none_threshold": float(np.quantile(cos[inside], 1 - keep_in_scope)),
            "rule": f"keep {keep_in_scope:.0%} in scope",
        }
    clf.config.update({k: v for k, v in fitted.items() if k in ("temperature", "none_threshold")})
    clf.config["calibration"] = fitted
    return fitted
