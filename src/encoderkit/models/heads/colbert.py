"""Late interaction (ColBERT): one L2-normalised vector per token, queries scored against documents
with MaxSim (for each query token its best-matching document token, summed over query tokens).

The head on the shared :class:`~encoderkit.models.backbone.Backbone` follows ColBERT (Khattab &
Zaharia, SIGIR 2020) and ColBERTv2 (Santhanam et al., NAACL 2022):

- token states -> linear projection without bias (128 dims by default) -> L2 normalisation;
- a query is ``[CLS] [Q] tokens... [SEP]`` padded with ``[MASK]`` up to a fixed length (32 by default):
  *query augmentation*, the masks become soft expansion terms that take part in MaxSim (they are not
  attended to by default, as in ColBERTv2);
- a document is ``[CLS] [D] tokens... [SEP]``; padding and punctuation tokens (the *skiplist*) give no
  vectors. ``[Q]`` / ``[D]`` are BERT's ``[unused0]`` / ``[unused1]`` rows, inserted after ``[CLS]``.

A query longer than ``query_length`` tokens, or a document longer than ``doc_length``, is truncated
(ColBERT's behaviour): :meth:`ColBERT.truncated_queries` says which were. An empty or all-punctuation
document still yields its ``[CLS]``/``[D]``/``[SEP]`` vectors, so it is indexed and simply scores low.

A folder saved by ``encoderkit train colbert`` holds the transformer (``config.json``,
``model.safetensors``, tokenizer files), ``colbert_projection.safetensors``, ``colbert_config.json``
(format version + the settings above) and ``encoderkit_model.json``. Any other encoder folder (e.g.
``"default"``) loads as the **zero-training baseline**: MaxSim over the backbone's own token vectors,
no projection, no markers, no augmentation. pylate does not install on this stack (STACK-NOTES), so
tokenisation, the head and the on-disk format are written here.

>>> m = ColBERT.load("runs/colbert")                                     # doctest: +SKIP
>>> q, mask = m.encode_queries(["vitamin D lowers fracture risk"])      # doctest: +SKIP
>>> q.shape, mask.sum()                                                 # doctest: +SKIP
((1, 32, 128), 32)
>>> m.score("vitamin D lowers fracture risk", ["passage one", "passage two"])  # doctest: +SKIP
array([11.2, 7.9], dtype=float32)
"""

from __future__ import annotations

import json
import shutil
import string
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Sequence

import numpy as np

from ...errors import EncoderkitError
from ...runtime.onnx import export_folder
from ..backbone import HEADS, RUNTIMES, Backbone, describe_model
from ..fingerprint import fingerprint
from ..layout import read_json, transformer_dir
from ..ref import ModelRef, resolve_model

CONFIG = "colbert_config.json"
PROJECTION = "colbert_projection.safetensors"
FORMAT_VERSION = 1
HEAD = HEADS["colbert"]  # the transformer's token states; projection and normalisation run in numpy
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "vocab.txt", "special_tokens_map.json")


@dataclass(frozen=True)
class ColBERTConfig:
    """The settings of a ColBERT head (saved as ``colbert_config.json``)."""

    dim: int = 128
    query_length: int = 32
    doc_length: int = 300
    query_marker: str | None = "[unused0]"
    doc_marker: str | None = "[unused1]"
    query_augmentation: bool = True  # pad queries with [MASK] up to query_length
    attend_to_mask_tokens: bool = False
    skiplist: tuple[str, ...] = field(default=tuple(string.punctuation))
    projection: bool = True  # False: the backbone's own token vectors (the zero-training baseline)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["skiplist"] = list(self.skiplist)
        return {"format_version": FORMAT_VERSION, **d}

    @classmethod
    def from_dict(cls, d: dict) -> ColBERTConfig:
        version = d.get("format_version", FORMAT_VERSION)
        if version > FORMAT_VERSION:
            raise EncoderkitError(
                f"ColBERT config format {version} is newer than this encoderkit ({FORMAT_VERSION})",
                hint="upgrade encoderkit",
            )
        kw = {k: d[k] for k in cls.__dataclass_fields__ if k in d}
        if "skiplist" in kw:
            kw["skiplist"] = tuple(kw["skiplist"])
        return cls(**kw)

    def check(self) -> None:
        if self.dim < 1 or self.query_length < 4 or self.doc_length < 4:
            raise EncoderkitError(f"bad ColBERT settings {self}", hint="dim >= 1, query_length and doc_length >= 4")


def is_colbert_folder(path: str | Path) -> bool:
    """True for a folder saved by ``encoderkit train colbert`` (it has ``colbert_config.json``)."""
    return (Path(path) / CONFIG).is_file()


