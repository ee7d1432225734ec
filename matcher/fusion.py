"""Fusing the dense and lexical signals into one calibrated score per direction.

The score of a (text, direction) pair is a logistic model over a few features
of both signals. Fitted on the labelled ``dev`` split it is a calibrated
probability that the direction is a right answer for the text, so 0.8 means
"right about 8 times in 10" and scores are comparable across texts. A second
logistic model over the best score and its margin decides ``in_scope``.

Without a fitted file the shipped corpus-only defaults below are used.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

PAIR_FEATURES = ("dense", "dense_gap", "lex_rel", "lex_log", "terms_log", "terms_share")
SCOPE_FEATURES = ("top", "margin", "top_dense", "top_lex_log")


@dataclass(frozen=True)
class Signals:
    """Raw signals for a batch: arrays of shape (n_texts, n_directions)."""

    dense: np.ndarray
    lexical: np.ndarray
    term_hits: np.ndarray

    def pair_features(self) -> np.ndarray:
        """(n_texts, n_directions, len(PAIR_FEATURES)) features, each comparable across texts."""
        dense = self.dense
        gap = dense - dense.max(axis=1, keepdims=True)
        lex_max = self.lexical.max(axis=1, keepdims=True)
        lex_rel = np.divide(self.lexical, lex_max, out=np.zeros_like(self.lexical), where=lex_max > 0)
        lex_log = np.log1p(self.lexical)
        hits = self.term_hits.astype(np.float32)
        total = hits.sum(axis=1, keepdims=True)
        share = np.divide(hits, total, out=np.zeros_like(hits), where=total > 0)
        return np.stack([dense, gap, lex_rel, lex_log, np.log1p(hits), share], axis=-1)


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


@dataclass(frozen=True)
class FusionModel:
    """Weights of the two logistic models, stored as JSON in ``models/fusion.json``."""

    pair_coef: tuple[float, ...]
    pair_intercept: float
    scope_coef: tuple[float, ...]
    scope_intercept: float
    scope_threshold: float = 0.5
    fitted_on: str = "corpus-only defaults"

    def score(self, signals: Signals) -> np.ndarray:
        """Calibrated per-direction scores in [0, 1], shape (n_texts, n_directions)."""
        z = signals.pair_features() @ np.asarray(self.pair_coef) + self.pair_intercept
        return _sigmoid(z)

    @staticmethod
    def scope_features(scores: np.ndarray, signals: Signals) -> np.ndarray:
        order = np.argsort(-scores, axis=1)
        rows = np.arange(scores.shape[0])
        top = scores[rows, order[:, 0]]
        second = scores[rows, order[:, 1]] if scores.shape[1] > 1 else np.zeros_like(top)
        return np.stack(
            [top, top - second, signals.dense[rows, order[:, 0]], np.log1p(signals.lexical[rows, order[:, 0]])],
            axis=1,
        )

    def in_scope_probability(self, scores: np.ndarray, signals: Signals) -> np.ndarray:
        z = self.scope_features(scores, signals) @ np.asarray(self.scope_coef) + self.scope_intercept
        return _sigmoid(z)

    def save(self, path: Path) -> None:
        data = asdict(self) | {"pair_features": PAIR_FEATURES, "scope_features": SCOPE_FEATURES}
        Path(path).write_text(json.dumps(data, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, path: Path | None) -> "FusionModel":
        """The fitted model at ``path``, or the corpus-only defaults when there is none."""
        if path is None or not Path(path).is_file():
            return DEFAULT_FUSION
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        if tuple(data.get("pair_features", ())) != PAIR_FEATURES or tuple(data.get("scope_features", ())) != SCOPE_FEATURES:
            raise ValueError(f"{path}: fitted for other features; refit with `guide-match calibrate`")
        return cls(
            pair_coef=tuple(data["pair_coef"]),
            pair_intercept=float(data["pair_intercept"]),
            scope_coef=tuple(data["scope_coef"]),
            scope_intercept=float(data["scope_intercept"]),
            scope_threshold=float(data.get("scope_threshold", 0.5)),
            fitted_on=str(data.get("fitted_on", path)),
        )

    @classmethod
    def fit(cls, signals: Signals, labels: list[list[int]], direction_ids: list[int], fitted_on: str) -> "FusionModel":
        """Fit both logistic models on labelled texts (``labels``: direction ids, [] = out of scope)."""
        from sklearn.linear_model import LogisticRegression

        col = {d: j for j, d in enumerate(direction_ids)}
        feats = signals.pair_features()
        y = np.zeros(feats.shape[:2], dtype=int)
        for i, ids in enumerate(labels):
            for d in ids:
                y[i, col[d]] = 1
        pair = LogisticRegression(C=1.0, max_iter=2000).fit(feats.reshape(-1, feats.shape[-1]), y.ravel())
        interim = cls(tuple(pair.coef_[0]), float(pair.intercept_[0]), (0.0,) * len(SCOPE_FEATURES), 0.0)
        scores = interim.score(signals)
        in_scope = np.array([bool(ids) for ids in labels], dtype=int)
        scope = LogisticRegression(C=1.0, max_iter=2000, class_weight="balanced").fit(
            cls.scope_features(scores, signals), in_scope
        )
        return cls(
            pair_coef=tuple(float(c) for c in pair.coef_[0]),
            pair_intercept=float(pair.intercept_[0]),
            scope_coef=tuple(float(c) for c in scope.coef_[0]),
            scope_intercept=float(scope.intercept_[0]),
            fitted_on=fitted_on,
        )


# Hand-set before any labelled data: dense similarity dominates, BM25 and term
# evidence break ties. Replaced by ``models/fusion.json`` once fitted on dev.
DEFAULT_FUSION = FusionModel(
    pair_coef=(20.0, 25.0, 2.0, 0.3, 0.8, 1.0),
    pair_intercept=-19.0,
    scope_coef=(6.0, 2.0, 20.0, 0.5),
    scope_intercept=-20.0,
)
