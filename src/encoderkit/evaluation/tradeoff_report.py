"""Markdown table and scatter plot of a trade-off report (:mod:`.tradeoff`)."""

from __future__ import annotations

from pathlib import Path


def tradeoff_markdown(res: dict) -> str:
    m = res["machine"]
    rows = res["variants"]
    if res["task"] == "classify":
        head = [
            f"# Trade-off: {Path(res['dataset']).name or res['dataset']} ({res['n_texts']} texts)",
            "",
            f"- throughput: {res['throughput_sample']['texts']} texts, median of {res['throughput_sample']['repeats']} "
            f"interleaved rounds; {res['threads']} threads; {m['cpu']}; {m['date']}",
            "",
            "| variant | accuracy | kept | texts/s | speed-up | latency p50 ms | p95 ms |",
            "|---|---|---|---|---|---|---|",
        ]
        body = [
            f"| {r['variant']} | {r['accuracy']:.4f} | {r['quality_kept']:.1%} | {r['texts_per_s']} | {r['speedup']}x | "
            f"{r['latency_ms']['p50']} | {r['latency_ms']['p95']} |"
            for r in rows
        ]
        return "\n".join(head + body) + "\n"
    ts = res["throughput_sample"]
    sts = any("sts_spearman" in r for r in rows)
    head = [
        f"# Trade-off: {Path(res['dataset']).name} {res['split']} ({res['n_queries']} queries), pipeline {res['pipeline']}",
        "",
        f"- quality: nDCG@10 with documents and queries encoded by the variant itself; reference: {res['reference']}",
        f"- throughput: {ts['passages']} corpus documents (mean {ts['mean_tokens']} tokens, truncated at each model's limit), "
        f"batches of {ts['batch_size']}, median of {ts['repeats']} interleaved rounds; {res['threads']} threads",
        "- query latency: one query at a time (encoding only); end-to-end: the pipeline's p50 (encoding + search)",
        f"- machine: {m['cpu']}, {m['cores_available']} cores; {m['date']}",
        "",
        "| variant | layers | dim | nDCG@10 | kept | "
        + ("STS-B ρ | kept | " if sts else "")
        + "passages/s | speed-up | query p50 ms | p95 ms | end-to-end p50 ms |",
        "|---|---|---|---|---|" + ("---|---|" if sts else "") + "---|---|---|---|---|",
    ]
    body = []
    for r in rows:
        s = f"{r['sts_spearman']:.4f} | {r['sts_kept']:.1%} | " if sts else ""
        body.append(
            f"| {r['variant']} | {r.get('layers') or ''} | {r['dim']} | {r['ndcg@10']:.4f} | {r['quality_kept']:.1%} | {s}"
            f"{r['passages_per_s']} | {r['speedup']}x | {r['query_encode_ms']['p50']} | {r['query_encode_ms']['p95']} | "
            f"{r['pipeline_p50_ms']} |"
        )
    return "\n".join(head + body) + "\n"


def plot_tradeoff(res: dict, path: Path) -> None:
    """Quality vs throughput (left) and vs query latency (right), one point per variant."""
    from .report import _plt

    plt = _plt()
    rows = res["variants"]
    clf = res["task"] == "classify"
    q = "accuracy" if clf else "ndcg@10"
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), dpi=120)
    for r in rows:
        x1 = r["texts_per_s"] if clf else r["passages_per_s"]
        x2 = r["latency_ms"]["p50"] if clf else r["query_encode_ms"]["p50"]
        for ax, x in zip(axes, (x1, x2)):
            ax.scatter([x], [r[q]], s=30)
            ax.annotate(r["variant"], (x, r[q]), textcoords="offset points", xytext=(4, 4), fontsize=7)
    axes[0].set_xlabel("texts per second" if clf else "encode throughput (passages/s)")
    axes[1].set_xlabel("latency p50, one text (ms)" if clf else "query encoding p50 (ms)")
    for ax in axes:
        ax.set_ylabel(q)
        ax.grid(alpha=0.3)
    fig.suptitle(f"Quality vs cost ({Path(res['dataset']).name or res['dataset']}, {res['threads']} threads)", fontsize=10)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
