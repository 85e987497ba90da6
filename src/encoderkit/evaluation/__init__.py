"""Evaluation: retrieval quality and cost per pipeline stage (BEIR data), STS correlation, and
embedding-space geometry. Metrics come from pytrec_eval (trec_eval itself), never re-derived here."""
