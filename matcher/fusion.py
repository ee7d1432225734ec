"""Fusing the dense and lexical signals into one calibrated score per direction.

The score of a (text, direction) pair is a logistic model over a few features
of both signals, each standardised within the text so that scores are
comparable across short titles and long abstracts. Fitted on the labelled
``dev`` split it is a calibrated probability that the direction is a right
answer for the text: 0.8 means "right about 8 times in 10".

Whether a text belongs to the call at all is decided by an in-scope head: a
logistic model on the text's embedding, fitted on dev (technical R&D proposals
against near misses such as sugar logistics or pension insurance). Without a
fitted head (another model directory, or no labelled data) a logistic rule
over the best score, its margin and the raw similarities decides instead.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

PAIR_FEATURES = ("dense_terms", "dense_terms_z", "dense_text_z", "lexical_z", "terms_share")
SCOPE_FEATURES = ("top", "margin", "top_dense_terms", "top_lexical_log")


def _z(x: np.ndarray) -> np.ndarray:
    """Standardise each row: how far a direction stands out among the 40 for this text."""
    return (x - x.mean(axis=1, keepdims=True)) / (x.std(axis=1, keepdims=True) + 1e-6)


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


@dataclass(frozen=True)
class Signals:
    """Raw signals for a batch of texts: arrays of shape (n_texts, n_directions) unless noted."""

    dense_text: np.ndarray
    """Cosine of the text and the direction's title + official wording."""
    dense_terms: np.ndarray
    """Mean cosine of the text and the direction's three nearest curated terms."""
    lexical: np.ndarray
    """BM25 of the segmented text against the direction document."""
    term_hits: np.ndarray
    """Number of the direction's curated terms found in the text."""
    embeddings: np.ndarray
    """(n_texts, dim) query embeddings of the texts."""

    def pair_features(self) -> np.ndarray:
        """(n_texts, n_directions, len(PAIR_FEATURES))."""
        hits = self.term_hits.astype(np.float32)
        total = hits.sum(axis=1, keepdims=True)
        share = np.divide(hits, total, out=np.zeros_like(hits), where=total > 0)
        return np.stack(
            [self.dense_terms, _z(self.dense_terms), _z(self.dense_text), _z(self.lexical), share], axis=-1
        )

    @classmethod
    def concat(cls, parts: list["Signals"]) -> "Signals":
        return cls(**{f: np.concatenate([getattr(p, f) for p in parts]) for f in cls.__dataclass_fields__})


@dataclass(frozen=True)
class FusionModel:
    """Weights of the fusion, stored as JSON in ``models/fusion.json``."""

    pair_coef: tuple[float, ...]
    pair_intercept: float
    scope_coef: tuple[float, ...]
    scope_intercept: float
    head_coef: tuple[float, ...] | None = None
    head_intercept: float = 0.0
    scope_threshold: float = 0.5
    model: str | None = None
    """Name of the model directory the weights were fitted with; the head only applies to it."""
    fitted_on: str = "corpus-only defaults"

    def score(self, signals: Signals) -> np.ndarray:
        """Calibrated per-direction scores in [0, 1], shape (n_texts, n_directions)."""
        z = signals.pair_features() @ np.asarray(self.pair_coef) + self.pair_intercept
        return _sigmoid(z)

    @staticmethod
    def scope_features(scores: np.ndarray, signals: Signals) -> np.ndarray:
        rows = np.arange(scores.shape[0])
        order = np.argsort(-scores, axis=1)
        top = scores[rows, order[:, 0]]
        second = scores[rows, order[:, 1]] if scores.shape[1] > 1 else np.zeros_like(top)
        return np.stack(
            [top, top - second, signals.dense_terms.max(axis=1), np.log1p(signals.lexical.max(axis=1))], axis=1
        )

    def has_head(self, signals: Signals) -> bool:
        return self.head_coef is not None and signals.embeddings.shape[1] == len(self.head_coef)

    def in_scope_probability(self, scores: np.ndarray, signals: Signals) -> np.ndarray:
        """Probability that each text belongs to the call at all."""
        if self.has_head(signals):
            return _sigmoid(signals.embeddings @ np.asarray(self.head_coef) + self.head_intercept)
        z = self.scope_features(scores, signals) @ np.asarray(self.scope_coef) + self.scope_intercept
        return _sigmoid(z)

    def for_model(self, model_name: str) -> "FusionModel":
        """These weights, without the embedding head when it was fitted on another model."""
        if self.model in (None, model_name):
            return self
        return FusionModel(**(asdict(self) | {"head_coef": None, "head_intercept": 0.0}))

    def save(self, path: Path) -> None:
        data = asdict(self) | {"pair_features": PAIR_FEATURES, "scope_features": SCOPE_FEATURES}
        Path(path).write_text(json.dumps(data, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, path: Path | None) -> "FusionModel":
        """The fitted model at ``path``, or the corpus-only defaults when there is none."""
        if path is None or not Path(path).is_file():
            return DEFAULT_FUSION
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        if tuple(data.pop("pair_features", ())) != PAIR_FEATURES or tuple(data.pop("scope_features", ())) != SCOPE_FEATURES:
            raise ValueError(f"{path}: fitted for other features; refit with `guide-match calibrate`")
        for key in ("pair_coef", "scope_coef", "head_coef"):
            if data.get(key) is not None:
                data[key] = tuple(data[key])
        return cls(**data)

    @classmethod
    def fit(
        cls, signals: Signals, labels: list[list[int]], direction_ids: list[int], model: str, fitted_on: str
    ) -> "FusionModel":
        """Fit the pair model, the fallback scope rule and the embedding head on labelled texts.

        ``labels`` holds each text's direction ids; an empty list marks an out-of-scope text.
        """
        from sklearn.linear_model import LogisticRegression

        col = {d: j for j, d in enumerate(direction_ids)}
        feats = signals.pair_features()
        y = np.zeros(feats.shape[:2], dtype=int)
        for i, ids in enumerate(labels):
            for d in ids:
                y[i, col[d]] = 1
        pair = LogisticRegression(C=1.0, max_iter=5000).fit(feats.reshape(-1, feats.shape[-1]), y.ravel())
        interim = cls(tuple(pair.coef_[0]), float(pair.intercept_[0]), (0.0,) * len(SCOPE_FEATURES), 0.0)
        scores = interim.score(signals)
        in_scope = np.array([bool(ids) for ids in labels], dtype=int)
        scope = LogisticRegression(C=1.0, max_iter=5000, class_weight="balanced").fit(
            cls.scope_features(scores, signals), in_scope
        )
        head = LogisticRegression(C=10.0, max_iter=5000, class_weight="balanced").fit(signals.embeddings, in_scope)
        return cls(
            pair_coef=tuple(float(c) for c in pair.coef_[0]),
            pair_intercept=float(pair.intercept_[0]),
            scope_coef=tuple(float(c) for c in scope.coef_[0]),
            scope_intercept=float(scope.intercept_[0]),
            head_coef=tuple(round(float(c), 6) for c in head.coef_[0]),
            head_intercept=float(head.intercept_[0]),
            model=model,
            fitted_on=fitted_on,
        )


# Hand-set before any labelled data: a direction must stand out among the 40
# in term similarity, wording and BM25 at once. Replaced by models/fusion.json.
DEFAULT_FUSION = FusionModel(
    pair_coef=(10.0, 0.8, 0.6, 0.6, 2.0),
    pair_intercept=-14.0,
    scope_coef=(3.0, 1.0, 60.0, 0.5),
    scope_intercept=-55.0,
)
