"""Text classification with encoders: the public API the CLI and the server use.

>>> from encoderkit.tasks.classify import Classifier                                 # doctest: +SKIP
>>> clf = Classifier.load("runs/clf")                                               # doctest: +SKIP
>>> clf.predict(["the plot drags"], top_k=1)                                         # doctest: +SKIP
[[{'label': 'negative', 'score': 0.97}]]
>>> zs = Classifier.zero_shot(["sports", "politics", "business"])                   # doctest: +SKIP
>>> zs.predict(["The striker scored twice in the final."], top_k=1)                 # doctest: +SKIP
[[{'label': 'sports', 'score': 0.9}]]

``predict(texts, top_k=None)`` returns, per text, a list of {"label", "score"} best first: every label
with its probability for single-label models (``top_k`` keeps the best k; [] when "none of these"
applies), the labels at or above their thresholds for multi-label models. ``labels``, ``multi_label``
and ``describe()`` say what the model is.
"""

from __future__ import annotations

from pathlib import Path

from ...models.heads.classifier import Classifier as _Classifier


class Classifier(_Classifier):
    """A trained or zero-shot classifier (see :class:`encoderkit.models.heads.classifier.Classifier`)."""

    @classmethod
    def zero_shot(
        cls,
        labels_or_descriptions,
        model: str | Path = "default",
        template: str | list[str] | None = None,
        *,
        none_threshold: float | None = None,
        logit_scale: float | None = None,
    ) -> Classifier:
        """A classifier without training: texts are compared with embeddings of the label names or
        descriptions (a list of labels, a "a,b,c" string, {label: description(s)}, or a file of them),
        optionally through prompt templates ("This text is about {label}."). ``none_threshold``: below
        this top cosine, "none of these" (an empty prediction)."""
        from .zero_shot import zero_shot

        return zero_shot(
            labels_or_descriptions,
            model=model,
            template=template,
            none_threshold=none_threshold,
            logit_scale=logit_scale,
            cls=cls,
        )


__all__ = ["Classifier"]
