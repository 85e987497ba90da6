"""Turn evaluation results into Markdown tables and PNG plots (matplotlib, no display needed)."""

from __future__ import annotations

from pathlib import Path


def _rule_text(rule: dict) -> str:
    """A stored fusion rule in words: what it is and where it came from."""
    from ..retrieval.fusion_rule import FusionRule

    r = FusionRule.from_dict(rule)
    return f"{r.describe()} ({r.source})"


def _fmt(x) -> str:
    return f"{x:.3f}" if isinstance(x, float) else str(x)


def _titles(ch: dict) -> str:
    mode = ch.get("titles", "auto" if ch.get("title_header", True) else "none")
    return {
        "auto": "as a header line unless the chunk opens with the title",
        "prefix": "as a header line on every chunk",
        "none": "not indexed",
    }.get(mode, mode)


def retrieval_markdown(res: dict) -> str:
    idx = res["index"]
    m, ch = idx["model"], idx["chunking"]
    retrievers = {r["name"]: r["settings"] for r in idx.get("retrievers") or []}
    bm = retrievers.get("bm25")
    others = "; ".join(
        f"{name}: " + ", ".join(f"{k}={v}" for k, v in sorted(st.items())) for name, st in retrievers.items() if name != "bm25"
    )
    lines = [
        f"# Retrieval evaluation: {Path(res['dataset']).name} ({res['split']}, {res['n_queries']} queries)",
        "",
        f"- model: {m['name']} ({m.get('revision') or 'local'}), pooling {m['pooling']}, "
        f"max length {m['max_length']}, L2-normalised",
        (
            f"- whole documents ({ch.get('whole_document_text', 'text')}, the BEIR/MTEB protocol), truncated by the encoder; "
            if ch["size"] == 0
            else f"- chunking: {ch['size']} tokens, overlap {ch['overlap']}, titles {_titles(ch)}; "
            "a document scores as its best chunk; "
        )
        + f"{idx['documents']} documents, {idx['chunks']} chunks",
        (
            f"- BM25: {bm['method']} k1={bm['k1']} b={bm['b']}, stemmer {bm['stemmer']}, stop words {bm['stopwords']}; "
            if bm
            else "- "
        )
        + (f"{others}; " if others else "")
        + (
            f"fusion: the index's own rule, {_rule_text(res['fusion']['index_rule'])}, over the top {res['depth']} of each stage"
            if (res.get("fusion") or {}).get("index_rule")
            else f"fusion: auto (RRF k={res['rrf_k']}; score-normalised weighted, bm25 1, dense 0.25, colbert 6, when "
            f"ColBERT is fused) over the top {res['depth']} of each stage"
            if (res.get("fusion") or {}).get("method") == "auto" and not (res.get("fusion") or {}).get("weights")
            else f"fusion: RRF k={res['rrf_k']} over the top {res['depth']} of each stage"
            if (res.get("fusion") or {}).get("method", "rrf") in ("rrf", "auto")
            else f"fusion: score-normalised weighted ({res['fusion'].get('weights') or 'equal weights'}) over the top "
            f"{res['depth']} of each stage"
        ),
        f"- index: {idx['size_mb']} MB, first build {idx['build_seconds']} s, reused: {idx['reused']}; "
        f"peak RSS {res['peak_rss_mb']} MB; evaluation {res['eval_seconds']} s",
        f"- machine: {res['machine']['cpu']}, {res['machine']['cores_available']} cores; {res['machine']['date']}",
        f"- queries without judgements skipped: {res['skipped_queries_without_judgements']}",
        *([f"- data: {note}" for note in res.get("data_notes") or []]),
        *([f"- **corpus sample**: {res['corpus_sample']['note']}"] if res.get("corpus_sample") else []),
        "- equal scores are ordered as trec_eval orders them (document id, descending)",
        "",
        "| pipeline | nDCG@10 | MRR@10 | R@10 | R@100 | MAP@100 | p50 ms | p95 ms | p99 ms |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name, p in res["pipelines"].items():
        q, lat = p["metrics"], p["latency_ms"]
        lines.append(
            f"| {name} | {q['ndcg@10']:.4f} | {q['mrr@10']:.4f} | {q['recall@10']:.4f} | "
            f"{q['recall@100']:.4f} | {q['map@100']:.4f} | {lat['p50']} | {lat['p95']} | {lat['p99']} |"
        )
    if res.get("reranker"):
        rr = res["reranker"]
        if rr.get("kind") == "colbert":
            lines += [
                "",
                f"Reranker: {rr['name']}, ColBERT MaxSim (top {rr['depth']}; stored vectors when the index has its own).",
            ]
        else:
            lines += ["", f"Reranker: {rr['name']} (top {rr['depth']}, max length {rr['max_length']})."]
    lines += [
        "",
        "Median time per stage (ms): "
        + "; ".join(
            f"{name}: " + ", ".join(f"{k} {v}" for k, v in p.get("stage_latency_ms_p50", {}).items())
            for name, p in res["pipelines"].items()
        ),
    ]
    lines += [
        "",
        "Candidate recall per first stage (the ceiling each stage sets for what follows):",
        "",
        "| pipeline | stage | recall |",
        "|---|---|---|",
    ]
    for name, p in res["pipelines"].items():
        for stage, v in p["stage_recall"].items():
            lines.append(f"| {name} | {stage} | {v:.4f} |")
    return "\n".join(lines) + "\n"


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_recall_curves(res: dict, path: Path) -> None:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6, 4), dpi=120)
    for name, p in res["pipelines"].items():
        ks = [int(k) for k in p["recall_curve"]]
        ax.plot(ks, list(p["recall_curve"].values()), marker="o", ms=3, label=name)
    ax.set_xscale("log")
    ax.set_xlabel("k (documents)")
    ax.set_ylabel("Recall@k")
    ax.set_title(f"Recall@k, {Path(res['dataset']).name} {res['split']}")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def plot_quality_latency(res: dict, path: Path) -> None:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6, 4), dpi=120)
    for name, p in res["pipelines"].items():
        x, y = p["latency_ms"]["p50"], p["metrics"]["ndcg@10"]
        ax.scatter([x], [y])
        ax.annotate(name, (x, y), textcoords="offset points", xytext=(5, 5))
    ax.set_xlabel("p50 latency per query (ms)")
    ax.set_ylabel("nDCG@10")
    ax.set_title(f"Quality vs latency, {Path(res['dataset']).name} {res['split']}")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
