"""Retrieval: first-stage retrievers behind one protocol, a registry, fusion and the query pipeline."""
