"""Old module paths (before the 0.2 package layout, and before the 0.3 rooms inside the packages) keep
importing, with a DeprecationWarning.

``import encoderkit.encoder`` gives the very module object ``encoderkit.models.heads.encoder`` (not a copy),
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
    "encoderkit.sources": "encoderkit.data.files.sources",
    "encoderkit.chunking": "encoderkit.data.chunking",
    "encoderkit.evaluation.beir": "encoderkit.data.corpora.beir",
    "encoderkit.onnx_backend": "encoderkit.models.export",
    "encoderkit.modelref": "encoderkit.models.ref",
    "encoderkit.pooling": "encoderkit.models.heads.pooling",
    "encoderkit.encoder": "encoderkit.models.heads.encoder",
    "encoderkit.rerank": "encoderkit.models.heads.cross_encoder",
    "encoderkit.bm25": "encoderkit.retrieval.bm25",
    "encoderkit.dense": "encoderkit.retrieval.dense",
    "encoderkit.fusion": "encoderkit.retrieval.fusion",
    "encoderkit.search": "encoderkit.retrieval.ranking",
    "encoderkit.snippet": "encoderkit.retrieval.snippets",
    "encoderkit.manifest": "encoderkit.index.storage.manifest",
    "encoderkit.store": "encoderkit.index.storage.store",
    "encoderkit.train": "encoderkit.training",
    "encoderkit.train.data": "encoderkit.data.corpora.pairs",
    "encoderkit.pretrain": "encoderkit.training.pretrain",
    "encoderkit.pretrain.checkpoint": "encoderkit.training.checkpoint",
    "encoderkit.pretrain.trainer": "encoderkit.training.loop",
    "encoderkit.train.loop": "encoderkit.training.loop",
    # 0.3: rooms inside the packages (issue 28)
    "encoderkit.index.manifest": "encoderkit.index.storage.manifest",
    "encoderkit.index.store": "encoderkit.index.storage.store",
    "encoderkit.index.segments": "encoderkit.index.storage.segments",
    "encoderkit.index.checksums": "encoderkit.index.storage.checksums",
    "encoderkit.index.integrity": "encoderkit.index.storage.integrity",
    "encoderkit.index.leases": "encoderkit.index.storage.leases",
    "encoderkit.index.lock": "encoderkit.index.storage.lock",
    "encoderkit.index.ioerrors": "encoderkit.index.storage.ioerrors",
    "encoderkit.index.threadlocal": "encoderkit.index.storage.threadlocal",
    "encoderkit.index.footprint": "encoderkit.index.storage.footprint",
    "encoderkit.index.encoder": "encoderkit.index.storage.model",
    "encoderkit.index.writer": "encoderkit.index.write.writer",
    "encoderkit.index.plan": "encoderkit.index.write.plan",
    "encoderkit.index.encode": "encoderkit.index.write.encode",
    "encoderkit.index.commit": "encoderkit.index.write.commit",
    "encoderkit.index.merge": "encoderkit.index.write.merge",
    "encoderkit.index.repair": "encoderkit.index.write.repair",
    "encoderkit.index.scope": "encoderkit.index.write.scope",
    "encoderkit.index.annotate": "encoderkit.index.write.annotate",
    "encoderkit.index.report": "encoderkit.index.write.update_report",
    "encoderkit.index.searcher": "encoderkit.index.read.searcher",
    "encoderkit.index.snapshot": "encoderkit.index.read.snapshot",
    "encoderkit.index.filters": "encoderkit.index.read.filters",
    "encoderkit.index.documents": "encoderkit.index.read.documents",
    "encoderkit.index.sharded": "encoderkit.index.shards.sharded",
    "encoderkit.index.ray_shards": "encoderkit.index.shards.ray_actors",
    "encoderkit.index.distributed": "encoderkit.index.shards.ray_build",
    "encoderkit.retrieval.shardview": "encoderkit.index.shards.view",
    "encoderkit.data.sources": "encoderkit.data.files.sources",
    "encoderkit.data.fileio": "encoderkit.data.files.fileio",
    "encoderkit.data.extract": "encoderkit.data.files.convert",
    "encoderkit.data.code": "encoderkit.data.files.code",
    "encoderkit.data.timelimit": "encoderkit.data.files.timelimit",
    "encoderkit.data.beir": "encoderkit.data.corpora.beir",
    "encoderkit.data.sts": "encoderkit.data.corpora.sts",
    "encoderkit.data.conll": "encoderkit.data.corpora.conll",
    "encoderkit.data.semeval": "encoderkit.data.corpora.semeval",
    "encoderkit.data.pairs": "encoderkit.data.corpora.pairs",
    "encoderkit.data.labeled": "encoderkit.data.corpora.labelled",
    "encoderkit.data.label_formats": "encoderkit.data.corpora.label_formats",
    "encoderkit.data.annotations": "encoderkit.data.corpora.annotations",
    "encoderkit.data.texts": "encoderkit.data.corpora.texts",
    "encoderkit.models.encoder": "encoderkit.models.heads.encoder",
    "encoderkit.models.pooling": "encoderkit.models.heads.pooling",
    "encoderkit.models.cross_encoder": "encoderkit.models.heads.cross_encoder",
    "encoderkit.models.colbert": "encoderkit.models.heads.colbert",
    "encoderkit.models.classifier": "encoderkit.models.heads.classifier",
    "encoderkit.models.classifier_module": "encoderkit.models.heads.torch_modules",
    "encoderkit.models.tagger": "encoderkit.models.heads.tagger",
    "encoderkit.models.span_pair": "encoderkit.models.heads.span_pair",
    "encoderkit.models.heads_torch": "encoderkit.models.heads.torch_modules",
    "encoderkit.models.head_io": "encoderkit.models.card",
    "encoderkit.models.head_export": "encoderkit.models.export",
    "encoderkit.models.sequence": "encoderkit.models.heads.decoding",
    "encoderkit.models.casing": "encoderkit.models.heads.casing",
    "encoderkit.models.windows": "encoderkit.models.heads.windows",
    "encoderkit.retrieval.colbert.pooling": "encoderkit.retrieval.colbert.token_pooling",
    "encoderkit.runtime.cluster": "encoderkit.runtime.ray_cluster",
    "encoderkit.training.classify_objectives": "encoderkit.training.classify.objectives",
    "encoderkit.training.probe": "encoderkit.training.classify.probe",
    "encoderkit.training.compress_losses": "encoderkit.training.compress.losses",
    "encoderkit.training.student": "encoderkit.training.compress.student",
    "encoderkit.training.pretrain.export": "encoderkit.training.pretrain.to_encoder",
    "encoderkit.training.pretrain.run": "encoderkit.training.pretrain.train",
    "encoderkit.server.errors": "encoderkit.server.http_errors",
    "encoderkit.server.run": "encoderkit.server.listen",
    "encoderkit.server.routers.common": "encoderkit.server.routers.shared",
    "encoderkit.tasks.extract.context": "encoderkit.tasks.extract.sentences",
    "encoderkit.tasks.extract.annotations": "encoderkit.tasks.extract.resolve",
    "encoderkit.data.labelled": "encoderkit.data.corpora.labelled",
    "encoderkit.evaluation.metrics": "encoderkit.retrieval.metrics",
    "encoderkit.evaluation.precision_gate": "encoderkit.index.precision_gate",
}
PREFIXES = {"encoderkit.train.": "encoderkit.training.", "encoderkit.pretrain.": "encoderkit.training.pretrain."}


def new_name(old: str) -> str | None:
    """The current module path for an old one, or None if ``old`` was not moved.

    >>> new_name("encoderkit.encoder"), new_name("encoderkit.pretrain.masking"), new_name("encoderkit.errors")
    ('encoderkit.models.heads.encoder', 'encoderkit.training.pretrain.masking', None)
    >>> new_name("encoderkit.pretrain.run"), new_name("encoderkit.index.writer")
    ('encoderkit.training.pretrain.train', 'encoderkit.index.write.writer')
    """
    name = old
    for _ in range(4):  # a module moved in 0.2 and again in 0.3 follows both moves
        if name in MOVED:
            name = MOVED[name]
            continue
        for prefix, repl in PREFIXES.items():
            if name.startswith(prefix):
                name = repl + name[len(prefix) :]
                break
        else:
            break
    return None if name == old else name


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
