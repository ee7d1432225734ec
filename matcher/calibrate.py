"""`guide-match calibrate`: choose the reading settings and fit the fusion on dev, by cross-validation.

Only the dev split is ever fitted on: the test split is for reporting, and "all" would include it.
The choices, the candidates' cross-validated figures and a manifest of what was fitted (corpus,
labelled file, model export, runtime) are stored with the weights in ``models/fusion.json``.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

import corpus

from . import manifest
from .config import MatcherConfig
from .dense import DenseEncoder
from .errors import InputError
from .evaluation import load_labelled
from .fitting import CVReport, fit_fusion, fold_indices, oof_pair_scores, pair_targets, ranking_accuracy
from .fusion import FusionModel
from .signals import SignalExtractor, Signals, SignalSettings
from .text import normalize

# How the dense signal reads a text, cheapest first: the opening only, the opening and the best
# window of long texts (from 6, 4 or 3 windows up: the lower, the more texts pay for a second
# window), or the whole text (every window: slowest).
READINGS = {
    "opening": dict(query_max_tokens=128, long_text_windows=0),
    "opening + best window (6+ windows)": dict(query_max_tokens=128, long_text_windows=6),
    "opening + best window (4+ windows)": dict(query_max_tokens=128, long_text_windows=4),
    "opening + best window (3+ windows)": dict(query_max_tokens=128, long_text_windows=3),
    "whole text": dict(query_max_tokens=0, long_text_windows=0),
}
REFERENCE_ONLY = frozenset({"opening"})
"""Scored for the record but never chosen: a long proposal often opens with pages of background
(行业现状, 国内外研究进展…), and the matcher must not judge it by that alone, whatever a dev set
with few such texts says. Cross-validation chooses among the readings that go past the opening."""
TOP_TERMS = (1, 3, 5)


@dataclass
class Calibration:
    fusion: FusionModel
    report: CVReport
    reading: str
    n_texts: int
    output: Path


def _dev_texts(path: Path, extra: Path | None) -> tuple[list[str], list[list[int]], list[str]]:
    df = load_labelled(path, "dev")
    texts, labels, genres = list(df["text"]), [list(map(int, x)) for x in df["labels"]], list(df["genre"])
    if extra is not None:
        ex = load_labelled(extra, "dev")
        texts += list(ex["text"])
        labels += [list(map(int, x)) for x in ex["labels"]]
        genres += list(ex["genre"])
    return [normalize(t) for t in texts], labels, genres




def top1_hits(scores, labels: list[list[int]], direction_ids: list[int]) -> np.ndarray:
    """1.0 where a text's best direction is one of its labels, 0.0 where not; NaN for out-of-scope texts."""
    best = np.asarray(direction_ids)[np.argmax(scores, axis=1)]
    return np.array([float(b in gold) if gold else np.nan for b, gold in zip(best, labels)])


def genre_mean(hits: np.ndarray, genres: list[str]) -> tuple[float, float]:
    """A per-text figure averaged within each genre, then over the genres (each genre counts the same,
    however many texts it has), and the standard error of that mean."""
    g = np.asarray(genres)
    means, variances = [], []
    for genre in sorted(set(genres)):
        x = hits[(g == genre) & ~np.isnan(hits)]
        if len(x):
            means.append(x.mean())
            variances.append(x.var() / len(x))
    return float(np.mean(means)), float(np.sqrt(np.sum(variances)) / len(means))


