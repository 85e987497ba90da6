"""A collection of documents to cluster or de-duplicate, with their embeddings: read from files
(labelled CSV / TSV / JSONL / SST-2 / TREC / AG News data, whose labels are then the gold standard for
clustering metrics; or any folder / files that ``encoderkit index`` reads) or from an index (its
stored dense chunk vectors, averaged per document: nothing is re-encoded).

>>> docs = load_collection(["../shared/data/ag_news"])        # doctest: +SKIP
>>> docs.vectors(Encoder.load("default")).shape                # doctest: +SKIP
(7600, 384)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from ..errors import DataError, EncoderkitError

LABELLED = (".csv", ".tsv", ".jsonl", ".ndjson")


@dataclass
class Collection:
    """Documents (ids, texts, optional titles / paths / gold labels) and, for an index, its vectors."""

    source: str
    ids: list[str]
    texts: list[str]
    paths: list[str] = field(default_factory=list)
    gold: list[str] | None = None
    stored_vectors: np.ndarray | None = None
    model: str | None = None  # what made stored_vectors
    skipped: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.ids)

    def vectors(self, encoder=None, *, batch_size: int = 32, show_progress: bool | None = None) -> np.ndarray:
        """L2-normalised document vectors: the index's stored ones, else ``encoder.encode(texts)``."""
        if self.stored_vectors is not None:
            return self.stored_vectors
        if encoder is None:
            raise EncoderkitError("no encoder to embed the documents with")
        return encoder.encode(self.texts, batch_size=batch_size, show_progress=show_progress)


def load_collection(paths: Sequence[str | Path], *, text_col: str | None = None, label_col: str | None = None) -> Collection:
    """Documents from files or folders: one labelled data set (every split, in order), or documents as
    ``encoderkit index`` reads them (one per file; one per record of a BEIR ``corpus.jsonl``)."""
    from ..data.corpora.labelled import read_labeled

    paths = [Path(p) for p in paths]
    if not paths:
        raise EncoderkitError("no input", hint="pass files or folders, or --index DIR")
    if len(paths) == 1 and _looks_labelled(paths[0]):
        try:
            data = read_labeled(paths[0], text_col=text_col, label_col=label_col)
        except DataError:
            if text_col or label_col:
                raise
        else:
            ids, texts, gold, where = [], [], [], []
            for split_name, part in data.splits.items():
                for i, (t, labs) in enumerate(zip(part.texts, part.labels)):
                    ids.append(f"{split_name}:{part.lines[i]}")
                    texts.append(t)
                    gold.append(labs[0] if labs else "")
                    where.append(part.where(i))
            return Collection(str(paths[0]), ids, texts, where, gold)
    from ..data.files.sources import SourceDoc, walk

    ids, texts, where, skipped = [], [], [], []
    for item in walk(paths):
        if isinstance(item, SourceDoc):
            ids.append(item.doc_id)
            # a BEIR record's title is part of its content; a file's title is its name or first heading
            texts.append(f"{item.title}\n{item.text}" if item.fmt == "beir" and item.title else item.text)
            where.append(item.path or item.doc_id)
        else:
            skipped.append(str(item))
    if not ids:
        raise EncoderkitError(f"no documents found in {', '.join(map(str, paths))}", hint="; ".join(skipped[:3]) or None)
    return Collection(", ".join(map(str, paths)), ids, texts, where, None, skipped=skipped)


def _looks_labelled(path: Path) -> bool:
    if path.is_dir():
        names = {p.name.lower() for p in path.iterdir()}
        return "classes.txt" in names or any(("train" in n or "test" in n) and not n.endswith(".all") for n in names)
    return path.suffix.lower() in LABELLED or path.suffix == "" and path.is_file()


def index_collection(index_dir: str | Path) -> Collection:
    """The documents of an index with one vector each: the normalised mean of its chunks' stored dense
    vectors; the text is the document's chunks joined (title header included)."""
    from ..index import Index

    index = Index.open(index_dir, readonly=True)
    try:
        if "dense" not in index.retrievers:
            raise EncoderkitError(
                f"index '{index_dir}' has no dense vectors (retrievers: {', '.join(index.retrievers)})",
                hint="add them with `encoderkit index ... --retrievers bm25,dense`, or pass the files instead",
            )
        gen = index.generation
        docs = {r["id"]: r for r in index.store.visible_documents(gen).values()}
        chunk_doc, chunk_text = {}, {}
        for row in index.store.visible_chunks(gen):
            chunk_doc[row["id"]] = row["doc"]
            chunk_text[row["id"]] = row["index_text"]
        sums: dict[int, np.ndarray] = {}
        parts: dict[int, list[str]] = {}
        for chunk, _key, data in index.store.payloads(gen, "dense"):
            doc = chunk_doc.get(chunk)
            if doc is None:
                continue
            v = np.frombuffer(data, dtype=np.float32)
            sums[doc] = sums[doc] + v if doc in sums else v.copy()
            parts.setdefault(doc, []).append(chunk_text[chunk])
        order = sorted(sums)
        vecs = np.stack([sums[d] for d in order]) if order else np.zeros((0, int(index.manifest["model"]["dim"])), np.float32)
        vecs /= np.clip(np.linalg.norm(vecs, axis=1, keepdims=True), 1e-12, None)
        return Collection(
            str(index_dir),
            [docs[d]["doc_id"] for d in order],
            ["\n".join(parts[d]) for d in order],
            [docs[d]["path"] or docs[d]["doc_id"] for d in order],
            None,
            vecs.astype(np.float32),
            index.manifest["model"]["name"],
        )
    finally:
        index.close()
