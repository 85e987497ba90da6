"""Issue 31: fast by default, side by side with the tools a user would pick instead.

    python benchmarks/fast_default.py [--data ../shared/data/scifact] [--rounds 4] [--skip-builds]

1. **Encoders, same texts, same threads, interleaved.** Every SciFact document (title + abstract, 5,183
   texts) is split into ``--rounds`` blocks; each block is encoded by every contender in turn, so a change in
   the machine's load touches all of them alike. Contenders: sentence-transformers fp32 (``encode``, batch
   32); sentence-transformers' own ONNX backend (``backend="onnx"``) when it loads here; fastembed with the
   model's ONNX export, in its own virtualenv (``--fastembed-python``: it needs huggingface-hub < 2, which
   this stack cannot have; ``python3 -m venv build/fastembed && build/fastembed/bin/pip install fastembed==0.9.1``)
   when given; a Model2Vec static model distilled from the same MiniLM
   (``encoderkit.models.static.distill``, loaded by model2vec itself: the speed ceiling); encoderkit fp32,
   bf16 (where the CPU has native bf16), int8 (per-channel ONNX Runtime) and the default (``auto``: what the
   quality gate picks on a sample of these documents). Each: passages/s, ratio to sentence-transformers fp32,
   mean cosine to its vectors, and SciFact test nDCG@10 by exact search over the whole corpus (queries encoded
   the way each contender's index would: fp32 for encoderkit's precisions, its own model otherwise).
2. **The default build** (``encoderkit index corpus.jsonl``) against ``--encode-precision fp32``, chunked (256
   tokens) and whole-document: wall time, the chunk encoder's throughput, and nDCG@10 with the eval harness
   on the index built; plus sentence-transformers fp32 on the same chunk texts for the ratio.

Writes benchmarks/results/fast-default/{results.json, results.md, speed.png}.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import RESULTS, machine
from _common import corpus_passages as corpus

OUT = RESULTS / "fast-default"
REPO = Path(__file__).resolve().parents[1]


def ndcg(qvecs: np.ndarray, dvecs: np.ndarray, qids: list[str], ids: list[str], qrels: dict) -> float:
    from encoderkit.retrieval.metrics import evaluate

    top = np.argsort(-(qvecs @ dvecs.T), axis=1)[:, :10]
    run = {q: {ids[j]: float(10 - r) for r, j in enumerate(row)} for q, row in zip(qids, top)}
    return float(evaluate(qrels, run, metrics=("ndcg@10",))["mean"]["ndcg@10"])


FASTEMBED_CHILD = r"""
import json, sys, time, numpy as np
from fastembed import TextEmbedding
from fastembed.common.model_description import ModelSource, PoolingType
folder, texts_file, out, threads = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
TextEmbedding.add_custom_model(model="local/minilm-onnx", pooling=PoolingType.MEAN, normalization=True,
    sources=ModelSource(hf="local/minilm-onnx"), dim=384, model_file="model.onnx")
