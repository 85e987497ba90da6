"""Late-interaction (ColBERT) retrieval: MaxSim scores (:mod:`.scores`), ColBERTv2 residual compression
(:mod:`.codec`), token pooling (:mod:`.pooling`), PLAID-style search (:mod:`.plaid`) and the ``colbert``
retriever of an index (:mod:`.retriever`, registered on import). Written by hand on numpy and faiss:
pylate / fast-plaid do not install on this stack.
"""

from . import retriever  # noqa: F401  (importing registers the retriever)