def backbone_fingerprint(path: Path) -> str:
    """The weights' fingerprint of a model folder (names its ONNX export)."""
    return fingerprint(path)


def colbert_fingerprint(ref: ModelRef, config: ColBERTConfig) -> str:
    """Identifies the token vectors a ColBERT model produces: backbone weights, projection, head settings.
    Computed from the files alone (no model is loaded)."""
    proj = [ref.path / PROJECTION] if config.projection else []
    return fingerprint(ref.path, then=proj, settings=config.to_dict())


def read_config(ref: ModelRef, hidden_size: int | None = None) -> ColBERTConfig:
    """A ColBERT folder's config, or the zero-training baseline's for any other encoder folder."""
    if is_colbert_folder(ref.path):
        cfg = ColBERTConfig.from_dict(read_json(ref.path / CONFIG))
    else:
        if hidden_size is None:
            hidden_size = int(read_json(transformer_dir(ref.path) / "config.json").get("hidden_size", 0))
        cfg = ColBERTConfig(dim=hidden_size, query_marker=None, doc_marker=None, query_augmentation=False, projection=False)
    cfg.check()
    return cfg


def describe_colbert(spec: str | Path) -> dict:
    """Name, fingerprint and settings of a ColBERT model from its files (no model loaded)."""
    ref = resolve_model(spec)
    cfg = read_config(ref)
    return describe_model(ref, colbert_fingerprint(ref, cfg), kind="colbert", baseline=not cfg.projection, **cfg.to_dict())


class _Tokens:
    """Special token ids of a tokenizer, found by probing its post-processor (works for BERT- and
    RoBERTa-style templates)."""

    def __init__(self, tok, pad_id: int, config: ColBERTConfig):
        probe = tok.encode("a", add_special_tokens=True).ids
        plain = tok.encode("a", add_special_tokens=False).ids
        i = probe.index(plain[0]) if plain and plain[0] in probe else 0
        self.prefix = probe[:i]
        self.suffix = probe[i + len(plain) :]
        self.pad = pad_id
        self.mask = next((tok.token_to_id(t) for t in ("[MASK]", "<mask>") if tok.token_to_id(t) is not None), None)
        self.q_marker = self._marker(tok, config.query_marker)
        self.d_marker = self._marker(tok, config.doc_marker)
        if config.query_augmentation and self.mask is None:
            raise EncoderkitError("query augmentation needs a [MASK] token, and this tokenizer has none")
        skip = set()
        for s in config.skiplist:
            skip.update(tok.encode(s, add_special_tokens=False).ids[:1])
        self.skip = np.array(sorted(skip), dtype=np.int64)

    @staticmethod
    def _marker(tok, marker: str | None) -> int | None:
        if marker is None:
            return None
        found = tok.token_to_id(marker)
        if found is None:
            raise EncoderkitError(f"marker token {marker!r} is not in the tokenizer's vocabulary")
        return found


