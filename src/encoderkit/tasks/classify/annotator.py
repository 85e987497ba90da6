"""Index-time classification tags: the ``classify`` annotator (``encoderkit index ... --classify runs/clf``).

Each new or changed document is classified when it is indexed (its title and text, up to the
classifier's token limit); its labels and the scores of its best ``top_k`` labels are stored with the
document, and the labels become search filters (``encoderkit search ... --filter label=sports``).
Settings: ``model`` (a classifier folder: trained, or a saved zero-shot one), ``threshold`` (single-label:
no label below this probability; multi-label: one threshold for every label instead of the tuned
ones), ``top_k`` scores kept, ``backend`` (torch | onnx | onnx-int8), ``batch_size``. The annotation key
is the classifier's fingerprint with the threshold, so tagging with another model redoes the tags
(re-encoding nothing) and an unchanged document keeps its tags across updates.

>>> index = Index.create("idx", annotators=["classify"], annotator_settings={"classify": {"model": "runs/clf"}})  # doctest: +SKIP
>>> index.search("cup final", filters=["label=sports"])[0].annotations["classify"]                              # doctest: +SKIP
{'labels': ['sports'], 'scores': {'sports': 0.97, 'business': 0.02, 'world': 0.01}}
"""

from __future__ import annotations

from pathlib import Path

from ...errors import EncoderkitError
from ...index.write.annotate import Annotator, register_annotator


def _number(value, kind, name: str):
    if value is None or value == "":
        return None
    try:
        return kind(value)
    except (TypeError, ValueError):
        raise EncoderkitError(f"classify annotator: {name}={value!r} is not a number") from None


@register_annotator
class ClassifyAnnotator(Annotator):
    """Tags documents with a classifier's labels (see the module docstring)."""

    name = "classify"

    def __init__(self, settings: dict):
        super().__init__(settings)
        model = self.settings.get("model")
        if not model:
            raise EncoderkitError("the classify annotator needs a classifier", hint="encoderkit index ... --classify runs/clf")
        from ...models.heads.classifier import is_classifier

        if not is_classifier(Path(str(model)).expanduser()):
            raise EncoderkitError(
                f"'{model}' is not a classifier folder",
                hint="train one with `encoderkit train classify`, or save a zero-shot one",
            )
        self.model = Path(str(model)).expanduser()
        self.threshold = _number(self.settings.get("threshold"), float, "threshold")
        self.top_k = _number(self.settings.get("top_k"), int, "top_k")
        self._clf = None

    @classmethod
    def default_settings(cls) -> dict:
        return {"model": None, "threshold": None, "top_k": 3, "backend": "torch", "batch_size": 16}

    @property
    def classifier(self):
        if self._clf is None:
            from . import Classifier

            clf = Classifier.load(self.model, backend=self.settings.get("backend") or "torch")
            if self.threshold is not None:
                if clf.multi_label:
                    clf.config["thresholds"] = [self.threshold] * len(clf.labels)
                else:
                    clf.config["none_threshold"], clf.config["none_on"] = self.threshold, "probability"
            self._clf = clf
        return self._clf

    def key(self) -> str:
        from ...models.heads.classifier import classifier_fingerprint

        return f"{classifier_fingerprint(self.model)}:t={self.threshold}:k={self.top_k}"

    def annotate(self, docs) -> list[dict]:
        clf = self.classifier
        texts = [f"{d.title}\n{d.text}" if d.title and not d.text.startswith(d.title) else d.text for d in docs]
        texts = [t if t.strip() else "(empty)" for t in texts]
        z = clf.logits(texts, batch_size=int(self.settings.get("batch_size") or 16))
        probs = clf.probabilities(logits=z)
        keep = clf.decide(probs, z)
        out = []
        for row, chosen in zip(probs, keep):
            order = sorted(range(len(row)), key=lambda j: -row[j])
            top = order[: self.top_k] if self.top_k else order
            labels = [clf.labels[j] for j in order if chosen[j]]
            out.append({"labels": labels, "scores": {clf.labels[j]: round(float(row[j]), 4) for j in top}})
        return out

    def filter_values(self, annotation: dict) -> dict[str, list[str]]:
        return {"label": [str(lab).lower() for lab in annotation.get("labels", [])]}
