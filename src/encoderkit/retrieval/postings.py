"""One segment's inverted index for BM25: term -> (documents that contain it, how often), plus document
lengths, as flat ``.npy`` arrays that are memory-mapped at search time.

Written by hand (bm25s keeps score matrices, not term counts, so its files cannot be scored with other
statistics or merged). Layout of a ``bm25/`` folder (format 1):

- ``postings.json``: format, document count, total length, term and posting counts;
- ``doc_lengths.npy`` (int32, one per document = chunk of the segment, in segment order);
- ``term_hashes.npy`` (uint64, ascending: the first 8 bytes of BLAKE2b of each term's UTF-8, ties by
  the term's bytes), ``terms.bin`` (the terms' UTF-8, concatenated in that order) and
  ``term_offsets.npy`` (int64, n_terms + 1) — a term is found with one binary search over hashes;
- ``postings_offsets.npy`` (int64, n_terms + 1), ``postings_docs.npy`` (int32 document positions,
  ascending within a term) and ``postings_tfs.npy`` (uint16, or uint32 when a count exceeds 65,535).

:func:`merge` joins segments in one pass over their postings (deleted documents dropped, positions
renumbered), without sorting and without the texts — what a Lucene-style segment merge does.

>>> p = Postings.from_tokens([["cat", "sat", "cat"], ["dog"]])
>>> t = p.lookup(["cat", "bird"])
>>> int(t[1]), p.postings(int(t[0]))[0].tolist(), p.postings(int(t[0]))[1].tolist(), p.lengths.tolist()
(-1, [0], [2], [3, 1])
"""

from __future__ import annotations

import hashlib
import itertools
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from ..runtime.diskarrays import reserved_memmap

FORMAT = 1
DEEP_POSTINGS = 1 << 22  # up to this many postings, opening a segment checks every one
FILES = (
    "postings.json",
    "doc_lengths.npy",
    "term_hashes.npy",
    "terms.bin",
    "term_offsets.npy",
    "postings_offsets.npy",
    "postings_docs.npy",
    "postings_tfs.npy",
)


def term_hash(term: str) -> int:
    """64-bit hash of a term (BLAKE2b, first 8 bytes, little-endian).

    >>> term_hash("cat") == term_hash("cat"), term_hash("cat") == term_hash("dog")
    (True, False)
    """
    return int.from_bytes(hashlib.blake2b(term.encode("utf-8", "surrogatepass"), digest_size=8).digest(), "little")


def hashes_of(terms: Sequence[str]) -> np.ndarray:
    return np.fromiter((term_hash(t) for t in terms), dtype=np.uint64, count=len(terms))


def _order(hashes: np.ndarray, terms: Sequence[bytes]) -> np.ndarray:
    """Indices sorting terms by (hash, bytes)."""
    order = np.argsort(hashes, kind="stable")
    h = hashes[order]
    if len(h) > 1 and bool(np.any(h[1:] == h[:-1])):  # a 64-bit collision: order the equal hashes by bytes
        order = np.array(sorted(range(len(terms)), key=lambda i: (int(hashes[i]), terms[i])), dtype=np.int64)
    return order