class ColBERT:
    """A loaded late-interaction model. Build with :meth:`load`; :meth:`encode_queries`,
    :meth:`encode_documents`, :meth:`score` (reranking)."""

    kind = "colbert"

    def __init__(self, backbone: Backbone, ref: ModelRef, config: ColBERTConfig, projection: np.ndarray | None):
        self.backbone = backbone
        self.ref = ref
        self.config = config
        self.projection = projection  # [dim, hidden] or None
        self._tokens = _Tokens(backbone.raw_tokenizer(), backbone.pad_id, config)
        self._tok = backbone.raw_tokenizer()

    # ------------------------------------------------------------------ loading
    @classmethod
    def load(
        cls, spec: str | Path = "default", *, backend: str = "torch", onnx_folder: Path | None = None, device: str | None = None
    ) -> ColBERT:
        """Load a ColBERT folder, or any encoder folder / "default" as the zero-training baseline.
        ``backend``: torch | onnx (ONNX Runtime; needs ``encoderkit export onnx --kind colbert`` first)."""
        if backend not in RUNTIMES or backend == "onnx-int8":
            raise EncoderkitError(f"unknown ColBERT backend '{backend}'", hint="use torch or onnx")
        ref = resolve_model(spec)
        config = read_config(ref)
        projection = None
        if config.projection:
            from safetensors.numpy import load_file

            if not (ref.path / PROJECTION).is_file():
                raise EncoderkitError(f"{ref.path} has no {PROJECTION}", hint="the ColBERT folder is incomplete; train it again")
            projection = load_file(str(ref.path / PROJECTION))["weight"].astype(np.float32)
        if backend == "onnx":
            onnx_folder = onnx_folder or export_folder(backbone_fingerprint(ref.path), "colbert")
            if not (Path(onnx_folder) / "model.onnx").is_file():
                raise EncoderkitError(
                    f"no ONNX export of {ref.name} for ColBERT yet",
                    hint=f"run `encoderkit export onnx --model {ref.spec} --kind colbert`, or use the torch backend",
                )
        backbone = Backbone.load(ref, head=HEAD, runtime=backend, onnx_folder=onnx_folder, device=device)
        if projection is not None and projection.shape != (config.dim, backbone.hidden_size):
            raise EncoderkitError(
                f"{PROJECTION} is {projection.shape}, expected ({config.dim}, {backbone.hidden_size})",
                hint="the ColBERT folder is inconsistent; train it again",
            )
        if projection is None and config.dim != backbone.hidden_size:
            config = replace(config, dim=backbone.hidden_size)
        return cls(backbone, ref, config, projection)

    # ------------------------------------------------------------------ facts
    @property
    def name(self) -> str:
        return self.ref.name

    @property
    def dim(self) -> int:
        return self.config.dim

    @property
    def backend(self) -> str:
        return self.backbone.runtime

    @property
    def query_length(self) -> int:
        return self.config.query_length

    @property
    def doc_length(self) -> int:
        return self.config.doc_length

    @property
    def fingerprint(self) -> str:
        """Equal fingerprints, equal token vectors (backbone weights + projection + head settings)."""
        return colbert_fingerprint(self.ref, self.config)

    @property
    def baseline(self) -> bool:
        """True for the zero-training baseline (the backbone's own token vectors)."""
        return not self.config.projection

    def describe(self) -> dict:
        return describe_model(
            self.ref, self.fingerprint, kind=self.kind, backend=self.backend, baseline=self.baseline, **self.config.to_dict()
        )

    # ------------------------------------------------------------------ tokenizing
    def _rows(self, texts: Sequence[str], limit: int, marker: int | None) -> tuple[list[list[int]], list[bool]]:
        t = self._tokens
        room = limit - len(t.prefix) - len(t.suffix) - (marker is not None)
        encs = self._tok.encode_batch([str(x) for x in texts], add_special_tokens=False)
        head = t.prefix + ([marker] if marker is not None else [])
        return [head + e.ids[:room] + t.suffix for e in encs], [len(e.ids) > room for e in encs]

    def query_features(self, queries: Sequence[str]) -> dict[str, np.ndarray]:
        """Model inputs for queries, [n, query_length] (with augmentation) plus ``"scoring_mask"``: the
        positions whose vectors take part in MaxSim (every position with augmentation)."""
        rows, _ = self._rows(queries, self.config.query_length, self._tokens.q_marker)
        t, cfg = self._tokens, self.config
        width = cfg.query_length if cfg.query_augmentation else max((len(r) for r in rows), default=0)
        ids = np.full((len(rows), width), t.mask if cfg.query_augmentation else t.pad, dtype=np.int64)
        real = np.zeros((len(rows), width), dtype=np.int64)
        for i, r in enumerate(rows):
            ids[i, : len(r)] = r
            real[i, : len(r)] = 1
        attention = np.ones_like(real) if cfg.query_augmentation and cfg.attend_to_mask_tokens else real
        scoring = np.ones_like(real) if cfg.query_augmentation else real
        return {
            "input_ids": ids,
            "attention_mask": attention,
            "token_type_ids": np.zeros_like(ids),
            "scoring_mask": scoring.astype(bool),
        }

    def document_features(self, docs: Sequence[str], max_length: int | None = None) -> dict[str, np.ndarray]:
        """Model inputs for documents padded to the longest, plus ``"scoring_mask"``: real tokens that are
        not in the skiplist."""
        rows, _ = self._rows(docs, max_length or self.config.doc_length, self._tokens.d_marker)
        width = max((len(r) for r in rows), default=0)
        ids = np.full((len(rows), width), self._tokens.pad, dtype=np.int64)
        mask = np.zeros((len(rows), width), dtype=np.int64)
        for i, r in enumerate(rows):
            ids[i, : len(r)] = r
            mask[i, : len(r)] = 1
        keep = mask.astype(bool) & ~np.isin(ids, self._tokens.skip)
        return {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids), "scoring_mask": keep}

    def truncated_queries(self, queries: Sequence[str]) -> list[bool]:
        """Which queries are longer than ``query_length`` tokens (their tail is not seen)."""
        return self._rows(queries, self.config.query_length, self._tokens.q_marker)[1]

    # ------------------------------------------------------------------ encoding
    def _vectors(self, feats: dict[str, np.ndarray]) -> np.ndarray:
        hidden = self.backbone.forward({k: v for k, v in feats.items() if k != "scoring_mask"})
        out = hidden @ self.projection.T if self.projection is not None else hidden
        return (out / np.clip(np.linalg.norm(out, axis=-1, keepdims=True), 1e-12, None)).astype(np.float32)

    def encode_queries(self, queries: Sequence[str], *, batch_size: int = 64) -> tuple[np.ndarray, np.ndarray]:
        """(vectors [n, L, dim] float32, mask [n, L] bool of the positions that take part in MaxSim)."""
        queries = list(queries)
        for i, q in enumerate(queries):
            if not isinstance(q, str):
                raise EncoderkitError(f"query {i} is {type(q).__name__}, not str", hint="pass a list of strings")
        if not queries:
            return np.zeros((0, self.config.query_length, self.dim), np.float32), np.zeros((0, self.config.query_length), bool)
        parts, masks = [], []
        for i in range(0, len(queries), batch_size):
            feats = self.query_features(queries[i : i + batch_size])
            parts.append(self._vectors(feats))
            masks.append(feats["scoring_mask"])
        width = max(p.shape[1] for p in parts)
        q = np.zeros((len(queries), width, self.dim), np.float32)
        m = np.zeros((len(queries), width), bool)
        row = 0
        for p, k in zip(parts, masks):
            q[row : row + len(p), : p.shape[1]] = p
            m[row : row + len(p), : p.shape[1]] = k
            row += len(p)
        return q, m

    def encode_documents(
        self, docs: Sequence[str], *, batch_size: int = 32, max_length: int | None = None, show_progress: bool | None = False
    ) -> list[np.ndarray]:
        """One float32 array [tokens_i, dim] per document (skiplist and padding removed). Documents are
        length-sorted into batches and returned in input order."""
        from ...runtime import progress_enabled

        docs = list(docs)
        for i, d in enumerate(docs):
            if not isinstance(d, str):
                raise EncoderkitError(f"document {i} is {type(d).__name__}, not str", hint="pass a list of strings")
        out: list[np.ndarray] = [np.zeros((0, self.dim), np.float32)] * len(docs)
        order = np.argsort([-len(d) for d in docs], kind="stable")
        bar = None
        if progress_enabled(show_progress) and docs:
            from tqdm.auto import tqdm

            bar = tqdm(total=len(docs), desc="encoding token vectors", unit="text")
        for s in range(0, len(order), batch_size):
            idx = order[s : s + batch_size]
            feats = self.document_features([docs[i] for i in idx], max_length)
            vecs = self._vectors(feats)
            for row, i in enumerate(idx):
                out[i] = vecs[row][feats["scoring_mask"][row]]
            if bar is not None:
                bar.update(len(idx))
        if bar is not None:
            bar.close()
        return out

    def score(self, query: str, passages: Sequence[str], *, batch_size: int = 32) -> np.ndarray:
        """MaxSim of ``query`` against each passage, encoded now (float32; the reranker interface)."""
        q, mask = self.encode_queries([query])
        qv = q[0][mask[0]]
        docs = self.encode_documents(passages, batch_size=batch_size)
        return np.array([(qv @ d.T).max(axis=1).sum() if len(d) else 0.0 for d in docs], dtype=np.float32)

    def __repr__(self) -> str:
        kind = "baseline, no projection" if self.baseline else f"dim={self.dim}"
        return f"ColBERT({self.name!r}, {kind}, query_length={self.query_length}, backend={self.backend!r})"


