"""Build throughput of the local path vs a Ray cluster with 1, 2, 4, ... encoding workers.

Every run builds a fresh index (bm25 + dense, chunks of 256 tokens with 32 overlap) over the same
SciFact documents: the local path in one process with one torch thread per core, then
``Index.add(..., encode_with=RayEncoding(workers=N))`` on a local Ray instance with N one-thread actors.
Reports chunks/s of the whole build and of the encoding alone, the speed-up over one worker, and checks
that every Ray build stored the same vectors as the local one (max abs difference).

    python benchmarks/ray_scaling.py --data ../shared/data/scifact --docs 1000 --workers 1,2
    python benchmarks/ray_scaling.py --data DIR --docs 4000 --workers 1,2,4,8,16 --model random-minilm --label h100-host

``--model random-minilm`` builds a model of all-MiniLM-L6-v2's shape (6 layers, 384 wide, its tokenizer)
with random weights: the same compute per token, for machines where the bundled weights are not at hand.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import RESULTS, machine, write_result


def load_docs(data: Path, n: int) -> list[dict]:
    docs = []
    with open(data / "corpus.jsonl") as fh:
        for line in fh:
            d = json.loads(line)
            docs.append({"id": str(d["_id"]), "title": d.get("title") or "", "text": d.get("text") or ""})
            if len(docs) >= n:
                break
    return docs


def random_minilm(directory: Path, tokenizer_dir: Path | None) -> Path:
    """A random model of all-MiniLM-L6-v2's shape, saved as a sentence-transformers folder."""
    import torch
    from transformers import BertConfig, BertModel

    if (directory / "modules.json").is_file():
        return directory
    if tokenizer_dir is None:
        from encoderkit.models.ref import bundled_model_path

        tokenizer_dir = bundled_model_path()
    torch.manual_seed(0)
    cfg = BertConfig(
        vocab_size=30522, hidden_size=384, num_hidden_layers=6, num_attention_heads=12, intermediate_size=1536,
        max_position_embeddings=512,
    )  # fmt: skip
    directory.mkdir(parents=True, exist_ok=True)
    BertModel(cfg).save_pretrained(directory)
    for name in ("tokenizer.json", "tokenizer_config.json", "vocab.txt", "special_tokens_map.json"):
        shutil.copy(Path(tokenizer_dir) / name, directory / name)
    (directory / "modules.json").write_text(
        json.dumps(
            [
                {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
                {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
                {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"},
            ]
        )
    )
    (directory / "1_Pooling").mkdir(exist_ok=True)
    (directory / "1_Pooling" / "config.json").write_text(
        json.dumps({"word_embedding_dimension": 384, "pooling_mode_mean_tokens": True})
    )
    (directory / "2_Normalize").mkdir(exist_ok=True)
    (directory / "sentence_bert_config.json").write_text(json.dumps({"max_seq_length": 256}))
    return directory


def vectors(index) -> dict:
    store = index.store
    out = {}
    for cid, _key, blob in store.payloads(index.generation, "dense"):
        out[cid] = np.frombuffer(blob, dtype=np.float32)
    rows = store.chunks_by_id(list(out))
    docs = store.documents_by_rowid(sorted({int(r["doc"]) for r in rows.values()}))
    return {(docs[int(r["doc"])]["doc_id"], int(r["ord"])): out[c] for c, r in rows.items()}


def build(folder: Path, encoder, docs: list[dict], remote=None) -> tuple[dict, object]:
    from encoderkit import Index

    idx = Index.create(folder, encoder=encoder, chunk_size=256, chunk_overlap=32)
    t0 = time.perf_counter()
    report = idx.add(docs, show_progress=False, export_onnx=False, encode_with=remote)
    seconds = time.perf_counter() - t0
    enc = max((report.encode_seconds or {}).values() or [seconds])
    return {
        "chunks": report.chunks_encoded,
        "build_seconds": round(seconds, 2),
        "encode_seconds": round(enc, 2),
        "build_chunks_per_s": round(report.chunks_encoded / seconds, 1),
        "encode_chunks_per_s": round(report.chunks_encoded / enc, 1),
    }, idx


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, required=True, help="BEIR folder with corpus.jsonl (SciFact)")
    ap.add_argument("--docs", type=int, default=1000)
    ap.add_argument("--workers", default="1,2", help="comma-separated Ray worker counts")
    ap.add_argument("--model", default="default", help="'default' (bundled MiniLM), a folder, or random-minilm")
    ap.add_argument("--tokenizer-from", type=Path, default=None, help="random-minilm: folder with MiniLM's tokenizer files")
    ap.add_argument("--label", default="this-machine", help="result file suffix (where it was measured)")
    ap.add_argument("--skip-local", action="store_true")
    args = ap.parse_args()

    from encoderkit import Encoder
    from encoderkit.index.shards.ray_build import RayEncoding
    from encoderkit.runtime import cpu_count
    from encoderkit.runtime.ray_cluster import connect, disconnect

    work = Path(tempfile.mkdtemp(prefix="ray-scaling-"))
    model = str(random_minilm(work / "random-minilm", args.tokenizer_from)) if args.model == "random-minilm" else args.model
    encoder = Encoder.load(model)
    docs = load_docs(args.data, args.docs)
    counts = [int(w) for w in args.workers.split(",") if w.strip()]
    result = {
        "benchmark": "ray_scaling",
        "machine": machine(),
        "label": args.label,
        "model": args.model,
        "documents": len(docs),
        "chunking": {"size": 256, "overlap": 32},
        "retrievers": ["bm25", "dense"],
        "runs": [],
    }
    reference = None
    if not args.skip_local:
        row, idx = build(work / "local", encoder, docs)
        row.update(path="local", workers=None, threads=cpu_count())
        reference = vectors(idx)
        idx.close()
        result["runs"].append(row)
        print(json.dumps(row), flush=True)
    info = connect("local", num_cpus=max(max(counts), cpu_count()))
    result["ray"] = {"cpus": info.cpus, "nodes": info.nodes}
    for w in counts:
        remote = RayEncoding("local", workers=w)
        row, idx = build(work / f"ray-{w}", encoder, docs, remote)
        row.update(path="ray", workers=w, threads_per_worker=1)
        if reference is not None:
            got = vectors(idx)
            row["same_chunks_as_local"] = got.keys() == reference.keys()
            row["max_abs_vector_diff"] = (
                float(max(np.abs(got[k] - reference[k]).max() for k in reference)) if got.keys() == reference.keys() else None
            )
        idx.close()
        shutil.rmtree(work / f"ray-{w}", ignore_errors=True)
        result["runs"].append(row)
        print(json.dumps(row), flush=True)
    disconnect()
    ray_runs = [r for r in result["runs"] if r["path"] == "ray"]
    if ray_runs:
        base = ray_runs[0]["encode_chunks_per_s"] / ray_runs[0]["workers"]
        for r in ray_runs:
            r["speedup_vs_1_worker"] = round(r["encode_chunks_per_s"] / base, 2)
            r["scaling_efficiency"] = round(r["encode_chunks_per_s"] / (base * r["workers"]), 2)
    (RESULTS / "ray-scaling").mkdir(parents=True, exist_ok=True)
    out = write_result(f"ray-scaling/{args.label}", result)
    (RESULTS / "ray-scaling" / f"{args.label}.md").write_text(table(result))
    plot(result, RESULTS / "ray-scaling" / f"{args.label}.png")
    shutil.rmtree(work, ignore_errors=True)
    print(table(result))
    print(f"wrote {out}")


def table(result: dict) -> str:
    m = result["machine"]
    lines = [
        f"Build throughput, {result['documents']} SciFact documents, model {result['model']}, "
        f"{m['cores_available']} cores ({m['cpu']}), {m['date']}",
        "",
        "| path | workers | chunks | build s | build chunks/s | encode chunks/s | speed-up vs 1 worker | vectors vs local |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in result["runs"]:
        who = f"{r['threads']} threads" if r["path"] == "local" else str(r["workers"])
        diff = r.get("max_abs_vector_diff")
        lines.append(
            f"| {r['path']} | {who} | {r['chunks']} | {r['build_seconds']} | {r['build_chunks_per_s']} | "
            f"{r['encode_chunks_per_s']} | {r.get('speedup_vs_1_worker', '')} | "
            f"{'' if diff is None else f'max diff {diff:.1e}'} |"
        )
    return "\n".join(lines) + "\n"


def plot(result: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    runs = [r for r in result["runs"] if r["path"] == "ray"]
    if not runs:
        return
    fig, ax = plt.subplots(figsize=(5, 3.5))
    w = [r["workers"] for r in runs]
    ax.plot(w, [r["encode_chunks_per_s"] for r in runs], "o-", label="Ray encode")
    ax.plot(w, [runs[0]["encode_chunks_per_s"] / runs[0]["workers"] * x for x in w], "--", color="grey", label="linear")
    local = [r for r in result["runs"] if r["path"] == "local"]
    if local:
        ax.axhline(local[0]["encode_chunks_per_s"], color="C1", ls=":", label=f"local ({local[0]['threads']} threads)")
    ax.set_xlabel("Ray workers (1 thread each)")
    ax.set_ylabel("chunks / s")
    ax.set_title(f"{result['label']}: {result['documents']} docs")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)


if __name__ == "__main__":
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    main()
