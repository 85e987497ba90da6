"""Where an index's bytes are: on disk and in the memory of a warm searcher, per component.

Components: the SQLite store (documents, chunk texts, per-retriever payloads; read per hit, not held),
each retriever's files summed over segments (``Retriever.footprint``: resident, memory-mapped, on
disk), the chunk arrays and deletion markers, the document order used for ties, and the query model.
Memory figures are what a search that has warmed up keeps resident; memory-mapped files only count
where searches read them (postings of query terms, vectors read for rescoring), so they are listed
apart. Nothing is loaded to compute them: file sizes and segment metadata only.
"""

from __future__ import annotations

from pathlib import Path

from ...retrieval.base import IndexContext
from ...retrieval.registry import get as get_retriever
from .migrate import pre_segment_folder


def _size(path: Path) -> int:
    return (
        sum(f.stat().st_size for f in path.rglob("*") if f.is_file())
        if path.is_dir()
        else (path.stat().st_size if path.exists() else 0)
    )


TRANSIENT = ("index.db-shm", "write.lock")  # SQLite's shared-memory file and the writer's lock: not data


def index_bytes(index_dir: Path) -> int:
    """Bytes of an index's data on disk: every file but the transient ones (reader leases, SQLite's
    shared-memory file, the writer's lock), so two readings of an unchanged index agree."""
    index_dir = Path(index_dir)
    total = 0
    for f in index_dir.rglob("*"):
        rel = f.relative_to(index_dir)
        if rel.parts[0] == "leases" or rel.name in TRANSIENT or not f.is_file():
            continue
        total += f.stat().st_size
    return total


def footprint(index_dir: Path, manifest: dict, context: IndexContext) -> dict:
    index_dir = Path(index_dir)
    store = sum(_size(index_dir / n) for n in ("index.db", "index.db-wal", "index.db-shm"))
    folders = [s["name"] for s in manifest.get("segments") or []] or [f for f in [pre_segment_folder(manifest)] if f]
    comps: dict[str, dict] = {}
    for e in manifest["retrievers"]:
        r = get_retriever(e["name"])(e.get("settings") or {}, context)
        total = {"disk": 0, "memory": 0, "mapped": 0}
        for name in folders:
            folder = index_dir / name / e["name"]
            if not folder.exists() and e["name"] != "dense":
                continue
            fp = r.footprint(folder)
            for k in ("disk", "memory", "mapped"):
                total[k] += int(fp.get(k, 0))
            for k in ("kind", "quantization"):
                if k in fp:
                    total.setdefault(k + "s", set()).add(fp[k])
        for k in ("kinds", "quantizations"):
            if k in total:
                total[k] = sorted(total[k])
        comps[e["name"]] = total
    chunk_files = 0
    for name in folders:
        if not (index_dir / name).is_dir():  # damaged: `verify` reports it
            continue
        for f in (index_dir / name).iterdir():
            if f.is_file():
                chunk_files += f.stat().st_size
    chunks = int(manifest["counts"]["chunks"])
    docs = int(manifest["counts"]["documents"])
    comps["chunks"] = {"disk": chunk_files, "memory": chunk_files, "mapped": 0}
    comps["store"] = {"disk": store, "memory": 0, "mapped": 0}  # SQLite pages are read per hit (its cache: a few MB)
    comps["document order"] = {"disk": 0, "memory": 16 * docs, "mapped": 0}
    model = manifest.get("model") or {}
    comps["query model"] = {"disk": 0, "memory": _model_bytes(model), "mapped": 0}
    disk_total = index_bytes(index_dir)
    return {
        "chunks": chunks,
        "documents": docs,
        "segments": len(folders),
        "components": comps,
        "disk_total": disk_total,
        "memory_total": sum(c["memory"] for c in comps.values()),
        "mapped_total": sum(c["mapped"] for c in comps.values()),
    }


def _model_bytes(model: dict) -> int:
    """Weight bytes of the query model (its folder's weight files; 0 when not found)."""
    path = Path(str(model.get("path") or ""))
    if not path.is_dir():
        return 0
    return sum(f.stat().st_size for f in path.rglob("*") if f.suffix in (".safetensors", ".bin", ".onnx") and f.is_file())