# ---------------------------------------------------------------------------- saving
def save_colbert(
    folder: str | Path,
    *,
    transformer,
    tokenizer_dir: str | Path,
    projection: np.ndarray,
    config: ColBERTConfig,
    card: dict | None = None,
) -> Path:
    """Write a ColBERT folder: the transformer (``save_pretrained``, safetensors), the tokenizer files of
    ``tokenizer_dir``, the projection [dim, hidden] and the config. Loads with :meth:`ColBERT.load`."""
    from safetensors.numpy import save_file

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    config.check()
    projection = np.ascontiguousarray(projection, dtype=np.float32)
    if projection.shape[0] != config.dim:
        raise ValueError(f"projection has {projection.shape[0]} rows, config.dim is {config.dim}")
    transformer.save_pretrained(str(folder), safe_serialization=True)
    src = transformer_dir(Path(tokenizer_dir))
    for name in TOKENIZER_FILES:
        if (src / name).is_file():
            shutil.copy(src / name, folder / name)
    save_file({"weight": projection}, str(folder / PROJECTION))
    (folder / CONFIG).write_text(json.dumps(config.to_dict(), indent=1) + "\n")
    (folder / "encoderkit_model.json").write_text(json.dumps({"kind": "colbert", **(card or {})}, indent=1) + "\n")
    return folder
