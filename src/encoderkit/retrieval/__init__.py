"""Retrieval: first-stage retrievers behind one protocol (:mod:`.base`), a registry (:mod:`.registry`),
fusion (:mod:`.fusion`), rankings (:mod:`.ranking`) and the query pipeline (:mod:`.pipeline`).

The built-in retrievers register themselves here: BM25 (:mod:`.bm25`) and dense (:mod:`.dense`).
"""

from . import bm25, dense  # noqa: F401  (importing registers them)
