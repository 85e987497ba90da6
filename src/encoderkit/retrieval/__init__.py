"""Retrieval: first-stage retrievers behind one protocol (:mod:`.base`), a registry (:mod:`.registry`),
fusion (:mod:`.fusion`), rankings (:mod:`.ranking`) and the query pipeline (:mod:`.pipeline`).

The built-in retrievers register themselves here: BM25 (:mod:`.bm25`), dense (:mod:`.dense`) and
late interaction (:mod:`.colbert`).
"""

from . import bm25, colbert, dense  # noqa: F401  (importing registers them)