model = TextEmbedding("local/minilm-onnx", specific_model_path=folder, threads=threads)
texts = json.load(open(texts_file))
list(model.embed(texts[:8]))
t = time.perf_counter()
vecs = np.array(list(model.embed(texts, batch_size=32)), dtype=np.float32)
np.save(out, vecs)
print(json.dumps({"seconds": time.perf_counter() - t}))
"""


def unit(x: np.ndarray) -> np.ndarray:
    return x / np.clip(np.linalg.norm(x, axis=1, keepdims=True), 1e-12, None)


class Contender:
    def __init__(self, name: str, encode, query_encode=None, note: str = ""):
        self.name, self.encode, self.query_encode, self.note = name, encode, query_encode, note
        self.seconds, self.blocks = 0.0, []

    def run_block(self, texts: list[str]) -> None:
        t = time.perf_counter()
        vecs, inner = self.encode(texts)
        self.seconds += inner if inner is not None else time.perf_counter() - t
        self.blocks.append(np.asarray(vecs, dtype=np.float32))

    @property
    def vectors(self) -> np.ndarray:
        return np.concatenate(self.blocks)


def contenders(args, model_path: Path, threads: int, report: dict) -> list[Contender]:
    from sentence_transformers import SentenceTransformer

    from encoderkit.models.export import export_onnx
    from encoderkit.models.heads.encoder import Encoder
    from encoderkit.runtime import cpu_has_bf16

    out = []
    st = SentenceTransformer(str(model_path), device="cpu")
    st_fp32 = lambda texts: (st.encode(texts, batch_size=32, normalize_embeddings=True, convert_to_numpy=True), None)
    out.append(Contender("sentence-transformers fp32", st_fp32, st_fp32))
    try:
        st_onnx = SentenceTransformer(str(model_path), device="cpu", backend="onnx")
        enc = lambda texts: (st_onnx.encode(texts, batch_size=32, normalize_embeddings=True), None)
        out.append(Contender("sentence-transformers ONNX backend", enc, enc))
    except Exception as exc:
        why = str(exc).splitlines()[0][:160]
        report["not_run"]["sentence-transformers ONNX backend"] = (
            f"{why} — and optimum, which it needs, pins transformers < 5: it cannot install beside this stack (STACK-NOTES)"
        )
    if args.fastembed_python:
        folder = export_onnx(model_path, kind="encoder")
        tmp = Path(tempfile.mkdtemp(prefix="ek-fastembed-"))
        (tmp / "child.py").write_text(FASTEMBED_CHILD)

        def fastembed(texts):
            (tmp / "texts.json").write_text(json.dumps(texts))
            proc = subprocess.run(
                [
                    args.fastembed_python,
                    str(tmp / "child.py"),
                    str(folder),
                    str(tmp / "texts.json"),
                    str(tmp / "v.npy"),
                    str(threads),
                ],
                capture_output=True,
                text=True,
            )
            if proc.returncode != 0:
                raise RuntimeError(proc.stderr[-800:])
            return np.load(tmp / "v.npy"), json.loads(proc.stdout.strip().splitlines()[-1])["seconds"]

        out.append(Contender("fastembed (ONNX export, own virtualenv)", fastembed, fastembed))
    else:
        report["not_run"]["fastembed"] = "no --fastembed-python given (it needs huggingface-hub < 2: its own virtualenv)"
    try:
        from model2vec import StaticModel

        from encoderkit.models.static.distill import distill_static

        static_dir = Path(args.static_dir)
        if not (static_dir / "model.safetensors").is_file():
            report["static_distill"] = distill_static("default", static_dir, show_progress=False)
        static = StaticModel.from_pretrained(str(static_dir))
        enc = lambda texts: (static.encode(texts), None)
        out.append(Contender("Model2Vec static, distilled from the same MiniLM", enc, enc))
    except ImportError as exc:
        report["not_run"]["Model2Vec static"] = f"model2vec not installed ({exc})"
    fp32 = Encoder.load("default", backend="torch")
    q_fp32 = lambda texts: (fp32.encode(texts, batch_size=64), None)
    for name, backend in (("encoderkit fp32", "torch"), ("encoderkit bf16", "torch-bf16"), ("encoderkit int8", "onnx-int8")):
        if backend == "torch-bf16" and not cpu_has_bf16():
            report["not_run"][name] = "this CPU has no native bf16"
            continue
        if backend == "onnx-int8":
            export_onnx(model_path, kind="encoder", quantize="int8")
        e = Encoder.load("default", backend=backend)
        out.append(Contender(name, lambda texts, e=e: (e.encode(texts, batch_size=32, token_budget=8192), None), q_fp32))
    return out


def default_choice(texts: list[str]) -> dict:
    """What `encoderkit index` picks by default for these documents (its quality gate on a sample)."""
    from encoderkit import Index
    from encoderkit.index.precision_gate import DEFAULT_GATE_QUERIES, choose_precision, ict_dev_set

    idx = Index.create(Path(tempfile.mkdtemp(prefix="ek-gate-")) / "ix", encoder="default")
    t = time.perf_counter()
    dev = ict_dev_set(texts[:1000], max_queries=DEFAULT_GATE_QUERIES)
    chosen, _, measured = choose_precision(idx.manifest["model"], "auto", dev)
    idx.close()
    return {"chosen": chosen, "measured": measured, "seconds": round(time.perf_counter() - t, 1)}


def encoder_table(args, report: dict) -> None:
    from encoderkit.data.corpora.beir import load_beir
    from encoderkit.models.ref import resolve_model
    from encoderkit.runtime import configure_torch, n_threads

    configure_torch()
    threads = n_threads()
    data = load_beir(args.data, "test")
    ids, texts = corpus(args.data)
    if args.limit:
        ids, texts = ids[: args.limit], texts[: args.limit]
    qids = list(data.queries)
    queries = [data.queries[q] for q in qids]
    model_path = resolve_model("default").path
    cs = contenders(args, model_path, threads, report)
    bounds = np.linspace(0, len(texts), args.rounds + 1).astype(int)
    for r in range(args.rounds):
        block = texts[bounds[r] : bounds[r + 1]]
        for c in cs:
            c.run_block(block)
            print(f"round {r + 1}/{args.rounds} {c.name}: {c.seconds:.1f} s so far", flush=True)
    ref = cs[0].vectors
    rows = []
    for c in cs:
        v = c.vectors
        qv = np.asarray(c.query_encode(queries)[0], dtype=np.float32)
        same_space = v.shape[1] == ref.shape[1] and not c.name.startswith("Model2Vec")
        cos = (
            np.sum(v * ref, 1) / np.clip(np.linalg.norm(v, axis=1) * np.linalg.norm(ref, axis=1), 1e-12, None)
            if same_space
            else None
        )
        rows.append(
            {
                "contender": c.name,
                "passages_per_s": round(len(texts) / c.seconds, 1),
                "ratio_to_st_fp32": round(cs[0].seconds / c.seconds, 2),
                "mean_cosine_to_st_fp32": None if cos is None else round(float(cos.mean()), 5),
                "min_cosine_to_st_fp32": None if cos is None else round(float(cos.min()), 5),
                "ndcg@10": round(ndcg(unit(qv), unit(v), qids, ids, data.qrels), 4),
                "seconds": round(c.seconds, 1),
            }
        )  # fmt: skip
    report["encoders"] = {"texts": len(texts), "threads": threads, "rounds": args.rounds, "rows": rows}
    report["default_choice_on_these_documents"] = default_choice(texts)


def build(corpus_file: Path, folder: Path, extra: list[str]) -> dict:
    t = time.perf_counter()
    cmd = [sys.executable, "-m", "encoderkit", "index", str(corpus_file), "--index", str(folder), "--json", "-q", *extra]
    proc = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "ENCODERKIT_QUIET": "1"})
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)}: {proc.stderr[-1500:]}")
    wall = time.perf_counter() - t
    rep = json.loads(proc.stdout)
    enc = (rep.get("encode_seconds") or {}).get("dense")
    manifest = json.loads((folder / "manifest.json").read_text())
    return {
        "command": " ".join(["encoderkit", *cmd[3:]]),
        "wall_seconds": round(wall, 1),
        "chunks": rep["chunks_encoded"],
        "encode_seconds": enc,
        "chunks_per_s": round(rep["chunks_encoded"] / enc, 1) if enc else None,
        "precision": manifest["model"].get("encode_precision") or "fp32",
        "precision_choice": manifest["model"].get("precision_choice"),
    }


def evaluate_index(data: Path, folder: Path, chunk_size: str | None) -> float:
    out = Path(tempfile.mkdtemp(prefix="ek-eval-"))
    cmd = [sys.executable, "-m", "encoderkit", "eval", "retrieval", str(data), "--index", str(folder), "--out", str(out),
           "--pipeline", "dense", "--pipeline", "hybrid", "-q", "--json"]  # fmt: skip
    if chunk_size is not None:
        cmd += ["--chunk-size", chunk_size]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)}: {proc.stderr[-1500:]}")
    res = json.loads((out / "results.json").read_text())
    return {name: round(p["metrics"]["ndcg@10"], 4) for name, p in res["pipelines"].items()}


def build_table(args, report: dict) -> None:
    from sentence_transformers import SentenceTransformer

    from encoderkit import Index
    from encoderkit.models.ref import resolve_model

    rows = []
    root = Path(tempfile.mkdtemp(prefix="ek-fast-default-"))
    for shape, extra in (("chunked (256 tokens)", []), ("whole document", ["--chunk-size", "0"])):
        for label, precision in (("default", []), ("fp32", ["--encode-precision", "fp32"])):
            folder = root / f"{label}-{'whole' if extra else 'chunked'}"
            row = {"index": shape, "build": label, **build(args.data / "corpus.jsonl", folder, [*extra, *precision])}
            row["ndcg@10"] = evaluate_index(args.data, folder, "0" if extra else None)
            rows.append(row)
            print(json.dumps(row), flush=True)
        idx = Index.open(folder)
        chunk_texts = [r[0] for r in idx.store.conn.execute("SELECT index_text FROM chunks ORDER BY id")]
        idx.close()
        st = SentenceTransformer(str(resolve_model("default").path), device="cpu")
        rng = np.random.default_rng(0)  # a random sample of the same chunks: its speed, not all of it again
        sample = [
            chunk_texts[i] for i in sorted(rng.choice(len(chunk_texts), min(args.st_sample, len(chunk_texts)), replace=False))
        ]
        st.encode(sample[:32], batch_size=32)
        t = time.perf_counter()
        st.encode(sample, batch_size=32)
        st_speed = len(sample) / (time.perf_counter() - t)
        for row in rows[-2:]:
            row["st_fp32_chunks_per_s_same_chunks"] = round(st_speed, 1)
            row["ratio_to_st_fp32"] = round((row["chunks_per_s"] or 0) / st_speed, 2)
    report["builds"] = rows


def markdown(report: dict) -> str:
    m = report["machine"]
    lines = [
        f"# Fast by default (issue 31) — {m['cpu']}, {m['cores_available']} cores, {m['date']}",
        "",
        f"## Encoders side by side ({report['encoders']['texts']:,} SciFact documents, {report['encoders']['threads']} threads, "
        f"{report['encoders']['rounds']} interleaved rounds)",
        "",
        "| contender | passages/s | × sentence-transformers fp32 | mean cosine to it (min) | SciFact nDCG@10 |",
        "|---|---|---|---|---|",
    ]
    for r in report["encoders"]["rows"]:
        cos = (
            "—"
            if r["mean_cosine_to_st_fp32"] is None
            else f"{r['mean_cosine_to_st_fp32']:.5f} ({r['min_cosine_to_st_fp32']:.4f})"
        )
        lines.append(
            f"| {r['contender']} | {r['passages_per_s']:,} | {r['ratio_to_st_fp32']:.2f}× | {cos} | {r['ndcg@10']:.4f} |"
        )
    for name, why in report["not_run"].items():
        lines.append(f"| {name} | not run: {why} | | | |")
    d = report["default_choice_on_these_documents"]
    tried = ", ".join(
        "{}: cosine {}, top-10 agreement {}, {}×".format(g["precision"], g["mean_cosine"], g.get("top10_agreement"), g["speedup"])
        for g in d["measured"]
    )
    lines += ["", f"The default's quality gate on these documents chose **{d['chosen']}** in {d['seconds']} s ({tried})."]
    if report.get("builds"):
        lines += [
            "",
            "## `encoderkit index` on SciFact: the default against --encode-precision fp32",
            "",
            "| index | build | precision | wall | chunks/s encoding | × sentence-transformers fp32 (same chunks) "
            "| nDCG@10 dense | hybrid |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for r in report["builds"]:
            lines.append(
                f"| {r['index']} | {r['build']} | {r['precision']} | {r['wall_seconds']} s | {r['chunks_per_s']} | "
                f"{r['ratio_to_st_fp32']:.2f}× | {r['ndcg@10'].get('dense')} | {r['ndcg@10'].get('hybrid')} |"
            )
    lines += ["", "Command: `python benchmarks/fast_default.py " + " ".join(report["argv"]) + "`"]
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=Path("../shared/data/scifact"))
    ap.add_argument("--rounds", type=int, default=4)
    ap.add_argument("--limit", type=int, default=0, help="encode only the first N documents (a quick look)")
    ap.add_argument("--fastembed-python", default=None, help="python of a virtualenv with fastembed installed")
    ap.add_argument("--static-dir", default="build/static/minilm-m2v", help="where the distilled static model is kept")
    ap.add_argument("--skip-builds", action="store_true")
    ap.add_argument("--skip-encoders", action="store_true", help="keep the encoder table of the last results.json")
    ap.add_argument("--st-sample", type=int, default=2000, help="chunks sentence-transformers encodes for the build ratio")
    args = ap.parse_args()
    report = {"machine": machine(), "not_run": {}, "argv": sys.argv[1:]}
    OUT.mkdir(parents=True, exist_ok=True)
    if args.skip_encoders:
        last = json.loads((OUT / "results.json").read_text())
        report.update(
            encoders=last["encoders"],
            not_run=last.get("not_run", {}),
            default_choice_on_these_documents=last.get("default_choice_on_these_documents"),
        )
    else:
        encoder_table(args, report)
        (OUT / "results.json").write_text(json.dumps(report, indent=1) + "\n")  # kept if the builds fail
    if not args.skip_builds:
        build_table(args, report)
    (OUT / "results.json").write_text(json.dumps(report, indent=1) + "\n")
    md = markdown(report)
    (OUT / "results.md").write_text(md)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = report["encoders"]["rows"]
    fig, ax = plt.subplots(figsize=(7, 3.8))
    for r in rows:
        ax.scatter(r["passages_per_s"], r["ndcg@10"])
        ax.annotate(r["contender"], (r["passages_per_s"], r["ndcg@10"]), fontsize=7, xytext=(3, 3), textcoords="offset points")
    ax.set_xscale("log")
    ax.set_xlabel("passages/s (log)")
    ax.set_ylabel("SciFact nDCG@10")
    fig.tight_layout()
    fig.savefig(OUT / "speed.png", dpi=120)
    print(md)


if __name__ == "__main__":
    main()
