"""Measuring matching quality on labelled proposals.

The same labelled texts go through three rankers side by side: lexical only
(BM25), dense only (embedding similarity to each direction's curated terms)
and the fused, calibrated matcher, so
every change shows what each signal contributes.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

import corpus

from .errors import InputError
from .fusion import FusionModel
from .signals import Signals
from .tables import read_jsonl

DEFAULT_LABELLED = corpus.LABELLED_PATH
SPLITS = ("dev", "test", "all")
LENGTH_BINS = (0, 40, 150, 300, 600, 100_000)
LENGTH_LABELS = ("≤40", "41–150", "151–300", "301–600", ">600")


GENRES = ("proposal", "paper", "review", "patent", "title", "long", "english")


def load_labelled(path: str | Path = DEFAULT_LABELLED, split: str = "all") -> pd.DataFrame:
    """Labelled texts (columns id, text, labels, genre, split, source) of one split.

    Rows without a genre (another file) count as ``proposal``.
    """
    if split not in SPLITS:
        raise InputError(f"split must be one of {', '.join(SPLITS)}, got {split!r}", "split")
    path = Path(path)
    if not path.is_file():
        raise InputError(f"labelled file {path}: no such file", "file")
    rows = read_jsonl(path)
    for n, row in enumerate(rows, 1):
        if not isinstance(row.get("text"), str) or not isinstance(row.get("labels"), list):
            raise InputError(f"{path}: object {n} needs a string 'text' and a list 'labels'", "file")
    df = pd.DataFrame(rows)
    df["genre"] = df["genre"].fillna("proposal") if "genre" in df.columns else "proposal"
    if split != "all":
        if "split" not in df.columns:
            raise InputError(f"{path}: has no 'split' field; use --split all", "split")
        df = df[df["split"] == split].reset_index(drop=True)
    if df.empty:
        raise InputError(f"{path}: no texts in split {split!r}", "split")
    return df


@dataclass
class Ranking:
    """Per-text scores of one ranker and its in-scope decisions."""

    name: str
    scores: np.ndarray  # (n_texts, n_directions), higher is better
    in_scope: np.ndarray  # (n_texts,) bool

    def subset(self, rows: np.ndarray) -> "Ranking":
        return Ranking(self.name, self.scores[rows], self.in_scope[rows])


@dataclass
class Metrics:
    name: str
    n: int
    n_in_scope: int
    top1: float
    top3: float
    mrr: float
    oos_precision: float
    oos_recall: float
    false_flag_rate: float
    cluster_accuracy: float
    per_direction_recall: dict[int, float] = field(default_factory=dict)
    confused_pairs: list[tuple[int, int, int]] = field(default_factory=list)
    by_length: dict[str, float] = field(default_factory=dict)

    def summary(self) -> dict:
        keys = ("top1", "top3", "mrr", "oos_precision", "oos_recall", "false_flag_rate", "cluster_accuracy")
        return {"ranker": self.name, "n": self.n} | {k: round(getattr(self, k), 3) for k in keys}


def _threshold_for(top: np.ndarray, in_scope_truth: np.ndarray) -> float:
    """The top-score threshold that best separates in-scope from out-of-scope texts (balanced accuracy)."""
    best, best_t = -1.0, float(np.median(top))
    for t in np.unique(top):
        pred = top >= t
        tpr = pred[in_scope_truth].mean() if in_scope_truth.any() else 0
        tnr = (~pred[~in_scope_truth]).mean() if (~in_scope_truth).any() else 0
        if tpr + tnr > best:
            best, best_t = tpr + tnr, float(t)
    return best_t


def rankings(signals: Signals, fusion: FusionModel, scope_thresholds: dict[str, float] | None = None) -> list[Ranking]:
    """Lexical-only, dense-only and fused rankings of the same texts.

    The single-signal rankers decide in_scope by a threshold on their own top
    score, taken from ``scope_thresholds`` (fitted on dev) when given.
    """
    fused = fusion.score(signals)
    out = []
    for name, scores in (("lexical", signals.lexical), ("dense", signals.dense_terms)):
        t = (scope_thresholds or {}).get(name, -np.inf)
        out.append(Ranking(name, scores, scores.max(axis=1) >= t))
    out.append(Ranking("fused", fused, fusion.decide(fused, signals).in_scope))
    return out


def single_signal_thresholds(signals: Signals, labels: list[list[int]]) -> dict[str, float]:
    truth = np.array([bool(l) for l in labels])
    return {
        "lexical": _threshold_for(signals.lexical.max(axis=1), truth),
        "dense": _threshold_for(signals.dense_terms.max(axis=1), truth),
    }


def metrics(ranking: Ranking, labels: list[list[int]], texts: list[str], direction_ids: list[int]) -> Metrics:
    directions = {d.id: d for d in corpus.load_directions()}
    ids = np.asarray(direction_ids)
    order = ids[np.argsort(-ranking.scores, axis=1, kind="stable")]
    truth_in = np.array([bool(l) for l in labels])
    top1 = top3 = rr = cluster_hits = cluster_n = 0.0
    recall_hits: Counter[int] = Counter()
    recall_n: Counter[int] = Counter()
    confused: Counter[tuple[int, int]] = Counter()
    length_hits: Counter[str] = Counter()
    length_n: Counter[str] = Counter()
    for i, gold in enumerate(labels):
        bucket = LENGTH_LABELS[np.searchsorted(LENGTH_BINS, len(texts[i]), side="left") - 1]
        if not gold:
            continue
        ranked = list(order[i])
        hit1 = ranked[0] in gold
        top1 += hit1
        top3 += any(r in gold for r in ranked[:3])
        rr += 1.0 / (1 + min(ranked.index(g) for g in gold))
        recall_n[gold[0]] += 1
        recall_hits[gold[0]] += hit1
        length_n[bucket] += 1
        length_hits[bucket] += hit1
        if not hit1:
            confused[(gold[0], ranked[0])] += 1
        gold_clusters = {c for g in gold for c in directions[g].clusters}
        if gold_clusters:
            cluster_n += 1
            cluster_hits += bool(set(directions[ranked[0]].clusters) & gold_clusters)
    n_in = int(truth_in.sum())
    pred_oos = ~ranking.in_scope
    tp = int((pred_oos & ~truth_in).sum())
    return Metrics(
        name=ranking.name,
        n=len(labels),
        n_in_scope=n_in,
        top1=top1 / max(n_in, 1),
        top3=top3 / max(n_in, 1),
        mrr=rr / max(n_in, 1),
        oos_precision=tp / max(int(pred_oos.sum()), 1),
        oos_recall=tp / max(int((~truth_in).sum()), 1),
        false_flag_rate=int((pred_oos & truth_in).sum()) / max(n_in, 1),
        cluster_accuracy=cluster_hits / max(cluster_n, 1),
        per_direction_recall={d: recall_hits[d] / recall_n[d] for d in sorted(recall_n)},
        confused_pairs=[(a, b, n) for (a, b), n in confused.most_common(10)],
        by_length={b: length_hits[b] / length_n[b] for b in LENGTH_LABELS if length_n[b]},
    )


CALIBRATION_BINS = (0.0, 0.1, 0.3, 0.5, 0.7, 0.9, 1.0001)


def calibration(ranking: Ranking, labels: list[list[int]], direction_ids: list[int]) -> list[dict]:
    """Per score bin: how many (text, direction) pairs, their mean score and the share that are right.

    Only in-scope texts count: a calibrated score of 0.8 should be right about 8 times in 10.
    """
    ids = np.asarray(direction_ids)
    rows = [i for i, gold in enumerate(labels) if gold]
    scores = ranking.scores[rows].ravel()
    right = np.array([[d in labels[i] for d in ids] for i in rows]).ravel()
    out = []
    for lo, hi in zip(CALIBRATION_BINS[:-1], CALIBRATION_BINS[1:]):
        k = (scores >= lo) & (scores < hi)
        if k.any():
            out.append({"bin": f"{lo:.1f}–{min(hi, 1):.1f}", "pairs": int(k.sum()),
                        "mean_score": round(float(scores[k].mean()), 2), "right": round(float(right[k].mean()), 2)})
    return out


@dataclass
class Evaluation:
    split: str
    metrics: list[Metrics]
    rankings: list[Ranking]
    labels: list[list[int]]
    texts: list[str]
    direction_ids: list[int]
    genres: list[str] = field(default_factory=list)

    @property
    def fused(self) -> Metrics:
        return next(m for m in self.metrics if m.name == "fused")

    def calibration(self) -> list[dict]:
        return calibration(next(r for r in self.rankings if r.name == "fused"), self.labels, self.direction_ids)

    def table(self) -> pd.DataFrame:
        return pd.DataFrame([m.summary() for m in self.metrics]).set_index("ranker")

    def by_genre(self) -> pd.DataFrame:
        """Per ranker and genre: texts, top-1, top-3, out-of-scope recall and in-scope false flags."""
        rows = []
        genres = np.asarray(self.genres or ["proposal"] * len(self.labels))
        present = [g for g in GENRES if g in set(genres)] + sorted(set(genres) - set(GENRES))
        for ranking in self.rankings:
            for genre in present:
                idx = np.flatnonzero(genres == genre)
                m = metrics(ranking.subset(idx), [self.labels[i] for i in idx], [self.texts[i] for i in idx],
                            self.direction_ids)
                n_oos = m.n - m.n_in_scope
                rows.append({"ranker": ranking.name, "genre": genre, "n": m.n, "in scope": m.n_in_scope,
                             "top1": round(m.top1, 3) if m.n_in_scope else None,
                             "top3": round(m.top3, 3) if m.n_in_scope else None,
                             "oos_recall": round(m.oos_recall, 3) if n_oos else None,
                             "false_flags": round(m.false_flag_rate, 3) if m.n_in_scope else None})
        return pd.DataFrame(rows).set_index(["ranker", "genre"])


def evaluate(matcher, path: str | Path = DEFAULT_LABELLED, split: str = "test") -> Evaluation:
    """Run the labelled texts of ``split`` through the three rankers and compute their metrics."""
    df = load_labelled(path, split)
    texts = [matcher.check_text(t) for t in df["text"]]
    labels = [list(map(int, l)) for l in df["labels"]]
    signals, _ = signals_for(matcher, texts)
    thresholds = None
    if split != "dev":
        try:
            dev = load_labelled(path, "dev")
            dev_signals, _ = signals_for(matcher, [matcher.check_text(t) for t in dev["text"]])
            thresholds = single_signal_thresholds(dev_signals, [list(map(int, l)) for l in dev["labels"]])
        except InputError:
            thresholds = None
    thresholds = thresholds or single_signal_thresholds(signals, labels)
    ranks = rankings(signals, matcher.fusion, thresholds)
    ids = [d.id for d in matcher.directions]
    return Evaluation(split, [metrics(r, labels, list(df["text"]), ids) for r in ranks], ranks, labels,
                      list(df["text"]), ids, list(df["genre"]))


def signals_for(matcher, texts: list[str], chunk: int = 64):
    """Signals of many texts, in chunks so memory stays flat."""
    parts, found = [], []
    for start in range(0, len(texts), chunk):
        s, f = matcher.signals(texts[start : start + chunk])
        parts.append(s)
        found.extend(f)
    return Signals.concat(parts), found
