"""Compact students distilled from an encoder (``encoderkit compress``): the objective and run
(:mod:`.train`), the losses (:mod:`.losses`) and how a student is cut from its teacher (:mod:`.student`)."""

from .train import train_compress

__all__ = ["train_compress"]
