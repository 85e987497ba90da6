"""Open an index for an update with the settings a user asked for, or create it: the one place that
decides what a change of model, pooling, chunking or retrievers means for an existing index (used by
``encoderkit index``, the evaluation harness and the server alike)."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from ..errors import EncoderkitError
from .index import DEFAULT_RETRIEVERS, Index
from .storage.manifest import MANIFEST, retriever_names
from .write.annotate import annotator_entries
from .write.plan import ChunkSettings, settings_key
from .write.writer import retriever_entries


def open_for_update(
    index_dir: str | Path,
    *,
    model: str | None = None,
    pooling: str | None = None,
    chunk_size: int | None = None,
    chunk_overlap: int | None = None,
    retrievers: Sequence[str] | None = None,
    retriever_settings: dict[str, dict] | None = None,
    annotators: Sequence[str] | None = None,
    annotator_settings: dict[str, dict] | None = None,
    rebuild: bool = False,
    titles: str | None = None,
) -> Index:
    """The index at ``index_dir``, reconfigured as asked (or created with these settings and defaults).

    On an existing index, options left as None keep its settings. A different model, pooling or chunking
    needs ``rebuild`` (everything is re-encoded; the old version stays searchable until the rebuild
    commits). Retrievers and their settings can change at any update: a new retriever is built from the
    stored chunks, encoding only what it needs. Annotators (``annotators``: names to hold; settings per
    name) likewise: a new one annotates the documents already indexed.
    """
    from ..models.heads.encoder import Encoder
    from ..models.ref import resolve_model, weights_fingerprint

    index_dir = Path(index_dir)
    if not (index_dir / MANIFEST).exists():
        names = list(annotators or ())
        names += [n for n in annotator_settings or {} if n not in names]  # `--classify M` on a new index holds it too
        return Index.create(
            index_dir,
            encoder=Encoder.load(model or "default", pooling=pooling),
            chunk_size=256 if chunk_size is None else chunk_size,
            chunk_overlap=32 if chunk_overlap is None else chunk_overlap,
            retrievers=list(retrievers or DEFAULT_RETRIEVERS),
            retriever_settings=retriever_settings,
            annotators=names,
            annotator_settings=annotator_settings,
            titles=titles or "auto",
        )
    idx = Index.open(index_dir)
    m = idx.manifest
    new_model = model is not None and weights_fingerprint(resolve_model(model).path) != m["model"]["fingerprint"]
    new_pooling = pooling is not None and pooling != m["model"]["pooling"]
    size = m["chunking"]["size"] if chunk_size is None else chunk_size
    overlap = m["chunking"]["overlap"] if chunk_overlap is None else chunk_overlap
    old_chunking = ChunkSettings.from_dict(m["chunking"])
    mode = old_chunking.title_mode if titles is None else titles
    new_chunks = (size, overlap, mode) != (old_chunking.size, old_chunking.overlap, old_chunking.title_mode)
    # an index whose stored key no longer matches its own settings was built by an older chunker (e.g.
    # whole-document text before it was exactly title + " " + text): its chunks must be rebuilt
    stale = settings_key(m["model"], old_chunking) != m["settings_key"]
    if (new_model or new_pooling or new_chunks or stale) and not rebuild:
        what = ", ".join(
            w
            for w, changed in (
                ("model", new_model),
                ("pooling", new_pooling),
                ("chunking", new_chunks),
                ("version of the chunker (whole documents are now indexed as title + ' ' + text)", stale),
            )
            if changed
        )
        idx.close()
        raise EncoderkitError(
            f"index '{index_dir}' was built with another {what}",
            hint="add --rebuild to re-encode everything with the new settings, or use another --index",
        )
    names = list(retrievers) if retrievers is not None else retriever_names(m)
    entries = retriever_entries(names, retriever_settings, m["retrievers"])
    previous = m.get("annotators") or []
    ann_names = list(annotators) if annotators is not None else [a["name"] for a in previous]
    for name in annotator_settings or {}:
        if name not in ann_names:
            ann_names.append(name)
    ann_entries = annotator_entries(ann_names, annotator_settings, previous)
    if new_model or new_pooling or new_chunks or stale or entries != m["retrievers"] or ann_entries != previous:
        enc = None
        if new_model or new_pooling:
            enc = Encoder.load(model or m["model"]["path"], pooling=pooling or m["model"]["pooling"])
        idx.reconfigure(
            enc,
            chunk_size=size,
            chunk_overlap=overlap,
            retrievers=names,
            retriever_settings=retriever_settings,
            annotators=ann_names,
            annotator_settings=annotator_settings,
            titles=mode,
        )
    return idx
