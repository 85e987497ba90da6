"""Capabilities built on the models and the training loop: classification (probe, fine-tune, few-shot,
zero-shot), clustering, de-duplication and information extraction (entities, relations, frames)."""
