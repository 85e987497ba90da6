"""Models: a shared transformer backbone with thin heads on it.

:class:`~encoderkit.models.heads.encoder.Encoder` (bi-encoder: pooling head),
:class:`~encoderkit.models.heads.cross_encoder.Reranker` (cross-encoder: one relevance output) and
:class:`~encoderkit.models.heads.colbert.ColBERT` (late interaction: projected token vectors); the sequence
classifier, token tagger and span-pair classifier go here too. :func:`load_reranker` loads whichever
reranker a folder holds (cross-encoder or ColBERT).
"""

from .rerankers import load_reranker

__all__ = ["load_reranker"]
