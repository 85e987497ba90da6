"""Capabilities built on models + training: classification (probe, fine-tune, few-shot, zero-shot),
clustering and de-duplication."""
