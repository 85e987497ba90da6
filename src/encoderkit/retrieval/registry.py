"""The registry of retrievers, by name (a :class:`~encoderkit.runtime.plugins.Registry`). BM25, dense and
ColBERT are built in (registered when :mod:`encoderkit.retrieval` is imported); more register
themselves, or are found through the ``encoderkit.retrievers`` entry-point group of an installed package.

>>> "bm25" in names() and "dense" in names()
True
>>> get("bm25").name
'bm25'

A retriever defined elsewhere registers with the decorator (in the process that uses it)::

    @register
    class MyRetriever(Retriever):
        name = "mine"
        ...
"""

from __future__ import annotations

from ..runtime.plugins import Registry

RETRIEVERS = Registry("retriever", "encoderkit.retrievers")
register = RETRIEVERS.register
unregister = RETRIEVERS.unregister
names = RETRIEVERS.names
get = RETRIEVERS.get
