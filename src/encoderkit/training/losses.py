"""The training objectives, by name. Each is a sentence-transformers loss module (documented there,
with its reference); this file only maps names to them and says what inputs each needs.

Bi-encoder losses (inputs: columns of texts, encoded by the model being trained):

- ``mnrl``: in-batch negatives / InfoNCE (MultipleNegativesRankingLoss; Henderson et al. 2017, van den
  Oord et al. 2018, DPR). Columns: query, positive, [hard negatives...]. Every other positive and every
  hard negative in the batch is a negative for each query. ``scale`` = 1/temperature (20).
- ``mnrl-symmetric``: the same plus the passage-to-query direction (both directions averaged).
- ``cached-mnrl``: MNRL with GradCache (Gao et al. 2021): embeddings in mini-batches without graph, then
  gradients replayed, so the batch (= number of in-batch negatives) can be large on a CPU.
- ``triplet``: max(d(q, p) - d(q, n) + margin, 0) with Euclidean distance (FaceNet / SBERT); needs one
  negative per example.
- ``cosent``: CoSENT (Su 2022) for scored pairs: ranks pair cosines in the order of the gold scores.
- ``margin-mse``: MarginMSE (Hofstätter et al. 2020): the student's score margin s(q,p) - s(q,n)
  regresses the teacher's margin; for distillation from a cross-encoder.
"""

from __future__ import annotations

from ..errors import EncoderkitError

PAIR_LOSSES = ("mnrl", "mnrl-symmetric", "cached-mnrl", "triplet")
LOSSES = PAIR_LOSSES + ("cosent", "margin-mse")


def make_loss(
    name: str, model, *, scale: float = 20.0, mini_batch_size: int = 16, triplet_margin: float = 5.0, student_scale: float = 1.0
):
    """Build the named loss around a sentence-transformers ``model``."""
    from sentence_transformers.sentence_transformer import losses as L

    if name == "mnrl":
        return L.MultipleNegativesRankingLoss(model, scale=scale)
    if name == "mnrl-symmetric":
        return L.MultipleNegativesRankingLoss(model, scale=scale, directions=("query_to_doc", "doc_to_query"))
    if name == "cached-mnrl":
        return L.CachedMultipleNegativesRankingLoss(model, scale=scale, mini_batch_size=mini_batch_size)
    if name == "triplet":
        return L.TripletLoss(model, triplet_margin=triplet_margin)
    if name == "cosent":
        return L.CoSENTLoss(model, scale=scale)
    if name == "margin-mse":
        from sentence_transformers.util import pairwise_cos_sim

        return L.MarginMSELoss(model, similarity_fct=lambda a, b: student_scale * pairwise_cos_sim(a, b))
    raise EncoderkitError(f"unknown loss '{name}'", hint=f"use one of: {', '.join(LOSSES)}")
