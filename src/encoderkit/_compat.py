"""Old module paths (before the 0.2 package layout) keep importing, with a DeprecationWarning.

``import encoderkit.encoder`` gives the very module object ``encoderkit.models.encoder`` (not a copy),
so classes and isinstance checks are shared. Installed by ``encoderkit/__init__.py``; nothing is
imported until an old name is asked for.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys
import warnings

MOVED = {
    "encoderkit.sources": "encoderkit.data.sources",
    "encoderkit.chunking": "encoderkit.data.chunking",
    "encoderkit.evaluation.beir": "encoderkit.data.beir",
    "encoderkit.onnx_backend": "encoderkit.models.export",
    "encoderkit.modelref": "encoderkit.models.ref",
    "encoderkit.pooling": "encoderkit.models.pooling",
    "encoderkit.encoder": "encoderkit.models.encoder",
    "encoderkit.rerank": "encoderkit.models.cross_encoder",
    "encoderkit.bm25": "encoderkit.retrieval.bm25",
    "encoderkit.dense": "encoderkit.retrieval.dense",
    "encoderkit.fusion": "encoderkit.retrieval.fusion",
    "encoderkit.search": "encoderkit.retrieval.ranking",
    "encoderkit.snippet": "encoderkit.retrieval.snippets",
    "encoderkit.manifest": "encoderkit.index.manifest",
    "encoderkit.store": "encoderkit.index.store",
    "encoderkit.train": "encoderkit.training",
    "encoderkit.train.data": "encoderkit.data.pairs",
    "encoderkit.pretrain": "encoderkit.training.pretrain",
    "encoderkit.pretrain.checkpoint": "encoderkit.training.checkpoint",
    "encoderkit.pretrain.trainer": "encoderkit.training.loop",
    "encoderkit.train.loop": "encoderkit.training.loop",
}
PREFIXES = {"encoderkit.train.": "encoderkit.training.", "encoderkit.pretrain.": "encoderkit.training.pretrain."}


def new_name(old: str) -> str | None:
    """The current module path for an old one, or None if ``old`` was not moved.

    >>> new_name("encoderkit.encoder"), new_name("encoderkit.pretrain.masking"), new_name("encoderkit.errors")
    ('encoderkit.models.encoder', 'encoderkit.training.pretrain.masking', None)
    """
    if old in MOVED:
        return MOVED[old]
    for prefix, repl in PREFIXES.items():
        if old.startswith(prefix):
            return repl + old[len(prefix) :]
    return None


class _AliasLoader(importlib.abc.Loader):
    def __init__(self, target: str):
        self.target = target

    def create_module(self, spec):
        return importlib.import_module(self.target)

    def exec_module(self, module) -> None:  # already executed under its real name
        pass


class _AliasFinder(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname, path=None, target=None):
        target_name = new_name(fullname)
        if target_name is None:
            return None
        warnings.warn(f"{fullname} moved to {target_name}", DeprecationWarning, stacklevel=3)
        module = importlib.import_module(target_name)
        spec = importlib.util.spec_from_loader(fullname, _AliasLoader(target_name), is_package=hasattr(module, "__path__"))
        if hasattr(module, "__path__"):
            spec.submodule_search_locations = list(module.__path__)
        return spec


def install() -> None:
    if not any(isinstance(f, _AliasFinder) for f in sys.meta_path):
        sys.meta_path.append(_AliasFinder())
