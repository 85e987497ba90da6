"""Dense vector search per segment: exact, HNSW or IVF(-PQ) with faiss, over float32, int8 or binary
embeddings, with the float vectors memory-mapped rather than loaded.

Vectors are L2-normalised by the encoder, so inner product is cosine similarity. Every segment keeps
its float vectors (``vectors.npy``, memory-mapped) and, depending on the settings, a search structure
(``index.faiss``, faiss' documented binary format, opened memory-mapped too):

- ``kind``: ``flat`` (exact; small segments are always exact: below ``ann_min_chunks`` an approximate
  structure is not worth building), ``hnsw`` (Malkov & Yashunin, TPAMI 2018), ``ivf`` (inverted file
  over k-means cells, Jégou et al. TPAMI 2011), ``ivfpq`` (IVF with product-quantized residuals,
  Jégou, Douze & Schmid, TPAMI 2011; rescored with the float vectors by default);
- ``quantization``: ``none`` | ``int8`` (faiss' scalar quantizer: each dimension mapped to 256 levels
  between its minimum and maximum, 4x smaller) | ``binary`` (one sign bit per dimension, 32x smaller,
  searched by Hamming distance — Yamada, Asai & Hajishirzi, *Efficient passage retrieval with hashing
  for open-domain QA*, ACL 2021 — then the top ``k * oversample`` candidates are rescored with the
  float vectors or int8 codes read from disk; ``rescore``: auto | float | int8 | none).

Scores are inner products of the query with the (rescored or dequantized) vectors, so they compare
across segments and one ranking is made by merging per-segment results.

>>> DenseParams(kind="hnsw", quantization="int8").rescoring
'none'
>>> DenseParams(quantization="binary").rescoring
'float'
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ..runtime import n_threads
from ..runtime.diskarrays import reserved_memmap
from .base import ChunkSet, Retriever, SegmentPart, top_k
from .registry import register
from .vectors import release_pages, vector_problems

KINDS = ("flat", "hnsw", "ivf", "ivfpq")
QUANTIZATIONS = ("none", "int8", "binary")
RESCORES = ("auto", "float", "int8", "none")
SEARCH_TIME = ("ef_search", "nprobe", "oversample")  # settings a query reads; changing them rebuilds nothing
FORMAT = 1
BLOCK = 1 << 16  # vectors per block in exact search and merges


@dataclass(frozen=True)
class DenseParams:
    """``kind``: flat | hnsw | ivf | ivfpq; ``quantization``: none | int8 | binary; ``rescore``: how
    binary / PQ candidates are rescored (auto: float vectors for binary and ivfpq, none otherwise);
    ``oversample``: candidates rescored per result. HNSW: ``m``, ``ef_construction``, ``ef_search``.
    IVF: ``nlist`` (0 = 4*sqrt(n)), ``nprobe``, ``pq_m`` (ivfpq sub-quantizers; 0 = dim/8).
    ``ann_min_chunks``: segments with fewer chunks are searched exactly."""

    kind: str = "flat"
    quantization: str = "none"
    rescore: str = "auto"
    oversample: int = 4
    m: int = 32
    ef_construction: int = 200
    ef_search: int = 128
    nlist: int = 0
    nprobe: int = 16
    pq_m: int = 0
    ann_min_chunks: int = 20000

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> DenseParams:
        return cls(**{k: d[k] for k in cls.__dataclass_fields__ if k in d})

    @property
    def rescoring(self) -> str:
        if self.rescore != "auto":
            return self.rescore
        return "float" if self.quantization == "binary" or self.kind == "ivfpq" else "none"

    def built_kind(self, n: int) -> str:
        return self.kind if n >= max(1, self.ann_min_chunks) else "flat"


def _faiss():
    import faiss

    faiss.omp_set_num_threads(n_threads())
    return faiss


def make_structure(vectors: np.ndarray, params: DenseParams, kind: str):
    """The faiss structure of a segment (None for exact float search, which runs on the vectors)."""
    faiss = _faiss()
    n, d = vectors.shape
    ip = faiss.METRIC_INNER_PRODUCT
    q = params.quantization
    if kind == "flat" and q == "none":
        return None
    nlist = min(params.nlist or max(1, int(4 * math.sqrt(n))), max(1, n // 39))  # ~39 training points per list
    if q == "binary":
        if kind == "flat":
            index = faiss.IndexBinaryFlat(d)
        elif kind == "hnsw":
            index = faiss.IndexBinaryHNSW(d, params.m)
            index.hnsw.efConstruction = params.ef_construction
        else:
            index = faiss.IndexBinaryIVF(faiss.IndexBinaryFlat(d), d, nlist)
        bits = np.packbits(vectors > 0, axis=1) if n else np.zeros((0, d // 8), np.uint8)
        if kind in ("ivf", "ivfpq"):
            index.train(_sample(bits, nlist))
        index.add(bits)
        return index
    if kind == "flat":
        index = faiss.IndexScalarQuantizer(d, faiss.ScalarQuantizer.QT_8bit, ip)
    elif kind == "hnsw":
        index = (
            faiss.IndexHNSWSQ(d, faiss.ScalarQuantizer.QT_8bit, params.m, ip)
            if q == "int8"
            else faiss.IndexHNSWFlat(d, params.m, ip)
        )
        index.hnsw.efConstruction = params.ef_construction
    elif kind == "ivf":
        index = faiss.index_factory(d, f"IVF{nlist},{'SQ8' if q == 'int8' else 'Flat'}", ip)
    elif kind == "ivfpq":
        pq_m = params.pq_m or max(1, d // 8)
        bits = max(4, min(8, int(math.log2(max(2, n // 39)))))  # 256 codes need ~10k training points
        index = faiss.index_factory(d, f"IVF{nlist},PQ{pq_m}x{bits}", ip)
    else:
        raise ValueError(f"unknown dense index kind {kind!r}; use one of {KINDS}")
    if not index.is_trained:
        index.train(_sample(vectors, nlist if kind.startswith("ivf") else 1))
    for i in range(0, n, BLOCK):
        index.add(np.ascontiguousarray(vectors[i : i + BLOCK], dtype=np.float32))
    return index


def dot_rows(rows: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Inner products of rows with one query, each computed the same way wherever the row sits (BLAS'
    matrix-vector kernels round differently with the row's offset and the block's size; einsum does
    not), so a chunk's exact score does not depend on how chunks are spread over segments.

    >>> dot_rows(np.eye(3, dtype="float32"), np.array([1, 2, 3], "float32")).tolist()
    [1.0, 2.0, 3.0]
    """
    return np.einsum("ij,j->i", rows, np.asarray(q, dtype=np.float32))