def choose_settings(extractor: SignalExtractor, texts: list[str], labels: list[list[int]], genres: list[str],
                    direction_ids: list[int], k: int, say: Callable[[str], None]) -> tuple[SignalSettings, str, dict, Signals]:
    """The cheapest reading (and terms per direction) whose cross-validated top-1, averaged over the
    genres so that long proposals and titles count as much as abstracts, is within one standard error
    of the best: smaller differences are noise, and a slower reading must earn its cost. Readings in
    :data:`REFERENCE_ONLY` are scored and reported but not candidates.

    The candidates are scored on the same texts and folds, so the standard error is that of the
    paired difference from the best (text by text), not of either figure alone: two readings that
    differ only on long texts are told apart by those texts, not drowned in every genre's spread."""
    folds = fold_indices(labels, k)
    y = pair_targets(labels, direction_ids)
    heads: dict[int, object] = {}  # the openings' embeddings, shared by the readings that start there
    table, results = {}, []
    for cost, (reading, kw) in enumerate(READINGS.items()):
        qmt = kw["query_max_tokens"]
        if qmt not in heads:
            heads[qmt] = extractor.encoder.encode(texts, extractor.prompt, qmt)
        embedded = extractor.embed(texts, SignalSettings(**kw), head=heads[qmt])
        for top_terms in TOP_TERMS:
            settings = SignalSettings(dense_top_terms=top_terms, **kw)
            signals, _ = extractor.signals(texts, settings, embedded)
            scores = oof_pair_scores(signals, y, folds, 1.0)
            top1, top3 = ranking_accuracy(scores, labels, direction_ids)
            hits = top1_hits(scores, labels, direction_ids)
            macro, _ = genre_mean(hits, genres)
            table[f"{reading}; {top_terms} terms"] = {"top1": round(top1, 4), "top3": round(top3, 4),
                                                      "genre_mean_top1": round(macro, 4)}
            say(f"  {reading:36s} {top_terms} nearest terms: CV top-1 {top1:.3f}, top-3 {top3:.3f}, "
                f"mean over genres {macro:.3f}" + ("  (for the record; not a candidate)" if reading in REFERENCE_ONLY else ""))
            if reading not in REFERENCE_ONLY:
                results.append((macro, hits, top1, cost, settings, reading, signals))
    best = max(results, key=lambda r: (r[0], r[2], -r[3]))
    within = []
    for r in results:
        gap, se = genre_mean(best[1] - r[1], genres)
        if gap <= se:
            within.append(r)
    macro, _, _, _, settings, reading, signals = min(
        within, key=lambda r: (r[3], -r[0], -r[2], abs(r[4].dense_top_terms - 3)))
    say(f"  best mean over genres {best[0]:.3f} ({best[5]}, {best[4].dense_top_terms} nearest terms); the cheapest "
        f"within one standard error of the paired difference: {reading}, {settings.dense_top_terms} nearest terms "
        f"({macro:.3f})")
    return settings, reading, table, signals


def calibrate(config: MatcherConfig, path: str | Path = corpus.LABELLED_PATH, split: str = "dev",
              output: str | Path | None = None, extra: str | Path | None = None, folds: int = 5,
              say: Callable[[str], None] = print) -> Calibration:
    """Choose the settings and fit :class:`FusionModel` on the dev split (plus an extra file's dev part); save it."""
    if split != "dev":
        raise InputError(
            f"calibrate fits on the dev split only, not {split!r}: the test split is kept for reporting "
            "(and 'all' would include it); run `guide-match calibrate` without --split",
            "split", "split_refused",
        )
    if not 2 <= folds <= 20:
        raise InputError(f"folds must be from 2 to 20, got {folds}", "folds")
    path = Path(path)
    extra = Path(extra) if extra else None
    texts, labels, genres = _dev_texts(path, extra)
    n_in = sum(1 for x in labels if x)
    if n_in < 10 * folds or len(labels) - n_in < 2 * folds:
        raise InputError(
            f"{path}: {n_in} in-scope and {len(labels) - n_in} out-of-scope labelled dev texts are too few to fit "
            f"with {folds}-fold cross-validation; give at least {10 * folds} and {2 * folds}", "file", "too_few_texts",
        )
    directions = corpus.load_directions()
    stopwords = corpus.load_stopwords()
    encoder = DenseEncoder(config)
    extractor = SignalExtractor(directions, encoder, config, stopwords)
    ids = [d.id for d in directions]
    say(f"{len(texts)} dev texts ({sum(1 for x in labels if x)} in scope); {folds}-fold cross-validation")
    say("reading of the dense signal and terms per direction:")
    settings, reading, table, signals = choose_settings(extractor, texts, labels, genres, ids, folds, say)
    fitted_on = f"{path.name}:dev ({len(texts)} texts)" if extra is None else (
        f"{path.name}:dev + {extra.name}:dev ({len(texts)} texts)")
    fusion, report = fit_fusion(signals, labels, genres, ids, model=encoder.model_dir.name, fitted_on=fitted_on,
                                settings=dataclasses.asdict(settings), k=folds)
    report.choices = {"reading": reading, **dataclasses.asdict(settings), **report.choices}
    report.candidates["reading"] = table
    runtime = manifest.runtime_versions()
    fusion = dataclasses.replace(fusion, manifest={
        "fitted_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "split": "dev",
        "n_texts": len(texts),
        "labelled_file": path.name,
        "labelled": manifest.file_hash(path),
        "extra_file": extra.name if extra else None,
        "extra": manifest.file_hash(extra) if extra else None,
        "corpus": manifest.corpus_hash(directions, stopwords),
        "model": encoder.identity,
        "runtime": {k: v for k, v in runtime.items() if k in ("onnxruntime", "jieba") and
                    (k != "onnxruntime" or encoder.backend.name == "onnx")},
        "settings": dataclasses.asdict(settings),
        "cv": {"folds": report.folds, "choices": report.choices, "out_of_fold": report.out_of_fold,
               "candidates": report.candidates},
    })
    out = Path(output) if output else config.fusion_path
    fusion.save(out)
    return Calibration(fusion, report, reading, len(texts), out)

