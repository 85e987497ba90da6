"""The ``colbert`` retriever: late interaction in an index.

At indexing time each chunk's token vectors (a ColBERT model, :mod:`encoderkit.models.heads.colbert`) are
stored as its payload in float16, so the compressed search structure can be rebuilt (other bits, pool
factor or centroids) without encoding again. At commit the payloads are pooled (optional), compressed
(:mod:`.codec`) and laid out for PLAID-style search (:mod:`.plaid`) in ``gen-N/colbert/``.

Updates are incremental (``add``/``remove`` with the centroids already trained): the model work and the
compression cost is proportional to the changed chunks. The centroids are retrained (a full build
from the stored payloads) when asked (``encoderkit index --recluster``), when a build setting changes,
or automatically once the index has grown ``recluster_growth`` times (default 2) past the number of
chunks they were trained on. ``stats()["drift"]`` measures how well the centroids still fit: the mean
squared residual of the tokens added since training relative to the one measured at training.

Settings (``encoderkit index --retrievers ...,colbert --colbert-model DIR``): ``model`` (a ColBERT folder,
or ``default`` for the zero-training MiniLM baseline), ``nbits`` (0 = float16, 1, 2, 4), ``pool_factor``,
``n_centroids`` (0 = auto), ``kmeans_niter``, ``sample_tokens`` (k-means sample, 0 = auto), ``seed``;
search: ``search`` (auto | plaid | exhaustive), ``nprobe`` (centroids probed per query token),
``ncandidates`` (candidates scored exactly: at least k),
``exhaustive_tokens`` (auto mode searches exhaustively up to this many tokens).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ...errors import EncoderkitError
from ..base import ChunkSet, Retriever
from ..registry import register
from .codec import NBITS, ResidualCodec, auto_centroids
from .plaid import PlaidIndex
from .token_pooling import pool_tokens

SEARCH_MODES = ("auto", "plaid", "exhaustive")
# settings whose change needs the compressed structure rebuilt from the payloads
BUILD_KEYS = ("model", "nbits", "pool_factor", "n_centroids", "kmeans_niter", "sample_tokens", "seed")
PAYLOAD_FORMAT = "f16"


def record_model(spec: str) -> str:
    """What to record for a model given on the command line: "default" or a hub id as is, a local
    folder as its absolute path (so the index works from any directory)."""
    p = Path(spec).expanduser()
    return str(p.resolve()) if p.exists() else spec


@register
class ColBERTRetriever(Retriever):
    """Multi-vector retrieval: token vectors compressed with residuals, searched PLAID-style."""

    name = "colbert"
    encodes = True
    incremental = True
    late_interaction = True
    weighted_fusion_weight = 6.0  # chosen on dev queries (retrieval.fusion)
    calibration_weight = 1.0  # chosen on SciFact train queries (docs/fusion.md)
    checked_at_open = ("codec/",)  # a few flipped bytes in the centroids move every token's code

    # settings queries (and merges) read: changing them rebuilds no segment
    search_time_settings = ("search", "nprobe", "ncandidates", "exhaustive_tokens", "recluster_growth")

    def __init__(self, settings: dict, context):
        super().__init__(settings, context)
        self.index: PlaidIndex | None = None
        self.ids = np.zeros(0, np.int64)
        self.meta: dict = {}
        self._info: dict | None = None
        self._model = None

    # ------------------------------------------------------------------ settings
    @classmethod
    def default_settings(cls) -> dict:
        return {
            "model": "default",
            "nbits": 2,
            "pool_factor": 1,
            "n_centroids": 0,
            "kmeans_niter": 10,
            "sample_tokens": 0,
            "seed": 0,
            "search": "auto",
            "nprobe": 16,
            "ncandidates": 256,
            "exhaustive_tokens": 100_000,
            "recluster_growth": 2.0,
        }

    @classmethod
    def check_settings(cls, settings: dict) -> dict:
        s = super().check_settings(settings)
        problems = []
        if s["nbits"] not in NBITS:
            problems.append(f"nbits {s['nbits']} (use one of {', '.join(map(str, NBITS))})")
        if not isinstance(s["pool_factor"], int) or s["pool_factor"] < 1:
            problems.append(f"pool_factor {s['pool_factor']} (use 1, 2, 3, ...)")
        if s["search"] not in SEARCH_MODES:
            problems.append(f"search '{s['search']}' (use one of {', '.join(SEARCH_MODES)})")
        for key in ("n_centroids", "sample_tokens", "ncandidates", "exhaustive_tokens"):
            if not isinstance(s[key], int) or s[key] < 0:
                problems.append(f"{key} {s[key]} (use an integer >= 0)")
        if not isinstance(s["nprobe"], int) or s["nprobe"] < 1:
            problems.append(f"nprobe {s['nprobe']} (use an integer >= 1)")
        if not isinstance(s["model"], str) or not s["model"]:
            problems.append("model (give a ColBERT folder or 'default')")
        if problems:
            raise EncoderkitError(f"bad colbert setting(s): {'; '.join(problems)}")
        return s

    def can_update(self, old_settings: dict, n_before: int, n_added: int, n_removed: int) -> bool:
        if any(old_settings.get(k) != self.settings.get(k) for k in BUILD_KEYS):
            return False
        growth = float(self.settings.get("recluster_growth") or 0)
        trained_on = int(self.meta.get("codec_trained_on_chunks") or 0)
        if self.index is None or self.index.codec is None or trained_on == 0:
            return n_before == 0  # an empty index: the first chunks train the centroids
        return not (growth > 0 and n_before - n_removed + n_added > growth * trained_on)

    # ------------------------------------------------------------------ the model
    @property
    def model_spec(self) -> str:
        return self.settings["model"]

    def model_info(self) -> dict:
        """Fingerprint and settings of the configured model, from its files (nothing loaded)."""
        from ...models.heads.colbert import describe_colbert

        if self._info is None:
            try:
                self._info = describe_colbert(self.model_spec)
            except EncoderkitError as exc:
                raise EncoderkitError(
                    f"the ColBERT model of index '{self.context.path}' is unavailable: {exc.message}",
                    hint="restore that folder, or set another with --colbert-model DIR",
                ) from None
        return self._info

    @property
    def model(self):
        """The ColBERT model, on ONNX Runtime when an export exists (``auto``), loaded once per index."""
        if self._model is not None:
            return self._model
        from ...models.heads.colbert import ColBERT
        from ...runtime.onnx import export_folder

        info = self.model_info()  # a clear error if the model folder is gone
        backend = getattr(self.context, "backend", "auto")
        if backend == "auto":
            from ...models.heads.colbert import backbone_fingerprint

            folder = export_folder(backbone_fingerprint(Path(info["path"])), "colbert")
            backend = "onnx" if (folder / "model.onnx").is_file() else "torch"
        elif backend == "onnx-int8":
            backend = "onnx"  # no int8 ColBERT export: fp32 ONNX Runtime
        key = ("colbert", info["fingerprint"], backend)
        self._model = self.context.model(key, lambda: ColBERT.load(self.model_spec, backend=backend))
        return self._model

    def export_query_model(self) -> str:
        """fp32 ONNX export of the model (cached; refused unless it reproduces torch) for fast queries."""
        from ...models.export import export_onnx

        export_onnx(self.model_spec, kind="colbert")
        return "onnx"

    # ------------------------------------------------------------------ indexing time
    def payload_key(self) -> str:
        info = self.model_info()
        return f"colbert-v1|{info['fingerprint']}|{info['doc_length']}|{PAYLOAD_FORMAT}"

    def encode_chunks(self, texts: Sequence[str]) -> list[bytes]:
        vecs = self.model.encode_documents(list(texts), batch_size=32)
        return [np.ascontiguousarray(v, dtype=np.float16).tobytes() for v in vecs]

    def _dim(self) -> int:
        return int(self.model_info()["dim"])

    def _token_vectors(self, chunks: ChunkSet) -> list[np.ndarray]:
        """Each chunk's token vectors from its payload (float16 views, pooled to float32 if asked)."""
        dim = self._dim()
        factor = int(self.settings["pool_factor"])
        out = []
        for p in chunks.payloads or []:
            v = np.frombuffer(p, dtype=np.float16).reshape(-1, dim)
            out.append(pool_tokens(v.astype(np.float32), factor) if factor > 1 else v)
        return out

    def train_codec(self, docs: list[np.ndarray]) -> ResidualCodec:
        """Centroids and buckets from a seeded sample of the token vectors of ``docs``."""
        total = sum(len(d) for d in docs)
        k = int(self.settings["n_centroids"]) or auto_centroids(total)
        want = int(self.settings["sample_tokens"]) or max(k * 64, 20_000)
        rng = np.random.default_rng(int(self.settings["seed"]))
        if total > want:  # a seeded uniform sample of token positions, gathered document by document
            lens = np.array([len(d) for d in docs], np.int64)
            starts = np.concatenate([[0], np.cumsum(lens)])
            chosen = np.sort(rng.choice(total, want, replace=False))
            owner = np.searchsorted(starts[1:], chosen, side="right")
            cut = np.flatnonzero(np.diff(owner)) + 1
            parts = [
                np.asarray(docs[int(o[0])][c - starts[int(o[0])]], np.float32)
                for o, c in zip(np.split(owner, cut), np.split(chosen, cut))
            ]
            sample = np.concatenate(parts)
        else:
            sample = np.concatenate([np.asarray(d, np.float32) for d in docs if len(d)])
        return ResidualCodec.train(
            sample,
            n_centroids=k,
            nbits=int(self.settings["nbits"]),
            niter=int(self.settings["kmeans_niter"]),
            seed=int(self.settings["seed"]),
        )

    def keep_from(self, parts) -> None:
        """A repair keeps the centroids of the largest verified segment (retraining them would change the
        codes of every token, so the answers of a healthy index)."""
        import json

        largest = max(parts, key=lambda p: len(p.chunk_ids), default=None)
        self._kept = None
        if largest is None:
            return
        try:
            base, meta = PlaidIndex.load(Path(largest.directory))
        except (OSError, ValueError, KeyError, json.JSONDecodeError):
            return
        if base.codec is not None:
            keys = ("codec_trained_on_chunks", "codec_trained_on_tokens", "added_tokens_since_training", "added_sq_residual_sum")
            self._kept = (base.codec, {k: meta.get(k) for k in keys if meta.get(k) is not None})

    def build(self, chunks: ChunkSet, codec: ResidualCodec | None = None) -> None:
        """Build from the stored payloads; ``codec`` reuses trained centroids (else the ones kept by
        :meth:`keep_from`, else they are trained)."""
        docs = self._token_vectors(chunks)
        self.ids = np.asarray(chunks.ids, dtype=np.int64)
        if not any(len(d) for d in docs):
            self.index, self.meta = None, {"codec_trained_on_chunks": 0}
            return
        kept = getattr(self, "_kept", None)
        if codec is None and kept is not None:
            self.index, _ = PlaidIndex.encode(kept[0], docs)
            self.meta = {"codec_trained_on_chunks": int(len(docs)), "codec_trained_on_tokens": int(self.index.n_tokens),
                         "added_tokens_since_training": 0, "added_sq_residual_sum": 0.0, **kept[1]}  # fmt: skip
            return
        codec = codec or self.train_codec(docs)
        self.index, sq = PlaidIndex.encode(codec, docs)
        self.meta = {
            "codec_trained_on_chunks": int(len(docs)),
            "codec_trained_on_tokens": int(self.index.n_tokens),
            "added_tokens_since_training": 0,
            "added_sq_residual_sum": 0.0,
        }

    def merge(self, parts, directory: Path, chunks) -> None:
        """A merged segment keeps the centroids of its largest part (no k-means: the other parts' stored
        vectors are compressed with them, their residuals counted as drift), unless it grew past
        ``recluster_growth`` times the chunks they were trained on; ``--recluster`` retrains them all."""
        import json

        largest = max(parts, key=lambda p: len(p.chunk_ids), default=None)
        try:
            base, meta = PlaidIndex.load(Path(largest.directory)) if largest is not None else (None, {})
        except (OSError, ValueError, KeyError, json.JSONDecodeError):
            base, meta = None, {}
        if base is None or base.codec is None:
            super().merge(parts, directory, chunks)
            return
        live = chunks()
        growth = float(self.settings.get("recluster_growth") or 0)
        if growth > 0 and len(live.ids) > growth * int(meta.get("codec_trained_on_chunks") or 0):
            self.build(live)  # grown well past what the centroids were trained on: retrain them
            self.save(directory)
            return
        docs = self._token_vectors(live)
        self.ids = np.asarray(live.ids, dtype=np.int64)
        if not any(len(d) for d in docs):
            self.index, self.meta = None, {"codec_trained_on_chunks": 0}
            self.save(directory)
            return
        self.index, sq_all = PlaidIndex.encode(base.codec, docs)
        from_base = np.isin(self.ids, np.asarray(largest.chunk_ids, dtype=np.int64))
        others = [d for d, b in zip(docs, from_base) if not b]
        _, sq_others = PlaidIndex.encode(base.codec, others) if others and any(len(d) for d in others) else (None, 0.0)
        self.meta = {
            "codec_trained_on_chunks": int(meta.get("codec_trained_on_chunks") or 0),
            "codec_trained_on_tokens": int(meta.get("codec_trained_on_tokens") or 0),
            "added_tokens_since_training": int(meta.get("added_tokens_since_training") or 0) + sum(len(d) for d in others),
            "added_sq_residual_sum": float(meta.get("added_sq_residual_sum") or 0.0) + float(sq_others),
        }
        self.save(directory)

    def add(self, chunks: ChunkSet) -> None:
        if self.index is None:  # nothing indexed yet: these chunks train the centroids
            if len(self.ids):
                raise RuntimeError("cannot add to a ColBERT index of chunks without vectors; rebuild it")
            self.build(chunks)
            return
        new_ids = np.asarray(chunks.ids, dtype=np.int64)
        if len(self.ids) and len(new_ids) and new_ids.min() <= self.ids.max():
            raise RuntimeError("ColBERT chunks must be added in increasing id order")
        docs = self._token_vectors(chunks)
        self.index, sq = self.index.append(docs)
        self.ids = np.concatenate([self.ids, new_ids])
        self.meta["added_tokens_since_training"] = int(self.meta.get("added_tokens_since_training", 0)) + sum(
            len(d) for d in docs
        )
        self.meta["added_sq_residual_sum"] = float(self.meta.get("added_sq_residual_sum", 0.0)) + sq

    def remove(self, chunk_ids: np.ndarray) -> None:
        keep = ~np.isin(self.ids, np.asarray(chunk_ids, dtype=np.int64))
        self.ids = self.ids[keep]
        if self.index is not None:
            self.index = self.index.select(keep)

    def save(self, directory: Path) -> None:
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        np.save(directory / "ids.npy", self.ids, allow_pickle=False)
        extra = {"settings": {k: self.settings[k] for k in BUILD_KEYS}, "model": self.model_info(), **self.meta}
        if self.index is not None:
            self.index.save(directory, extra)
        else:
            import json

            (directory / "empty.json").write_text(json.dumps({"format_version": 1, "chunks": int(len(self.ids)), **extra}))

    # ------------------------------------------------------------------ query time
    def load(self, directory: Path, chunk_ids: np.ndarray) -> None:
        import json

        directory = Path(directory)
        self.ids = np.asarray(chunk_ids, dtype=np.int64)
        stored = np.load(directory / "ids.npy", allow_pickle=False)
        if not np.array_equal(stored, self.ids):
            raise ValueError(f"colbert holds {len(stored)} chunks, the generation {len(self.ids)}")
        if (directory / "empty.json").is_file():
            self.index, self.meta = None, json.loads((directory / "empty.json").read_text())
            return
        self.index, meta = PlaidIndex.load(directory)
        self.meta = {k: v for k, v in meta.items() if k not in ("settings", "model", "format_version", "documents", "tokens")}
        if self.index.n_docs != len(self.ids):
            raise ValueError(f"colbert has {self.index.n_docs} documents for {len(self.ids)} chunks")
        if self._search_exhaustive():
            self.index.cache_decompressed()

    def _search_exhaustive(self) -> bool:
        mode = self.settings["search"]
        return mode == "exhaustive" or (
            mode == "auto" and self.index is not None and self.index.n_tokens <= int(self.settings["exhaustive_tokens"])
        )

    def encode_queries(self, queries: Sequence[str]) -> Any:
        return self.model.encode_queries(list(queries))

    def search(self, queries: Sequence[str], k: int, encoded: Any = None) -> list[tuple[np.ndarray, np.ndarray]]:
        q, mask = encoded if encoded is not None else self.encode_queries(queries)
        out = []
        exhaustive = self._search_exhaustive()
        for i in range(len(queries)):
            if self.index is None:
                out.append((np.zeros(0, np.int64), np.zeros(0, np.float32)))
                continue
            pos, sc = self.index.search(
                q[i][mask[i]],
                k,
                nprobe=int(self.settings["nprobe"]),
                ncandidates=int(self.settings["ncandidates"]),
                exhaustive=exhaustive,
            )
            out.append((self.ids[pos], sc.astype(np.float32)))
        return out

    def rerank_scores(self, query: str, chunk_ids: Sequence[int], reranker) -> np.ndarray | None:
        """MaxSim of ``query`` against stored (decompressed) vectors of ``chunk_ids``, when ``reranker`` is
        the model this index was built with; None otherwise (the caller encodes the texts instead)."""
        if getattr(reranker, "kind", None) != "colbert" or self.index is None:
            return None
        if getattr(reranker, "fingerprint", None) != self.model_info()["fingerprint"]:
            return None
        ids = np.asarray(chunk_ids, dtype=np.int64)
        pos = np.searchsorted(self.ids, ids)
        if len(ids) and (pos.max() >= len(self.ids) or not np.array_equal(self.ids[pos], ids)):
            return None
        q, mask = reranker.encode_queries([query])
        return self.index.exact(q[0][mask[0]], pos)

    def score_texts(
        self, queries: Sequence[str], encoded: Any, texts: Sequence[str], stats: dict | None = None
    ) -> np.ndarray | None:
        """MaxSim of each text (encoded now, uncompressed, in one batch) with its query's vectors."""
        q, mask = encoded if encoded is not None else self.encode_queries(queries)
        docs = self.model.encode_documents(list(texts))
        return np.array(
            [(q[i][mask[i]] @ d.T).max(axis=1).sum() if len(d) else 0.0 for i, d in enumerate(docs)], dtype=np.float32
        )

    @classmethod
    def combine_stats(cls, per_segment) -> dict:
        """Sizes summed over segments, bytes per token and drift recomputed from the sums."""
        full = [s for s in per_segment if s.get("tokens")]
        if not full:
            return {"chunks": sum(int(s.get("chunks", 0)) for s in per_segment), "tokens": 0}
        tokens = sum(s["tokens"] for s in full)
        vec, other = sum(s["vector_bytes"] for s in full), sum(s["other_bytes"] for s in full)
        added = sum(int(s["drift"].get("tokens_added_since_training") or 0) for s in full)
        added_sq = sum(float(s["drift"].get("added_sq_residual_sum") or 0.0) for s in full)
        trained = sum(s["tokens"] - int(s["drift"].get("tokens_added_since_training") or 0) for s in full)
        trained_mse = (
            sum(
                float(s["drift"]["mean_sq_residual_at_training"]) * (s["tokens"] - int(s["drift"]["tokens_added_since_training"]))
                for s in full
            )
            / trained
            if trained
            else 0.0
        )
        return {
            **cls._figures(
                chunks=sum(int(s["chunks"]) for s in per_segment),
                tokens=tokens,
                vector_bytes=vec,
                other_bytes=other,
                trained_mse=trained_mse,
                added=added,
                added_sq=added_sq,
            ),
            "nbits": full[0]["nbits"],
            "pool_factor": full[0]["pool_factor"],
            "centroids": sum(int(s["centroids"]) for s in full),
            "segments": len(full),
        }

    @staticmethod
    def _figures(
        *, chunks: int, tokens: int, vector_bytes: int, other_bytes: int, trained_mse: float, added: int, added_sq: float
    ) -> dict:
        added_mse = added_sq / added if added else None
        drift = (added_mse / trained_mse - 1.0) if added_mse is not None and trained_mse > 0 else 0.0
        share = added / max(1, tokens)
        return {
            "chunks": chunks,
            "tokens": tokens,
            "vector_bytes": vector_bytes,
            "other_bytes": other_bytes,
            "bytes_per_token": round(vector_bytes / max(1, tokens), 2),
            "total_bytes_per_token": round((vector_bytes + other_bytes) / max(1, tokens), 2),
            "drift": {
                "mean_sq_residual_at_training": round(trained_mse, 5),
                "mean_sq_residual_of_added": None if added_mse is None else round(added_mse, 5),
                "tokens_added_since_training": added,
                "added_sq_residual_sum": round(added_sq, 5),
                "share_added_since_training": round(share, 4),
                "drift": round(drift, 4),
                "recluster_recommended": bool(drift > 0.2 and share > 0.05),
            },
        }

    def stats(self) -> dict:
        if self.index is None:
            return {"chunks": int(len(self.ids)), "tokens": 0}
        b = self.index.nbytes()
        return {
            **self._figures(
                chunks=int(len(self.ids)),
                tokens=int(self.index.n_tokens),
                vector_bytes=int(b["vectors"]),
                other_bytes=int(b["ivf_and_centroids"]),
                trained_mse=float(self.index.codec.stats.get("mean_sq_residual") or 0.0),
                added=int(self.meta.get("added_tokens_since_training") or 0),
                added_sq=float(self.meta.get("added_sq_residual_sum") or 0.0),
            ),
            "nbits": int(self.index.codec.nbits),
            "pool_factor": int(self.settings["pool_factor"]),
            "centroids": int(self.index.codec.n_centroids),
        }