@dataclass
class Postings:
    hashes: np.ndarray
    term_offsets: np.ndarray
    terms: bytes
    offsets: np.ndarray
    docs: np.ndarray
    tfs: np.ndarray
    lengths: np.ndarray

    @property
    def n_docs(self) -> int:
        return int(len(self.lengths))

    @property
    def n_terms(self) -> int:
        return int(len(self.hashes))

    @property
    def total_length(self) -> int:
        return int(self.lengths.sum(dtype=np.int64))

    def term(self, t: int) -> str:
        return self.terms[int(self.term_offsets[t]) : int(self.term_offsets[t + 1])].decode("utf-8", "surrogatepass")

    # ------------------------------------------------------------------ building
    @classmethod
    def from_ids(cls, ids: Sequence[Sequence[int]], vocab: Sequence[str]) -> Postings:
        """From token ids per document (``vocab[i]`` = the term of id ``i``): what bm25s' tokenizer returns."""
        n_docs = len(ids)
        lengths = np.fromiter((len(d) for d in ids), dtype=np.int64, count=n_docs)
        flat = np.fromiter(itertools.chain.from_iterable(ids), dtype=np.int64, count=int(lengths.sum()))
        used = np.unique(flat) if len(flat) else np.zeros(0, np.int64)
        words = [vocab[int(i)] for i in used]
        raw = [w.encode("utf-8", "surrogatepass") for w in words]
        hashes = hashes_of(words)
        order = _order(hashes, raw)
        remap = np.full(int(used.max()) + 1 if len(used) else 0, -1, dtype=np.int64)
        remap[used[order]] = np.arange(len(used))
        doc_of = np.repeat(np.arange(n_docs, dtype=np.int64), lengths)
        key = remap[flat] * max(n_docs, 1) + doc_of
        pairs, counts = np.unique(key, return_counts=True)
        term_of = pairs // max(n_docs, 1)
        offsets = np.zeros(len(used) + 1, dtype=np.int64)
        np.cumsum(np.bincount(term_of, minlength=len(used)), out=offsets[1:])
        tfs = counts.astype(np.uint16 if (not len(counts) or counts.max() < 65536) else np.uint32)
        sorted_raw = [raw[i] for i in order]
        term_offsets = np.zeros(len(used) + 1, dtype=np.int64)
        np.cumsum([len(r) for r in sorted_raw], out=term_offsets[1:])
        return cls(
            hashes[order],
            term_offsets,
            b"".join(sorted_raw),
            offsets,
            (pairs % max(n_docs, 1)).astype(np.int32),
            tfs,
            lengths.astype(np.int32),
        )

    @classmethod
    def from_tokens(cls, docs: Sequence[Sequence[str]]) -> Postings:
        """From each document's terms (strings, repeats counted)."""
        vocab: dict[str, int] = {}
        ids = [[vocab.setdefault(t, len(vocab)) for t in d] for d in docs]
        return cls.from_ids(ids, list(vocab))

    # ------------------------------------------------------------------ files
    def save(self, directory: Path) -> None:
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        for name, arr in (
            ("doc_lengths", self.lengths),
            ("term_hashes", self.hashes),
            ("term_offsets", self.term_offsets),
            ("postings_offsets", self.offsets),
            ("postings_docs", self.docs),
            ("postings_tfs", self.tfs),
        ):
            np.save(directory / f"{name}.npy", np.ascontiguousarray(arr), allow_pickle=False)
        (directory / "terms.bin").write_bytes(self.terms)
        write_meta(directory, self.n_docs, self.total_length, self.n_terms, int(len(self.docs)))

    @classmethod
    def load(cls, directory: Path, *, mmap: bool = True, deep: bool | str = "auto") -> Postings:
        """Read a folder written by :meth:`save` or :func:`merge` (large arrays memory-mapped). Raises
        ValueError when the files contradict each other (damage is never scored). ``deep``: also check
        every posting's range and count (True), a sample of blocks ("sample"), or the first for up to
        4M postings and the second above ("auto")."""
        directory = Path(directory)
        meta = json.loads((directory / "postings.json").read_text())
        if meta.get("format") != FORMAT:
            raise ValueError(f"postings format {meta.get('format')!r}, expected {FORMAT}")
        mode = "r" if mmap else None

        def arr(name):
            return np.load(directory / f"{name}.npy", mmap_mode=mode, allow_pickle=False)

        p = cls(
            arr("term_hashes"),
            np.load(directory / "term_offsets.npy", allow_pickle=False),
            (directory / "terms.bin").read_bytes(),
            np.load(directory / "postings_offsets.npy", allow_pickle=False),
            arr("postings_docs"),
            arr("postings_tfs"),
            np.load(directory / "doc_lengths.npy", allow_pickle=False),
        )
        if deep == "auto":
            deep = True if len(p.docs) <= DEEP_POSTINGS else "sample"
        problems = p.problems(meta, deep=deep)
        if problems:
            raise ValueError(problems[0])
        return p

    def problems(self, meta: dict | None = None, *, deep: bool = False) -> list[str]:
        """Structural checks (shapes, dtypes, offsets, ranges); ``deep`` also reads every posting."""
        n_terms, n_post = len(self.hashes), len(self.docs)
        if meta is not None and (meta.get("documents"), meta.get("terms"), meta.get("postings")) != (
            self.n_docs,
            n_terms,
            n_post,
        ):
            return ["postings.json disagrees with the arrays (documents, terms or postings)"]
        if self.hashes.dtype != np.uint64 or self.docs.dtype != np.int32 or self.lengths.dtype != np.int32:
            return ["postings arrays have unexpected dtypes"]
        if self.tfs.dtype not in (np.uint16, np.uint32) or self.tfs.shape != self.docs.shape:
            return ["term counts do not match the postings"]
        for name, off, end in (("postings", self.offsets, n_post), ("terms", self.term_offsets, len(self.terms))):
            if off.shape != (n_terms + 1,) or (len(off) and (int(off[0]) != 0 or int(off[-1]) != end)):
                return [f"{name} offsets are inconsistent"]
            if len(off) > 1 and bool(np.any(np.diff(off) < (1 if name == "postings" else 0))):
                return [f"{name} offsets are out of order"]
        if n_terms > 1 and bool(np.any(self.hashes[1:] < self.hashes[:-1])):
            return ["term hashes are out of order"]
        if self.n_docs and int(self.lengths.min()) < 0:
            return ["negative document lengths"]
        if deep and n_post:
            blocks = [(0, n_post)]
            if deep == "sample":
                step = max(1, n_post // 32)
                blocks = [(a, min(n_post, a + 65536)) for a in range(0, n_post, step)]
            for a, b in blocks:
                docs, tfs = np.asarray(self.docs[a:b]), np.asarray(self.tfs[a:b])
                if int(docs.min()) < 0 or int(docs.max()) >= self.n_docs:
                    return ["postings point outside the segment's documents"]
                if int(tfs.min()) < 1:
                    return ["zero term counts in the postings"]
            if deep is True and int(self.tfs.sum(dtype=np.int64)) != self.total_length:
                return ["term counts do not add up to the document lengths"]
        return []

    # ------------------------------------------------------------------ reading
    def lookup(self, terms: Sequence[str], hashes: np.ndarray | None = None) -> np.ndarray:
        """Term index of each term (-1 when absent)."""
        if hashes is None:
            hashes = hashes_of(terms)
        lo = np.searchsorted(self.hashes, hashes, side="left")
        hi = np.searchsorted(self.hashes, hashes, side="right")
        out = np.full(len(terms), -1, dtype=np.int64)
        for i, (a, b) in enumerate(zip(lo.tolist(), hi.tolist())):
            if a == b:
                continue
            want = terms[i].encode("utf-8", "surrogatepass")
            for j in range(a, b):
                if self.terms[int(self.term_offsets[j]) : int(self.term_offsets[j + 1])] == want:
                    out[i] = j
                    break
        return out

    def postings(self, t: int) -> tuple[np.ndarray, np.ndarray]:
        """(document positions, term counts) of term index ``t``."""
        a, b = int(self.offsets[t]), int(self.offsets[t + 1])
        return self.docs[a:b], self.tfs[a:b]

    def df(self, t: int, live: np.ndarray | None = None) -> int:
        """Documents containing term ``t`` (only live ones when ``live`` is given)."""
        if live is None:
            return int(self.offsets[t + 1] - self.offsets[t])
        docs, _ = self.postings(t)
        return int(np.count_nonzero(live[docs]))


def _raw(p: Postings, t: int) -> bytes:
    return p.terms[int(p.term_offsets[t]) : int(p.term_offsets[t + 1])]


def write_meta(directory: Path, n_docs: int, total_length: int, n_terms: int, n_postings: int) -> None:
    meta = {"format": FORMAT, "documents": n_docs, "total_length": total_length, "terms": n_terms, "postings": n_postings}
    (Path(directory) / "postings.json").write_text(json.dumps(meta) + "\n")


def merge(parts: Sequence[tuple[Postings, np.ndarray | None]], directory: Path) -> dict:
    """Write the postings of the live documents of ``parts`` (in order; ``live`` None = all live) into
    ``directory`` as one segment; documents are renumbered in that order. Streams into memory-mapped
    output arrays; never sorts the postings. Returns the written ``postings.json``."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    keep_terms, live_dfs, live_entries = [], [], []
    for p, live in parts:
        if live is None:
            entry_live = None
            df = np.diff(p.offsets)
        else:
            entry_live = np.asarray(live, dtype=bool)[np.asarray(p.docs)]
            df = np.add.reduceat(entry_live.astype(np.int64), p.offsets[:-1]) if len(entry_live) else np.zeros(0, np.int64)
        keep_terms.append(np.flatnonzero(df > 0))
        live_dfs.append(df)
        live_entries.append(entry_live)
    # the merged vocabulary: every term with a live posting, ordered by (hash, bytes)
    all_hashes = np.concatenate([p.hashes[k] for (p, _), k in zip(parts, keep_terms)]) if parts else np.zeros(0, np.uint64)
    merged_hashes = np.unique(all_hashes)
    collision = False
    raw_of: dict = {}
    for (p, _), k in zip(parts, keep_terms):
        for t in k.tolist():
            h = int(p.hashes[t])
            b = _raw(p, t)
            prev = raw_of.setdefault(h, b)
            if prev != b:
                collision = True
    if collision:  # two different terms share a 64-bit hash: key the vocabulary by (hash, bytes)
        part_keys = [[(int(p.hashes[t]), _raw(p, t)) for t in k.tolist()] for (p, _), k in zip(parts, keep_terms)]
        keys = sorted({key for pk in part_keys for key in pk})
        merged_hashes = np.array([h for h, _ in keys], dtype=np.uint64)
        merged_raw = [b for _, b in keys]
        index_of = {key: i for i, key in enumerate(keys)}
        maps = [np.array([index_of[key] for key in pk], dtype=np.int64) for pk in part_keys]
    else:
        merged_raw = [raw_of[int(h)] for h in merged_hashes.tolist()]
        maps = [np.searchsorted(merged_hashes, p.hashes[k]) for (p, _), k in zip(parts, keep_terms)]
    n_terms = len(merged_hashes)
    counts = np.zeros(n_terms, dtype=np.int64)
    for m, df, k in zip(maps, live_dfs, keep_terms):
        counts[m] += df[k]
    offsets = np.zeros(n_terms + 1, dtype=np.int64)
    np.cumsum(counts, out=offsets[1:])
    n_post = int(offsets[-1])
    big_tf = any(p.tfs.dtype == np.uint32 for p, _ in parts)
    out_docs = reserved_memmap(directory / "postings_docs.npy", np.int32, (n_post,))
    out_tfs = reserved_memmap(directory / "postings_tfs.npy", np.uint32 if big_tf else np.uint16, (n_post,))
    cursor = offsets[:-1].copy()
    lengths, base = [], 0
    for (p, live), m, k, entry_live in zip(parts, maps, keep_terms, live_entries):
        n = p.n_docs
        alive = np.ones(n, dtype=bool) if live is None else np.asarray(live, dtype=bool)
        newpos = (np.cumsum(alive) - 1 + base).astype(np.int32)
        lengths.append(np.asarray(p.lengths)[alive])
        base += int(alive.sum())
        step = 1 << 22  # postings per block: bounded memory for any segment size
        mid = np.full(p.n_terms, -1, dtype=np.int64)
        mid[k] = m
        for a in range(0, len(p.docs), step):
            b = min(len(p.docs), a + step)
            docs = np.asarray(p.docs[a:b])
            tfs = np.asarray(p.tfs[a:b])
            terms = np.searchsorted(p.offsets, np.arange(a, b), side="right") - 1
            if entry_live is not None:
                sel = entry_live[a:b]
                docs, tfs, terms = docs[sel], tfs[sel], terms[sel]
            if not len(docs):
                continue
            dest_term = mid[terms]
            # rank of each entry within its term's run in this block (entries of a term are contiguous)
            start = np.r_[0, np.flatnonzero(np.diff(terms)) + 1]
            run = np.repeat(start, np.diff(np.r_[start, len(terms)]))
            dest = cursor[dest_term] + (np.arange(len(terms)) - run)
            out_docs[dest] = newpos[docs]
            out_tfs[dest] = tfs
            np.add.at(cursor, dest_term[start], np.diff(np.r_[start, len(terms)]))
    out_docs.flush()
    out_tfs.flush()
    del out_docs, out_tfs
    length_arr = np.concatenate(lengths).astype(np.int32) if lengths else np.zeros(0, np.int32)
    np.save(directory / "doc_lengths.npy", length_arr, allow_pickle=False)
    np.save(directory / "term_hashes.npy", merged_hashes, allow_pickle=False)
    term_offsets = np.zeros(n_terms + 1, dtype=np.int64)
    np.cumsum([len(r) for r in merged_raw], out=term_offsets[1:])
    np.save(directory / "term_offsets.npy", term_offsets, allow_pickle=False)
    (directory / "terms.bin").write_bytes(b"".join(merged_raw))
    np.save(directory / "postings_offsets.npy", offsets, allow_pickle=False)
    write_meta(directory, int(len(length_arr)), int(length_arr.sum(dtype=np.int64)), n_terms, n_post)
    return json.loads((directory / "postings.json").read_text())