def _sample(x: np.ndarray, nlist: int) -> np.ndarray:
    """Training points: all of them, or an even spread of 64 per list (faiss' own cap is 256)."""
    want = max(nlist * 64, 10000)
    if len(x) <= want:
        return np.ascontiguousarray(x)
    step = len(x) / want
    return np.ascontiguousarray(x[(np.arange(want) * step).astype(np.int64)])


class DenseIndex:
    """One segment's dense data: float vectors (memory-mapped once saved) and an optional faiss structure."""

    def __init__(self, vectors: np.ndarray, params: DenseParams, structure=None, kind: str = "flat", int8=None):
        self.vectors = vectors
        self.params = params
        self.structure = structure
        self.kind = kind
        self.int8 = int8  # (codec, codes) for int8 rescoring of binary candidates
        self.binary = params.quantization == "binary" and structure is not None

    @property
    def n(self) -> int:
        return int(self.vectors.shape[0])

    @classmethod
    def build(cls, vectors: np.ndarray, params: DenseParams = DenseParams()) -> DenseIndex:
        kind = params.built_kind(len(vectors))
        int8 = None
        if params.quantization == "binary" and params.rescoring == "int8" and len(vectors):
            faiss = _faiss()
            codec = faiss.IndexScalarQuantizer(vectors.shape[1], faiss.ScalarQuantizer.QT_8bit, faiss.METRIC_INNER_PRODUCT)
            codec.train(_sample(np.asarray(vectors), 1))
            int8 = (codec, codec.sa_encode(np.ascontiguousarray(vectors, dtype=np.float32)))
        return cls(vectors, params, make_structure(vectors, params, kind), kind, int8)

    def save(self, directory: Path) -> None:
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        if not (directory / "vectors.npy").is_file():
            np.save(directory / "vectors.npy", np.ascontiguousarray(self.vectors, dtype=np.float32), allow_pickle=False)
        if self.structure is not None:
            faiss = _faiss()
            write = faiss.write_index_binary if self.binary else faiss.write_index
            write(self.structure, str(directory / "index.faiss"))
        if self.int8 is not None:
            _faiss().write_index(self.int8[0], str(directory / "int8_codec.faiss"))
            np.save(directory / "int8_codes.npy", self.int8[1], allow_pickle=False)
        meta = {"format": FORMAT, "chunks": self.n, "dim": int(self.vectors.shape[1]), "built": self.kind, **self._shape()}
        (directory / "dense.json").write_text(json.dumps(meta) + "\n")

    def _shape(self) -> dict:
        return {"quantization": self.params.quantization, "rescore": self.params.rescoring}

    @classmethod
    def load(cls, directory: Path, params: DenseParams, dim: int) -> DenseIndex:
        directory = Path(directory)
        vectors = np.load(directory / "vectors.npy", mmap_mode="r", allow_pickle=False)
        meta_path = directory / "dense.json"
        if not meta_path.is_file():  # a generation folder from before segments
            return cls._load_legacy(directory, params, vectors)
        meta = json.loads(meta_path.read_text())
        if meta.get("format") != FORMAT or meta.get("chunks") != len(vectors):
            raise ValueError("dense.json disagrees with vectors.npy")
        kind = meta["built"]
        built = DenseParams(**{**params.to_dict(), "quantization": meta["quantization"], "rescore": meta["rescore"]})
        structure = None
        path = directory / "index.faiss"
        if path.is_file():
            faiss = _faiss()
            if built.quantization == "binary":
                structure = faiss.read_index_binary(str(path), faiss.IO_FLAG_MMAP)
            else:
                structure = faiss.read_index(str(path), faiss.IO_FLAG_MMAP if kind.startswith("ivf") else faiss.IO_FLAG_MMAP_IFC)
            if structure.ntotal != len(vectors):
                raise ValueError(f"index.faiss holds {structure.ntotal} vectors, vectors.npy {len(vectors)}")
        elif kind != "flat" or built.quantization != "none":
            raise ValueError("index.faiss is missing")
        int8 = None
        if (directory / "int8_codes.npy").is_file():
            codec = _faiss().read_index(str(directory / "int8_codec.faiss"))
            codes = np.load(directory / "int8_codes.npy", mmap_mode="r", allow_pickle=False)
            if codes.shape != (len(vectors), codec.sa_code_size()):
                raise ValueError("int8_codes.npy does not match the vectors")
            int8 = (codec, codes)
        return cls(vectors, built, structure, kind, int8)

    @classmethod
    def _load_legacy(cls, directory: Path, params: DenseParams, vectors: np.ndarray) -> DenseIndex:
        legacy = DenseParams(
            kind=params.kind if params.kind in ("hnsw", "ivf") else "flat", nprobe=params.nprobe, ef_search=params.ef_search
        )
        graph = directory / "dense.faiss"
        structure = _faiss().read_index(str(graph)) if legacy.kind != "flat" and graph.is_file() else None
        return cls(vectors, legacy, structure, legacy.kind if structure is not None else "flat")

    # ------------------------------------------------------------------ search
    def search(self, queries: np.ndarray, k: int, live: np.ndarray | None = None) -> list[tuple[np.ndarray, np.ndarray]]:
        """Per query (positions, scores), best first, deleted positions left out."""
        queries = np.ascontiguousarray(np.atleast_2d(queries), dtype=np.float32)
        m = len(queries)
        n_live = self.n if live is None else int(np.count_nonzero(live))
        k = min(k, n_live)
        if k <= 0:
            return [(np.zeros(0, np.int64), np.zeros(0, np.float32)) for _ in range(m)]
        if self.structure is None:
            return self._exact(queries, k, live)
        rescore = self.params.rescoring
        fetch = min(self.n, k * max(1, self.params.oversample)) if rescore != "none" else k
        pos, scores = self._approximate(queries, fetch, live)
        out = []
        for q, p, s in zip(queries, pos, scores):
            keep = p >= 0
            p, s = p[keep], s[keep]
            if live is not None:
                ok = live[p]
                p, s = p[ok], s[ok]
            if rescore == "float" and len(p):
                s = dot_rows(self._rows(p), q)
            elif rescore == "int8" and len(p) and self.int8 is not None:
                s = dot_rows(self.int8[0].sa_decode(np.ascontiguousarray(self.int8[1][p])), q)
                release_pages(self.int8[1])
            out.append(top_k(s, p, k))
        return out

    def _rows(self, positions: np.ndarray) -> np.ndarray:
        """Float vectors of some rows (memory-mapped; the pages are released from the process afterwards)."""
        order = np.argsort(positions)
        rows = np.empty((len(positions), self.vectors.shape[1]), np.float32)
        rows[order] = self.vectors[positions[order]]
        release_pages(self.vectors)
        return rows

    def _exact(self, queries: np.ndarray, k: int, live) -> list[tuple[np.ndarray, np.ndarray]]:
        best: list[list] = [[] for _ in queries]
        for a in range(0, self.n, BLOCK):
            block = np.asarray(self.vectors[a : a + BLOCK])
            sc = np.stack([dot_rows(block, q) for q in queries], axis=1)  # [rows, m]
            keys = np.arange(a, a + len(block))
            if live is not None:
                ok = live[a : a + len(block)]
                sc, keys = sc[ok], keys[ok]
            for j in range(len(queries)):
                best[j].append(top_k(sc[:, j], keys, k))
        out = []
        for parts in best:
            keys = np.concatenate([p for p, _ in parts])
            sc = np.concatenate([s for _, s in parts])
            out.append(top_k(sc, keys, k))
        return out

    def _approximate(self, queries: np.ndarray, fetch: int, live) -> tuple[np.ndarray, np.ndarray]:
        faiss = _faiss()
        if self.binary:
            extra = 0 if live is None else self.n - int(np.count_nonzero(live))
            dist, pos = self.structure.search(np.packbits(queries > 0, axis=1), min(self.n, fetch + extra))
            d = queries.shape[1]
            return pos.astype(np.int64), (1.0 - 2.0 * dist.astype(np.float32) / d)
        params = None
        if self.kind == "hnsw":
            params = faiss.SearchParametersHNSW()
            params.efSearch = max(self.params.ef_search, fetch)
        elif self.kind.startswith("ivf"):
            params = faiss.SearchParametersIVF()
            params.nprobe = self.params.nprobe
        if live is not None:
            bitmap = np.packbits(np.asarray(live, dtype=bool), bitorder="little")
            sel = faiss.IDSelectorBitmap(self.n, faiss.swig_ptr(bitmap))
            params = params or faiss.SearchParameters()
            params.sel = sel
        scores, pos = self.structure.search(queries, fetch, params=params)
        return pos.astype(np.int64), scores.astype(np.float32)

    # ------------------------------------------------------------------ facts
    def memory(self) -> dict:
        """Bytes a warm search keeps resident (estimates from the structure), and what stays on disk."""
        n, d = self.vectors.shape
        searched = 0
        if self.structure is None:
            searched = n * d * 4
        elif self.binary:
            searched = n * d // 8
        elif self.params.quantization == "int8":
            searched = n * d
        elif self.kind == "ivfpq":
            searched = n * (self.params.pq_m or max(1, d // 8))
        else:
            searched = n * d * 4
        graph = n * self.params.m * 2 * 4 if self.kind == "hnsw" else 0
        return {"vectors_searched": int(searched), "graph": int(graph), "float_on_disk": int(n * d * 4)}


def payload_key(model: dict) -> str:
    """What the stored chunk vectors depend on: the model's weights, pooling, token limit, normalisation,
    and the encoder's precision when it is not fp32 (vectors of a quantized encoder are never mixed with
    fp32 ones).

    >>> payload_key({"fingerprint": "ab12", "pooling": "mean", "max_length": 256})
    'ab12|mean|256|l2'
    >>> payload_key({"fingerprint": "ab12", "pooling": "mean", "max_length": 256, "encode_precision": "int8"})
    'ab12|mean|256|l2|int8'
    """
    key = f"{model['fingerprint']}|{model['pooling']}|{model['max_length']}|l2"
    precision = model.get("encode_precision") or "fp32"
    return key if precision == "fp32" else f"{key}|{precision}"


@register
class DenseRetriever(Retriever):
    """Bi-encoder retrieval: the index's model embeds every chunk; queries are embedded at search time."""

    name = "dense"
    weighted_fusion_weight = 0.25  # chosen on dev queries (retrieval.fusion)
    calibration_weight = 0.6  # chosen on dev queries (docs/fusion.md)
    encodes = True
    skips_deleted = True
    search_time_settings = SEARCH_TIME

    def __init__(self, settings: dict, context):
        super().__init__(settings, context)
        self.params = DenseParams.from_dict(self.settings)
        self.index: DenseIndex | None = None
        self.ids = np.zeros(0, np.int64)

    @classmethod
    def default_settings(cls) -> dict:
        return DenseParams().to_dict()

    @classmethod
    def check_settings(cls, settings: dict) -> dict:
        from ..errors import EncoderkitError

        checked = super().check_settings(settings)
        for key, what, allowed in (
            ("kind", "index kind", KINDS),
            ("quantization", "quantization", QUANTIZATIONS),
            ("rescore", "rescoring", RESCORES),
        ):
            if checked[key] not in allowed:
                raise EncoderkitError(f"unknown dense {what} '{checked[key]}'", hint=f"use one of: {', '.join(allowed)}")
        if checked["kind"] == "ivfpq" and checked["quantization"] != "none":
            raise EncoderkitError("ivfpq quantizes vectors itself", hint="use --dense ivfpq without --quantize")
        for key in ("oversample", "m", "ef_construction", "ef_search", "nprobe"):
            if not isinstance(checked[key], int) or checked[key] < 1:
                raise EncoderkitError(f"dense setting {key} must be a positive integer, not {checked[key]!r}")
        return checked

    @property
    def dim(self) -> int:
        return int(self.context.manifest["model"]["dim"])

    def payload_key(self) -> str:
        return payload_key(self.context.manifest["model"])

    def encode_chunks(self, texts: Sequence[str]) -> list[bytes]:
        encode = getattr(self.context, "encode_documents", None)
        vecs = (
            encode(list(texts))
            if encode is not None
            else self.context.encoder.encode(list(texts), batch_size=32, show_progress=False)
        )
        return [np.ascontiguousarray(v, dtype=np.float32).tobytes() for v in vecs]

    def _vectors(self, chunks: ChunkSet) -> np.ndarray:
        if not len(chunks):
            return np.zeros((0, self.dim), np.float32)
        return np.frombuffer(b"".join(chunks.payloads), dtype=np.float32).reshape(len(chunks), -1).copy()

    def build(self, chunks: ChunkSet) -> None:
        self.index = DenseIndex.build(self._vectors(chunks), self.params)
        self.ids = np.asarray(chunks.ids, dtype=np.int64)

    def save(self, directory: Path) -> None:
        self.index.save(directory)

    def merge(self, parts: Sequence[SegmentPart], directory: Path, chunks) -> None:
        """Copy the parts' live float vectors (never re-encoded, never read from the store) into the merged
        segment, then build its search structure over them."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        sources = [np.load(self._folder(p.directory) / "vectors.npy", mmap_mode="r", allow_pickle=False) for p in parts]
        n = sum(len(s) if p.live is None else int(np.count_nonzero(p.live)) for s, p in zip(sources, parts))
        out = reserved_memmap(directory / "vectors.npy", np.float32, (n, self.dim))
        at = 0
        for src, part in zip(sources, parts):
            for a in range(0, len(src), BLOCK):
                block = np.asarray(src[a : a + BLOCK])
                if part.live is not None:
                    block = block[part.live[a : a + BLOCK]]
                out[at : at + len(block)] = block
                at += len(block)
        out.flush()
        DenseIndex.build(out, self.params).save(directory)
        del out

    @staticmethod
    def _folder(directory: Path) -> Path:
        directory = Path(directory)
        if not (directory / "vectors.npy").is_file() and (directory.parent / "vectors.npy").is_file():
            return directory.parent  # format 1: the vectors sat at the top of the generation folder
        return directory

    def verify(self, directory: Path, chunk_ids: np.ndarray) -> list[str]:
        folder = self._folder(directory)
        problems = vector_problems(folder / "vectors.npy", len(chunk_ids), self.dim)
        if problems:
            return problems
        try:
            DenseIndex.load(folder, self.params, self.dim)
        except (OSError, ValueError, RuntimeError) as exc:
            return [f"cannot be read ({exc})"]
        return []

    def load(self, directory: Path, chunk_ids: np.ndarray) -> None:
        self.ids = np.asarray(chunk_ids, dtype=np.int64)
        folder = self._folder(directory)
        problems = vector_problems(folder / "vectors.npy", len(self.ids), self.dim, sample=True)
        if problems:  # never serve results from damaged vectors
            raise ValueError(problems[0])
        try:
            self.index = DenseIndex.load(folder, self.params, self.dim)
        except RuntimeError as exc:  # faiss' reader on damaged bytes
            raise ValueError(f"index.faiss cannot be read ({str(exc).splitlines()[0]})") from None

    def encode_queries(self, queries: Sequence[str]) -> Any:
        return self.context.encoder.encode(list(queries), batch_size=64)

    def search(
        self, queries: Sequence[str], k: int, encoded: Any = None, *, live: np.ndarray | None = None, stats=None
    ) -> list[tuple[np.ndarray, np.ndarray]]:
        qvecs = encoded if encoded is not None else self.encode_queries(queries)
        return [(self.ids[p], s) for p, s in self.index.search(qvecs, k, live)]

    def score_texts(
        self, queries: Sequence[str], encoded: Any, texts: Sequence[str], stats: dict | None = None
    ) -> np.ndarray | None:
        """Cosine of each text's vector (the index's document encoder) with its query's."""
        if not len(texts):
            return np.zeros(0, dtype=np.float32)
        docs = np.asarray(self.context.encode_documents(list(texts)), dtype=np.float32)
        return np.einsum("ij,ij->i", np.asarray(encoded, dtype=np.float32), docs).astype(np.float32)

    def footprint(self, directory: Path) -> dict:
        """The float vectors are memory-mapped: searched directly (exact) they are paged in whole, read
        only for rescoring they stay on disk; quantized codes and graphs are what a warm search keeps."""
        directory = self._folder(directory)
        if not directory.is_dir():  # a damaged index (`verify` says so): nothing here to count
            return {"disk": 0, "memory": 0, "mapped": 0}
        sizes = {f.name: f.stat().st_size for f in directory.iterdir() if f.is_file()}
        disk = sum(sizes.values())
        meta_path = directory / "dense.json"
        meta = json.loads(meta_path.read_text()) if meta_path.is_file() else {"built": "flat", "quantization": "none"}
        vectors = sizes.get("vectors.npy", 0)
        structure = sizes.get("index.faiss", 0) + sizes.get("dense.faiss", 0)
        if structure == 0:  # exact search over the float vectors
            return {
                "disk": disk,
                "memory": vectors,
                "mapped": 0,
                "vectors": vectors,
                "kind": meta["built"],
                "quantization": "none",
            }
        searched = structure  # codes (+ graph / lists) are read by every search
        return {
            "disk": disk,
            "memory": searched,
            "mapped": vectors + sizes.get("int8_codes.npy", 0),
            "vectors": searched,
            "kind": meta["built"],
            "quantization": meta.get("quantization", "none"),
        }

    def stats(self) -> dict:
        n = self.index.n if self.index is not None else 0
        out = {"chunks": n, "params": self.params.to_dict()}
        if self.index is not None:
            out.update(built=self.index.kind, quantization=self.index.params.quantization, memory=self.index.memory())
        return out
