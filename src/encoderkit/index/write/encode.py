"""Turn documents into stored chunks: chunk with the index model's tokenizer, compute every encoding
retriever's payloads, write them in groups (one transaction each) so an interrupted run keeps what it
finished and the next run resumes from there.
"""

from __future__ import annotations

import time
from typing import Sequence

from ...data.chunking import Chunk, chunk_text, clip_title, index_text
from ...data.files.sources import SourceDoc
from ..storage.store import Store
from .plan import ChunkSettings


def chunk_document(doc: SourceDoc, tokenizer, chunking: ChunkSettings, window: int, encoding=None) -> list[dict]:
    """The stored rows of one document's chunks (``index_text`` = what retrievers index)."""
    enc = encoding if encoding is not None else tokenizer.encode(doc.text, add_special_tokens=False)
    whole = chunking.size == 0
    titles = chunking.title_mode
    if whole:  # whole documents, the BEIR/MTEB protocol: title + " " + text, unclipped; the encoder truncates
        title, title_tokens = (doc.title if titles != "none" else ""), 0
    else:
        title, title_tokens = clip_title(doc.title, tokenizer) if titles != "none" else ("", 0)
    if whole:
        chunks = [Chunk(0, 0, len(doc.text), doc.text, len(enc.ids))] if enc.ids else []
    else:
        size = max(16, window - title_tokens)
        chunks = chunk_text(
            doc.text,
            tokenizer,
            size=size,
            overlap=min(chunking.overlap, size // 2),
            fmt=doc.fmt,
            encoding=enc,
            sections=doc.sections,
        )
    rows = [
        {
            "ord": c.ord,
            "start": c.start,
            "end": c.end,
            "section": c.section,
            "text": c.text,
            "n_tokens": c.n_tokens,
            "index_text": index_text(title, c.text, titles=titles, whole_document=whole),
        }
        for c in chunks
    ]
    if not rows:  # nothing tokenizable (e.g. only control characters): index the title alone
        rows = [
            {
                "ord": 0,
                "start": 0,
                "end": len(doc.text),
                "section": "",
                "text": doc.text,
                "n_tokens": 0,
                "index_text": title or doc.text,
            }
        ]
    return rows


GROUP_CHUNKS = 128  # chunks written per transaction: an interrupted build keeps all but the last group
MAX_CHUNKS_PER_FILE = 5000  # a document that would make more chunks is skipped (with its reason)
SAMPLE_CHARS = 1 << 16  # characters tokenized from each of three places of a long document to estimate its size
DOCS_PER_PASS = 2048  # documents tokenized and chunked at a time: memory follows them, not the whole update


def estimated_chunks(text: str, tokenizer, chunking: ChunkSettings, window: int) -> int:
    """About how many chunks ``text`` makes, tokenizing at most three slices of :data:`SAMPLE_CHARS`
    characters (memory bounded whatever the document's size); exact for documents that fit one slice.

    >>> class Words:  # a fake tokenizer: one token per word
    ...     def encode(self, text, add_special_tokens=False):
    ...         return type("E", (), {"ids": text.split()})()
    >>> estimated_chunks("w " * 1000, Words(), ChunkSettings(size=100, overlap=20), 100)
    13
    """
    if chunking.size == 0 or not text:
        return 1
    step = max(1, min(window, chunking.size) - min(chunking.overlap, window // 2))
    if len(text) <= 3 * SAMPLE_CHARS:
        n_tokens = len(tokenizer.encode(text, add_special_tokens=False).ids)
    else:
        starts = (0, (len(text) - SAMPLE_CHARS) // 2, len(text) - SAMPLE_CHARS)
        sampled = sum(len(tokenizer.encode(text[a : a + SAMPLE_CHARS], add_special_tokens=False).ids) for a in starts)
        n_tokens = int(sampled / (3 * SAMPLE_CHARS) * len(text))
    return max(1, -(-max(0, n_tokens - window) // step) + 1)


def oversized(docs: Sequence[SourceDoc], tokenizer, chunking: ChunkSettings, max_length: int, cap: int) -> dict[str, int]:
    """doc id -> its estimated chunks, for the documents that would make more than ``cap`` chunks. Only
    documents long enough to possibly exceed it are tokenized (a token covers at least one character)."""
    window = min(chunking.size, max_length - 2)
    step = max(1, window - min(chunking.overlap, window // 2))
    out = {}
    for d in docs:
        if chunking.size and len(d.text) > cap * step:
            n = estimated_chunks(d.text, tokenizer, chunking, window)
            if n > cap:
                out[d.doc_id] = n
    return out


def encode_documents(
    docs: Sequence[SourceDoc],
    tokenizer,
    max_length: int,
    retrievers: Sequence,
    store: Store,
    *,
    gen: int,
    key: str,
    chunking: ChunkSettings,
    group_chunks: int = GROUP_CHUNKS,
    progress=None,
    seconds: dict[str, float] | None = None,
    remote=None,
    manifest: dict | None = None,
    path=None,
) -> int:
    """Chunk ``docs``, compute each encoding retriever's payloads, store everything as pending rows at
    ``gen``; returns the number of chunks. ``retrievers``: instances with ``encodes`` set; ``seconds``
    (if given) accumulates each retriever's encoding time. ``remote`` (e.g.
    :class:`encoderkit.index.shards.ray_build.RayEncoding`, given the index's ``manifest`` and ``path``) chunks
    and encodes elsewhere; the results are stored here in the same groups."""
    if remote is not None:
        return _store_remote(docs, retrievers, store, remote, manifest, path, gen, key, group_chunks, progress, seconds)
    window = min(chunking.size, max_length - 2)
    total = 0
    group: list = []
    n_group = 0
    for i, item in enumerate(_chunked(docs, tokenizer, chunking, window)):
        if item[2] is not None:  # the first document of a pass: the bar's total grows by the pass's chunks
            total += item[2]
            if progress is not None and total == item[2]:
                progress.reset(total=total * max(1, len(retrievers)))
            elif progress is not None:
                progress.total = total * max(1, len(retrievers))
                progress.refresh()
        item = item[:2]
        group.append(item)
        n_group += len(item[1])
        if n_group >= group_chunks or i == len(docs) - 1:
            texts = [c["index_text"] for _, rows in group for c in rows]
            payloads = {}
            for r in retrievers:
                t = time.perf_counter()
                flat = _encode_with_progress(r, texts, progress)
                _add_time(seconds, r.name, t)
                per_doc, pos = [], 0
                for _, rows in group:
                    per_doc.append(flat[pos : pos + len(rows)])
                    pos += len(rows)
                payloads[r.name] = (r.payload_key(), per_doc)
            store.add_documents(
                [_document_row(d) for d, _ in group],
                [rows for _, rows in group],
                payloads,
                gen=gen,
                settings_key=key,
            )
            group, n_group = [], 0
    return total


def _chunked(docs: Sequence[SourceDoc], tokenizer, chunking: ChunkSettings, window: int):
    """(document, its chunk rows, the pass's chunk count on its first document else None), tokenized and
    chunked :data:`DOCS_PER_PASS` documents at a time."""
    for a in range(0, len(docs), DOCS_PER_PASS):
        part = docs[a : a + DOCS_PER_PASS]
        encodings = tokenizer.encode_batch([d.text for d in part], add_special_tokens=False)
        rows = [chunk_document(doc, tokenizer, chunking, window, enc) for doc, enc in zip(part, encodings)]
        del encodings
        n = sum(len(r) for r in rows)
        for j, (doc, doc_rows) in enumerate(zip(part, rows)):
            yield doc, doc_rows, (n if j == 0 else None)


def _store_remote(docs, retrievers, store: Store, remote, manifest, path, gen, key, group_chunks, progress, seconds) -> int:
    """Store what ``remote.encoded`` returns (document, chunk rows, payloads), in groups of chunks."""
    names = [r.name for r in retrievers]
    keys = {r.name: r.payload_key() for r in retrievers}
    total, group = 0, []
    t0 = time.perf_counter()

    def flush() -> None:
        store.add_documents(
            [_document_row(d) for d, _, _ in group],
            [rows for _, rows, _ in group],
            {n: (keys[n], [p[n] for _, _, p in group]) for n in names},
            gen=gen,
            settings_key=key,
        )
        group.clear()

    n_group = 0
    for item in remote.encoded(docs, manifest, path, names, progress=progress):
        group.append(item)
        n_group += len(item[1])
        total += len(item[1])
        if n_group >= group_chunks:
            flush()
            n_group = 0
    if group:
        flush()
    for n in names:
        _add_time(seconds, n, t0)
    return total


def _document_row(d: SourceDoc) -> dict:
    return {
        "doc_id": d.doc_id,
        "path": d.path,
        "title": d.title,
        "fmt": d.fmt,
        "content_hash": d.content_hash,
        "n_chars": len(d.text),
        "meta": d.meta,
    }


def _encode_with_progress(retriever, texts: list[str], progress) -> list[bytes]:
    """``retriever.encode_chunks(texts)``, moving ``progress`` after every model batch (so the bar has an
    ETA after the first batch, not after a whole group); what the retriever did not report is added at
    the end."""
    if progress is None:
        return retriever.encode_chunks(texts)
    from ...runtime import on_batch

    done = [0]

    def step(n: int) -> None:
        n = min(n, len(texts) - done[0])
        if n > 0:
            done[0] += n
            progress.update(n)

    with on_batch(step):
        out = retriever.encode_chunks(texts)
    if done[0] < len(texts):
        progress.update(len(texts) - done[0])
    return out


def _add_time(seconds: dict[str, float] | None, name: str, since: float) -> None:
    if seconds is not None:
        seconds[name] = round(seconds.get(name, 0.0) + time.perf_counter() - since, 3)


def fill_missing_payloads(
    store: Store, retrievers: Sequence, gen: int, *, group_chunks: int = GROUP_CHUNKS, progress=None, seconds: dict | None = None
) -> int:
    """Compute payloads that chunks visible at ``gen`` lack (a retriever added to an existing index, or
    one whose model changed); returns how many were computed. Saved per group: resumable."""
    missing = {r.name: store.chunks_missing_payload(gen, r.name, r.payload_key()) for r in retrievers}
    total = sum(len(m) for m in missing.values())
    if not total:
        return 0
    if progress is not None:
        progress.reset(total=total)
        progress.set_description("encoding for new retrievers")
    for r in retrievers:
        rows = missing[r.name]
        for i in range(0, len(rows), group_chunks):
            part = rows[i : i + group_chunks]
            t0 = time.perf_counter()
            data = _encode_with_progress(r, [t for _, t in part], progress)
            _add_time(seconds, r.name, t0)
            store.put_payloads(r.name, r.payload_key(), [(c, d) for (c, _), d in zip(part, data)])
    return total
