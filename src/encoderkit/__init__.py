"""encoderkit: the encoder half of the NLP stack, on a CPU.

Embed text, search it (BM25, dense, hybrid), evaluate every stage, and adapt encoders to a domain.

>>> from encoderkit import Encoder, Index                      # doctest: +SKIP
>>> enc = Encoder.load("default")                               # doctest: +SKIP
>>> index = Index.create("my-index", encoder=enc)               # doctest: +SKIP
>>> index.add([{"id": "a", "text": "Cats purr when content."}])  # doctest: +SKIP
>>> index.search("why do cats purr", k=3)                       # doctest: +SKIP

Heavy modules (torch, transformers) are imported on first use, so `import encoderkit` is cheap.
"""

from ._compat import install as _install_compat

__version__ = "0.3.0"

__all__ = ["Encoder", "Reranker", "Index", "EncoderkitError", "__version__"]

_LAZY = {
    "Encoder": ("encoderkit.models.heads.encoder", "Encoder"),
    "Reranker": ("encoderkit.models.heads.cross_encoder", "Reranker"),
    "Index": ("encoderkit.index", "Index"),
    "EncoderkitError": ("encoderkit.errors", "EncoderkitError"),
}

_install_compat()  # old module paths (encoderkit.encoder, encoderkit.pretrain, ...) still import


def __getattr__(name):  # lazy exports keep `import encoderkit` and the CLI's --help fast
    if name in _LAZY:
        import importlib

        module, attr = _LAZY[name]
        return getattr(importlib.import_module(module), attr)
    raise AttributeError(f"module 'encoderkit' has no attribute {name!r}")
