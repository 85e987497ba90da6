"""Models: a shared transformer backbone with thin heads on it.

:class:`~encoderkit.models.encoder.Encoder` (bi-encoder: pooling head) and
:class:`~encoderkit.models.cross_encoder.Reranker` (cross-encoder: one relevance output) today; the
late-interaction encoder, sequence classifier, token tagger and span-pair classifier go here too.
"""
