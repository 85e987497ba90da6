"""Training: one loop (:mod:`.loop`) shared by every objective: contrastive bi-encoders, cross-encoder
rerankers, distillation, and masked-LM / ELECTRA pretraining (:mod:`.pretrain`).

Models, tokenisation and the loss functions are sentence-transformers' where they exist (one
documented class per loss); the loop is ours so that checkpoints stay pickle-free and resumable and
validation uses this project's own metrics.
"""
