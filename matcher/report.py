"""Plots and a Markdown report of an :class:`~matcher.evaluation.Evaluation`."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure  # no pyplot: no global state, no display needed on servers and CI

from .evaluation import LENGTH_LABELS, Evaluation


def confusion_figure(ev: Evaluation, ranker: str = "fused"):
    """Gold direction (rows) against predicted top-1 (columns), with out-of-scope as index 0."""
    r = next(x for x in ev.rankings if x.name == ranker)
    ids = ev.direction_ids
    pos = {d: k + 1 for k, d in enumerate(ids)}
    m = np.zeros((len(ids) + 1, len(ids) + 1), dtype=int)
    for i, gold in enumerate(ev.labels):
        g = pos[gold[0]] if gold else 0
        p = pos[ids[int(np.argmax(r.scores[i]))]] if r.in_scope[i] else 0
        m[g, p] += 1
    share = m / np.maximum(m.sum(axis=1, keepdims=True), 1)  # each row: where that direction's texts went
    fig = Figure(figsize=(9, 8))
    ax = fig.subplots()
    im = ax.imshow(share, cmap="Blues", vmin=0, vmax=1)
    ticks = ["OOS"] + [str(d) for d in ids]
    ax.set_xticks(range(len(ticks)), ticks, rotation=90, fontsize=6)
    ax.set_yticks(range(len(ticks)), ticks, fontsize=6)
    ax.set_xlabel("predicted (top-1, OOS = out of scope)")
    ax.set_ylabel("labelled direction")
    ax.set_title(f"Confusion over 40 directions ({ranker}, split {ev.split}; share of each row)")
    fig.colorbar(im, ax=ax, shrink=0.8)
    fig.tight_layout()
    return fig


def score_histogram_figure(ev: Evaluation, ranker: str = "fused"):
    """Top score of in-scope and out-of-scope texts: how well one threshold separates them."""
    r = next(x for x in ev.rankings if x.name == ranker)
    top = r.scores.max(axis=1)
    truth = np.array([bool(l) for l in ev.labels])
    fig = Figure(figsize=(7, 4))
    ax = fig.subplots()
    bins = np.linspace(float(top.min()), float(top.max()) + 1e-9, 30)
    ax.hist(top[truth], bins=bins, alpha=0.6, label=f"in scope (n={truth.sum()})")
    ax.hist(top[~truth], bins=bins, alpha=0.6, label=f"out of scope (n={(~truth).sum()})")
    ax.set_xlabel(f"top direction score ({ranker})")
    ax.set_ylabel("texts")
    ax.legend()
    ax.set_title(f"Score distribution, split {ev.split}")
    fig.tight_layout()
    return fig


def length_figure(ev: Evaluation):
    """Top-1 accuracy by text length for each ranker."""
    fig = Figure(figsize=(7, 4))
    ax = fig.subplots()
    labels = [b for b in LENGTH_LABELS if any(b in m.by_length for m in ev.metrics)]
    width = 0.8 / len(ev.metrics)
    for k, m in enumerate(ev.metrics):
        ax.bar(np.arange(len(labels)) + k * width, [m.by_length.get(b, 0) for b in labels], width, label=m.name)
    ax.set_xticks(np.arange(len(labels)) + width * (len(ev.metrics) - 1) / 2, labels)
    ax.set_xlabel("text length (characters)")
    ax.set_ylabel("top-1 accuracy")
    ax.set_ylim(0, 1)
    ax.legend()
    ax.set_title(f"Accuracy by length, split {ev.split}")
    fig.tight_layout()
    return fig


def genre_figure(ev: Evaluation):
    """Top-1 accuracy by genre for each ranker, and the fused ranker's out-of-scope recall and false flags."""
    table = ev.by_genre().reset_index()
    genres = list(dict.fromkeys(table["genre"]))
    fig = Figure(figsize=(9, 4.5))
    ax, ax2 = fig.subplots(1, 2, gridspec_kw={"width_ratios": [3, 2]})
    width = 0.8 / len(ev.metrics)
    for k, m in enumerate(ev.metrics):
        rows = table[table["ranker"] == m.name].set_index("genre")
        ax.bar(np.arange(len(genres)) + k * width, [rows.loc[g, "top1"] or 0 for g in genres], width, label=m.name)
    ax.set_xticks(np.arange(len(genres)) + width * (len(ev.metrics) - 1) / 2, genres, rotation=30)
    ax.set_ylabel("top-1 accuracy")
    ax.set_ylim(0, 1)
    ax.legend(fontsize=8)
    ax.set_title(f"Top-1 by genre, split {ev.split}")
    fused = table[table["ranker"] == "fused"].set_index("genre")
    x = np.arange(len(genres))
    ax2.bar(x - 0.2, [fused.loc[g, "oos_recall"] if fused.loc[g, "oos_recall"] is not None else 0 for g in genres], 0.4,
            label="out-of-scope recall")
    ax2.bar(x + 0.2, [fused.loc[g, "false_flags"] or 0 for g in genres], 0.4, label="in-scope false flags")
    ax2.set_xticks(x, genres, rotation=30)
    ax2.set_ylim(0, 1)
    ax2.legend(fontsize=8)
    ax2.set_title("In scope or not (fused)")
    fig.tight_layout()
    return fig


def markdown_table(df) -> str:
    """A GitHub Markdown table of a DataFrame (no extra dependency)."""
    head = "| " + " | ".join(map(str, df.columns)) + " |"
    rule = "|" + "---|" * len(df.columns)
    body = ["| " + " | ".join(str(v) for v in row) + " |" for row in df.itertuples(index=False)]
    return "\n".join([head, rule, *body])


def write_report(ev: Evaluation, out_dir: str | Path) -> Path:
    """``report.md`` with the metric tables and three PNG plots in ``out_dir``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for name, fig in (
        ("confusion.png", confusion_figure(ev)),
        ("scores.png", score_histogram_figure(ev)),
        ("by_length.png", length_figure(ev)),
        ("by_genre.png", genre_figure(ev)),
    ):
        fig.savefig(out / name, dpi=110)
    fused = ev.fused
    lines = [
        f"# Matching quality on split `{ev.split}`",
        "",
        f"{fused.n} labelled texts, {fused.n_in_scope} in scope, {fused.n - fused.n_in_scope} out of scope.",
        "",
        markdown_table(ev.table().reset_index()),
        "",
        "## By genre",
        "",
        markdown_table(ev.by_genre().reset_index().fillna("—")),
        "",
        "![by genre](by_genre.png)",
        "",
        "## Calibration (fused): is a score of 0.8 right about 8 times in 10?",
        "",
        markdown_table(pd.DataFrame(ev.calibration())),
        "",
        "## Per-direction top-1 recall (fused)",
        "",
        "| direction | recall |",
        "|---|---|",
        *[f"| {d} | {r:.2f} |" for d, r in fused.per_direction_recall.items()],
        "",
        "## Most confused pairs (fused: labelled → predicted, count)",
        "",
        *[f"- {a} → {b}: {n}" for a, b, n in fused.confused_pairs],
        "",
        "![confusion](confusion.png)",
        "",
        "![scores](scores.png)",
        "",
        "![by length](by_length.png)",
        "",
    ]
    path = out / "report.md"
    path.write_text("\n".join(lines), encoding="utf-8")
    return path
