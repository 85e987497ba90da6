"""Markdown tables and PNG plots of a robustness evaluation (:mod:`.robustness`)."""

from __future__ import annotations

from pathlib import Path


def _levels(summary: dict, family: str) -> list[str]:
    return list(summary.get(family, {}))


def robustness_markdown(res: dict) -> str:
    metric, base, pipes = res["metric"], res["baseline"], res["pipelines"]
    what = f"{res['n_queries']} queries" if res["task"] == "retrieval" else f"{res['n_texts']} texts"
    scope = ", ".join(x for x in (res.get("split"), what) if x)
    lines = [
        f"# Robustness: {Path(res['dataset']).name or res['dataset']} ({scope})",
        "",
        f"- metric: {metric}; seeds {res['seeds']} (a level is the mean over the seeds, ± their standard deviation); "
        f"level 0 = unperturbed input",
        f"- machine: {res['machine']['cpu']}, {res['machine']['threads']} threads; {res['machine']['date']}",
    ]
    if res.get("index"):
        m = res["index"]["model"]
        lines.append(f"- index: {res['index']['documents']} documents, {res['index']['chunks']} chunks; model {m['name']}")
    if res.get("swap_table"):
        lines.append(f"- synonym swaps: {res['swap_table']['source']} ({res['swap_table']['terms']} terms)")
    lines += [
        "",
        f"{metric} per perturbation and level (relative to unperturbed in brackets; 'changed' = share of inputs the "
        "perturbation altered):",
        "",
        "| perturbation | level | changed | " + " | ".join(pipes) + " |",
        "|---|---|---|" + "---|" * len(pipes),
        "| none | 0 | 0 | " + " | ".join(f"{base[p]:.4f}" for p in pipes) + " |",
    ]
    for fam, levels in res["summary"].items():
        for lvl, row in levels.items():
            cells = []
            for p in pipes:
                r = row[p]
                sd = f" ± {r['std']:.4f}" if len(r["seeds"]) > 1 else ""
                cells.append(f"{r['mean']:.4f}{sd} ({r['relative']:.1%})" if r["relative"] is not None else f"{r['mean']:.4f}")
            lines.append(f"| {fam} | {lvl} | {next(iter(row.values()))['changed_fraction']:.0%} | " + " | ".join(cells) + " |")
    changed_rows = [
        (fam, lvl, row)
        for fam, levels in res["summary"].items()
        for lvl, row in levels.items()
        if next(iter(row.values()))["changed_fraction"] < 0.999 and next(iter(row.values()))["changed_mean"] is not None
    ]
    if changed_rows:
        lines += [
            "",
            f"On the altered inputs only ({metric} after / before), for perturbations that leave some inputs unchanged:",
            "",
            "| perturbation | level | " + " | ".join(pipes) + " |",
            "|---|---|" + "---|" * len(pipes),
        ]
        for fam, lvl, row in changed_rows:
            lines.append(
                f"| {fam} | {lvl} | "
                + " | ".join(f"{row[p]['changed_mean']:.4f} / {row[p]['changed_baseline']:.4f}" for p in pipes)
                + " |"
            )
    rare = res.get("slices", {}).get("rare")
    if rare:
        lines += [
            "",
            f"Rare terms: {rare['n']} queries whose rarest content word occurs in at most {rare['max_df']} documents "
            f"(unperturbed {metric}):",
            "",
            "| pipeline | rare-term queries | other queries | all |",
            "|---|---|---|---|",
        ]
        for p, r in rare["pipelines"].items():
            lines.append(f"| {p} | {_f(r['slice'])} | {_f(r['rest'])} | {_f(r['all'])} |")
    tr = res.get("truncation")
    if tr:
        lines += [
            "",
            f"Long documents: chunked index vs whole documents truncated at {tr['token_limit']} tokens "
            f"({tr['queries_with_long_relevant_docs']} queries have a relevant document longer than the limit):",
            "",
            "| pipeline | chunked | truncated | chunked, long-doc queries | truncated, long-doc queries |",
            "|---|---|---|---|---|",
        ]
        for p, r in tr["pipelines"].items():
            lines.append(
                f"| {p} | {_f(r['chunked'])} | {_f(r['truncated'])} | {_f(r['chunked_long'])} | {_f(r['truncated_long'])} |"
            )
    lines += ["", f"evaluation {res.get('eval_seconds')} s"]
    return "\n".join(lines) + "\n"


