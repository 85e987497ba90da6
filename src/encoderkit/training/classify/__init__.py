"""Classifier training (``encoderkit train classify``): linear probe, full fine-tuning (optionally
LoRA) and SetFit-style few-shot (:mod:`.train`), their objectives on the shared loop
(:mod:`.objectives`) and the probe's logistic regression (:mod:`.probe`)."""

from .train import ClassifyOptions, train_classify

__all__ = ["ClassifyOptions", "train_classify"]
