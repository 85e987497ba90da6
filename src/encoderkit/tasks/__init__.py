"""Capabilities built on the models and the training loop (extraction, classification, clustering)."""
