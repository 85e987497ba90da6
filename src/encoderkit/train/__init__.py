"""Training retrieval models on your own data: bi-encoders (contrastive), cross-encoder rerankers,
and distillation from a reranker into a bi-encoder.

Models, tokenisation and the loss functions are sentence-transformers' (one documented class per
loss); the training loop is ours (:mod:`.loop`) so that checkpoints stay pickle-free and resumable
and validation uses this project's own retrieval metrics.
"""
