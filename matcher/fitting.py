"""Fitting the fusion on labelled dev texts, every choice made by k-fold cross-validation.

The pair model's regularisation is chosen by cross-validated top-1; the embedding head's by its
out-of-fold log-loss; the in-scope model is fitted on out-of-fold features (the pair scores and
head probabilities a text gets when it was not fitted on), so it learns how much to trust them on
texts they have never seen; its threshold is the one that catches the most out-of-scope texts
while flagging at most ``MAX_FALSE_FLAGS`` of the in-scope ones, out of fold. The head and the
in-scope model weigh every (genre, in or out of scope) cell the same, so that a journal abstract
or a patent counts as much as the proposal abstracts that are most of the data: the decision
learns what the call funds, not how our proposals are written.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np

from .fusion import SCOPE_FEATURES, FusionModel, Linear
from .signals import Signals

PAIR_C = (0.1, 1.0, 10.0)
HEAD_C = (3.0, 10.0, 30.0, 100.0, 300.0)
SCOPE_C = (0.1, 0.3, 1.0, 3.0)
MAX_FALSE_FLAGS = 0.03
"""Most in-scope texts the threshold may flag as out of scope (out of fold, on dev)."""


@dataclass
class CVReport:
    """What cross-validation chose and why: candidates with their out-of-fold figures."""

    folds: int
    choices: dict = field(default_factory=dict)
    candidates: dict = field(default_factory=dict)
    out_of_fold: dict = field(default_factory=dict)


def fold_indices(labels: list[list[int]], k: int, seed: int = 0) -> list[tuple[np.ndarray, np.ndarray]]:
    """k stratified folds by primary direction (out-of-scope texts as one class)."""
    from sklearn.model_selection import StratifiedKFold

    strata = [ids[0] if ids else 0 for ids in labels]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a direction with fewer texts than folds is still spread over them
        return list(StratifiedKFold(k, shuffle=True, random_state=seed).split(np.zeros(len(labels)), strata))


def pair_targets(labels: list[list[int]], direction_ids: list[int]) -> np.ndarray:
    col = {d: j for j, d in enumerate(direction_ids)}
    y = np.zeros((len(labels), len(direction_ids)), dtype=int)
    for i, ids in enumerate(labels):
        for d in ids:
            y[i, col[d]] = 1
    return y


def _logistic(C: float):
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(C=C, max_iter=5000)


def cell_weights(in_scope: np.ndarray, genres: list[str]) -> np.ndarray:
    """Sample weights giving every (genre, in scope or not) cell the same total weight; mean 1."""
    cells: dict[tuple[str, int], int] = {}
    for g, y in zip(genres, in_scope):
        cells[(g, int(y))] = cells.get((g, int(y)), 0) + 1
    w = np.array([1.0 / cells[(g, int(y))] for g, y in zip(genres, in_scope)])
    return w * len(w) / w.sum()


def _fit_pair(feats: np.ndarray, y: np.ndarray, C: float):
    return _logistic(C).fit(feats.reshape(-1, feats.shape[-1]), y.ravel())


def _pair_scores(model, feats: np.ndarray) -> np.ndarray:
    return model.predict_proba(feats.reshape(-1, feats.shape[-1]))[:, 1].reshape(feats.shape[:2])


def oof_pair_scores(signals: Signals, y: np.ndarray, folds, C: float) -> np.ndarray:
    feats = signals.pair_features()
    out = np.zeros(y.shape)
    for train, test in folds:
        out[test] = _pair_scores(_fit_pair(feats[train], y[train], C), feats[test])
    return out


def ranking_accuracy(scores: np.ndarray, labels: list[list[int]], direction_ids: list[int]) -> tuple[float, float]:
    """(top-1, top-3) over the in-scope texts."""
    ids = np.asarray(direction_ids)
    order = ids[np.argsort(-scores, axis=1, kind="stable")]
    rows = [i for i, gold in enumerate(labels) if gold]
    top1 = np.mean([order[i, 0] in labels[i] for i in rows]) if rows else 0.0
    top3 = np.mean([any(o in labels[i] for o in order[i, :3]) for i in rows]) if rows else 0.0
    return float(top1), float(top3)


def _oof_binary(x: np.ndarray, y: np.ndarray, w: np.ndarray, folds, C: float, standardise: bool) -> np.ndarray:
    out = np.zeros(len(y))
    for train, test in folds:
        model = _binary(x[train], y[train], w[train], C, standardise)
        out[test] = model.probability(x[test])
    return out


def _binary(x: np.ndarray, y: np.ndarray, w: np.ndarray, C: float, standardise: bool) -> Linear:
    mean = x.mean(axis=0) if standardise else np.zeros(x.shape[1])
    scale = x.std(axis=0) + 1e-9 if standardise else np.ones(x.shape[1])
    lr = _logistic(C).fit((x - mean) / scale, y, sample_weight=w)
    return Linear(tuple(float(c) for c in lr.coef_[0]), float(lr.intercept_[0]),
                  tuple(float(m) for m in mean), tuple(float(s) for s in scale))


def _log_loss(p: np.ndarray, y: np.ndarray, w: np.ndarray) -> float:
    p = np.clip(p, 1e-6, 1 - 1e-6)
    return float(-(w * (y * np.log(p) + (1 - y) * np.log(1 - p))).sum() / w.sum())


def scope_figures(p: np.ndarray, in_scope: np.ndarray, threshold: float) -> dict:
    flagged = p < threshold
    return {
        "oos_recall": round(float(flagged[in_scope == 0].mean()) if (in_scope == 0).any() else 0.0, 4),
        "false_flags": round(float(flagged[in_scope == 1].mean()) if (in_scope == 1).any() else 0.0, 4),
    }


def choose_threshold(p: np.ndarray, in_scope: np.ndarray, max_false_flags: float = MAX_FALSE_FLAGS) -> float:
    """The threshold catching most out-of-scope texts while flagging at most ``max_false_flags`` of the others."""
    best_t, best_key = 0.5, None
    for t in np.unique(np.round(p, 4)):
        f = scope_figures(p, in_scope, float(t))
        key = (f["false_flags"] <= max_false_flags, f["oos_recall"] - f["false_flags"] if f["false_flags"] > max_false_flags
               else f["oos_recall"], -abs(float(t) - 0.5))
        if best_key is None or key > best_key:
            best_t, best_key = float(t), key
    return best_t


def fit_fusion(signals: Signals, labels: list[list[int]], genres: list[str], direction_ids: list[int], *, model: str,
               fitted_on: str, settings: dict, k: int = 5, seed: int = 0) -> tuple[FusionModel, CVReport]:
    """Fit the pair model, the embedding head and the in-scope model on labelled dev texts, by k-fold CV."""
    folds = fold_indices(labels, k, seed)
    report = CVReport(folds=k)
    y = pair_targets(labels, direction_ids)
    in_scope = np.array([bool(ids) for ids in labels], dtype=int)
    w = cell_weights(in_scope, genres)

    # 1. the pair model: the regularisation with the best out-of-fold top-1 (then top-3)
    candidates = {}
    oof = {}
    for C in PAIR_C:
        oof[C] = oof_pair_scores(signals, y, folds, C)
        candidates[C] = ranking_accuracy(oof[C], labels, direction_ids)
    pair_c = max(PAIR_C, key=lambda C: (candidates[C], -abs(np.log10(C))))
    report.candidates["pair_C"] = {str(C): {"top1": round(t1, 4), "top3": round(t3, 4)} for C, (t1, t3) in candidates.items()}
    pair_scores = oof[pair_c]

    # 2. the embedding head: the regularisation with the lowest out-of-fold log-loss
    losses, head_oof = {}, {}
    for C in HEAD_C:
        head_oof[C] = _oof_binary(signals.embeddings, in_scope, w, folds, C, standardise=False)
        losses[C] = _log_loss(head_oof[C], in_scope, w)
    head_c = min(HEAD_C, key=lambda C: losses[C])
    report.candidates["head_C"] = {str(C): {"log_loss": round(v, 4)} for C, v in losses.items()}

    # 3. the in-scope model on out-of-fold features, its regularisation and threshold out of fold too
    x = FusionModel.scope_features(pair_scores, signals, head_oof[head_c])
    scope_losses, scope_oof = {}, {}
    for C in SCOPE_C:
        scope_oof[C] = _oof_binary(x, in_scope, w, folds, C, standardise=True)
        scope_losses[C] = _log_loss(scope_oof[C], in_scope, w)
    scope_c = min(SCOPE_C, key=lambda C: scope_losses[C])
    report.candidates["scope_C"] = {str(C): {"log_loss": round(v, 4)} for C, v in scope_losses.items()}
    threshold = choose_threshold(scope_oof[scope_c], in_scope)

    top1, top3 = candidates[pair_c]
    report.choices = {"pair_C": pair_c, "head_C": head_c, "scope_C": scope_c, "scope_threshold": round(threshold, 4)}
    report.out_of_fold = {"top1": round(top1, 4), "top3": round(top3, 4),
                          **scope_figures(scope_oof[scope_c], in_scope, threshold)}

    feats = signals.pair_features()
    pair = _fit_pair(feats, y, pair_c)
    head = _binary(signals.embeddings, in_scope, w, head_c, standardise=False)
    without = np.delete(x, SCOPE_FEATURES.index("head_logit"), axis=1)
    fusion = FusionModel(
        pair_coef=tuple(float(c) for c in pair.coef_[0]),
        pair_intercept=float(pair.intercept_[0]),
        scope=_binary(x, in_scope, w, scope_c, standardise=True),
        scope_without_head=_binary(without, in_scope, w, scope_c, standardise=True),
        head_coef=tuple(round(c, 6) for c in head.coef),
        head_intercept=head.intercept,
        scope_threshold=round(threshold, 4),
        model=model,
        fitted_on=fitted_on,
        settings=settings,
    )
    return fusion, report
