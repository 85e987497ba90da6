"""encoderkit: the encoder half of the NLP stack, on a CPU.

Embed text, search it (BM25, dense, hybrid), evaluate every stage, and adapt encoders to a domain.

>>> from encoderkit import Encoder, Index                      # doctest: +SKIP
>>> enc = Encoder.load("default")                               # doctest: +SKIP
>>> index = Index.create("my-index", encoder=enc)               # doctest: +SKIP
>>> index.add([{"id": "a", "text": "Cats purr when content."}])  # doctest: +SKIP
>>> index.search("why do cats purr", k=3)                       # doctest: +SKIP

Heavy modules (torch, transformers) are imported on first use, so `import encoderkit` is cheap.
"""

__version__ = "0.1.0"

__all__ = ["Encoder", "Index", "EncoderkitError", "__version__"]


def __getattr__(name):  # lazy exports keep `import encoderkit` and the CLI's --help fast
    if name == "Encoder":
        from .encoder import Encoder

        return Encoder
    if name == "Index":
        from .index import Index

        return Index
    if name == "EncoderkitError":
        from .errors import EncoderkitError

        return EncoderkitError
    raise AttributeError(f"module 'encoderkit' has no attribute {name!r}")