def _f(x) -> str:
    return "–" if x is None else f"{x:.4f}"


def plot_robustness(res: dict, out: Path) -> None:
    """``robustness.png``: one panel per perturbation family, a line per pipeline (metric vs level);
    ``robustness-<pipeline>.png``: per pipeline, every family relative to its unperturbed metric;
    ``truncation.png`` when the truncation condition ran."""
    from .report import _plt

    plt = _plt()
    if res.get("truncation"):
        _plot_truncation(plt, res, out)
    summary, base, pipes, metric = res["summary"], res["baseline"], res["pipelines"], res["metric"]
    fams = list(summary)
    if not fams:
        return
    cols = min(3, len(fams))
    rows = (len(fams) + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.3 * rows), dpi=120, squeeze=False)
    for ax, fam in zip(axes.flat, fams):
        levels = _levels(summary, fam)
        xs = list(range(len(levels) + 1))
        for p in pipes:
            ys = [base[p]] + [summary[fam][lv][p]["mean"] for lv in levels]
            err = [0.0] + [summary[fam][lv][p]["std"] for lv in levels]
            ax.errorbar(xs, ys, yerr=err, marker="o", ms=3, capsize=2, label=p)
        ax.set_xticks(xs, ["0"] + levels)
        ax.set_title(fam)
        ax.set_ylabel(metric)
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(fams) :]:
        ax.axis("off")
    axes.flat[0].legend(fontsize=7)
    fig.suptitle(f"{metric} vs perturbation strength ({Path(res['dataset']).name or res['dataset']})", fontsize=10)
    fig.tight_layout()
    fig.savefig(out / "robustness.png")
    plt.close(fig)
    for p in pipes:
        fig, ax = plt.subplots(figsize=(5.5, 3.8), dpi=120)
        for fam in fams:
            levels = _levels(summary, fam)
            ys = [1.0] + [summary[fam][lv][p]["relative"] or 0.0 for lv in levels]
            ax.plot(range(len(ys)), ys, marker="o", ms=3, label=f"{fam} ({', '.join(levels)})")
        ax.set_xlabel("strength (level index; 0 = unperturbed)")
        ax.set_ylabel(f"{metric} relative to unperturbed")
        ax.set_title(f"{p}: quality vs perturbation strength")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
        fig.tight_layout()
        safe = "".join(c if c.isalnum() or c in "-_+" else "_" for c in p)
        fig.savefig(out / f"robustness-{safe}.png")
        plt.close(fig)


def _plot_truncation(plt, res: dict, out: Path) -> None:
    """Chunked vs whole-document (truncated) index per pipeline, on all queries and on the long-doc ones."""
    tr = res["truncation"]
    pipes = list(tr["pipelines"])
    bars = [
        ("chunked", "chunked", "#4477aa"),
        ("truncated", f"whole docs, truncated at {tr['token_limit']}", "#ee6677"),
        ("chunked_long", f"chunked, {tr['queries_with_long_relevant_docs']} long-doc queries", "#88aadd"),
        ("truncated_long", "truncated, long-doc queries", "#ffaabb"),
    ]
    fig, ax = plt.subplots(figsize=(1.8 + 1.6 * len(pipes), 3.6), dpi=120)
    width = 0.8 / len(bars)
    shown = []
    for i, (key, label, color) in enumerate(bars):
        ys = [tr["pipelines"][p][key] or 0.0 for p in pipes]
        shown += ys
        ax.bar([x + (i - 1.5) * width for x in range(len(pipes))], ys, width, label=label, color=color)
    ax.set_ylim(max(0.0, min(shown) - 0.1), min(1.0, max(shown) + 0.03))  # the differences are a few points
    ax.set_xticks(range(len(pipes)), pipes)
    ax.set_ylabel(res["metric"])
    ax.set_title("long documents: chunking vs truncation at the model's limit", fontsize=9)
    ax.legend(fontsize=7, loc="lower right")
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    fig.savefig(out / "truncation.png")
    plt.close(fig)
