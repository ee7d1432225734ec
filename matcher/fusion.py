"""Fusing the signals into one calibrated score per direction, and deciding whether a text is in scope.

The score of a (text, direction) pair is a logistic model over a few features of the dense and
lexical signals, each standardised within the text so that scores compare across titles and
long abstracts. Fitted on the labelled ``dev`` split it is a calibrated probability that the
direction is a right answer for the text: 0.8 means "right about 8 times in 10".

Whether a text belongs to the call is decided from the evidence, not from its writing style
alone: a logistic model over the best score, its margin, an embedding head's probability (is
this the kind of R&D the call funds?), the matched terms, the content left once boilerplate is
removed, and how much of the text the model can read. Two rules come first: a text the model
cannot read (mostly words outside Chinese and English) is ``unsupported_language``, and a text
with no content beyond boilerplate is ``too_vague``. Everything here is numpy; fitting, with
cross-validation, is :mod:`matcher.fitting`.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from .signals import Signals

PAIR_FEATURES = ("dense_terms", "dense_terms_z", "dense_text_z", "lexical_z", "terms_share")
SCOPE_FEATURES = (
    "top_logit", "margin_logit", "head_logit", "top_hits_log", "all_hits_log", "content_log",
    "unk_share", "latin_share", "top_dense_terms", "top_lexical_log",
)
REASONS = ("fits", "no_direction_fits", "too_vague", "unsupported_language")
FORMAT_VERSION = 2


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, 1e-4, 1 - 1e-4)
    return np.log(p / (1 - p))


@dataclass(frozen=True)
class Linear:
    """A standardised logistic model: sigmoid(((x - mean) / scale) · coef + intercept)."""

    coef: tuple[float, ...]
    intercept: float
    mean: tuple[float, ...]
    scale: tuple[float, ...]

    def probability(self, x: np.ndarray) -> np.ndarray:
        z = (x - np.asarray(self.mean)) / np.asarray(self.scale)
        return _sigmoid(z @ np.asarray(self.coef) + self.intercept)

    @classmethod
    def from_dict(cls, d: dict) -> "Linear":
        return cls(tuple(d["coef"]), float(d["intercept"]), tuple(d["mean"]), tuple(d["scale"]))


@dataclass(frozen=True)
class Decisions:
    """Per text: the in-scope probability and the reason (one of :data:`REASONS`)."""

    probability: np.ndarray
    reason: tuple[str, ...]

    @property
    def in_scope(self) -> np.ndarray:
        return np.array([r == "fits" for r in self.reason], dtype=bool)


@dataclass(frozen=True)
class FusionModel:
    """The fitted weights, stored as JSON in ``models/fusion.json`` with the manifest of what was fitted."""

    pair_coef: tuple[float, ...]
    pair_intercept: float
    scope: Linear
    """In-scope model over SCOPE_FEATURES."""
    scope_without_head: Linear
    """The same without head_logit, for a model directory the head was not fitted on."""
    head_coef: tuple[float, ...] | None = None
    head_intercept: float = 0.0
    scope_threshold: float = 0.5
    min_content_chars: int = 4
    """Fewer characters of content than this (boilerplate removed): too vague to judge."""
    max_unk_share: float = 0.5
    """More of the text's letters than this in words the model cannot read: unsupported language."""
    model: str | None = None
    """Name of the model directory the weights were fitted with; the head only applies to it."""
    fitted_on: str = "corpus-only defaults"
    settings: dict = field(default_factory=dict)
    """Signal settings chosen by cross-validation (query_max_tokens, dense_top_terms, long_text_windows)."""
    manifest: dict = field(default_factory=dict)
    """What was fitted: corpus and labelled-file hashes, split, model fingerprint, runtime versions, CV choices."""

    def score(self, signals: Signals) -> np.ndarray:
        """Calibrated per-direction scores in [0, 1], shape (n_texts, n_directions)."""
        z = signals.pair_features() @ np.asarray(self.pair_coef) + self.pair_intercept
        return _sigmoid(z)

    def head_probability(self, signals: Signals) -> np.ndarray | None:
        if self.head_coef is None or signals.embeddings.shape[1] != len(self.head_coef):
            return None
        return _sigmoid(signals.embeddings @ np.asarray(self.head_coef) + self.head_intercept)

    @staticmethod
    def scope_features(scores: np.ndarray, signals: Signals, head: np.ndarray | None) -> np.ndarray:
        """(n_texts, len(SCOPE_FEATURES)); the head_logit column is 0 when ``head`` is None."""
        n = scores.shape[0]
        rows = np.arange(n)
        order = np.argsort(-scores, axis=1)
        top = scores[rows, order[:, 0]]
        second = scores[rows, order[:, 1]] if scores.shape[1] > 1 else np.zeros_like(top)
        hits = signals.term_hits.astype(np.float64)
        return np.column_stack([
            _logit(top),
            _logit(np.maximum(top - second, 1e-4)),
            _logit(head) if head is not None else np.zeros(n),
            np.log1p(hits[rows, order[:, 0]]),
            np.log1p(hits.sum(axis=1)),
            np.log1p(signals.content_chars.astype(np.float64)),
            signals.unk_share,
            signals.latin_share,
            signals.dense_terms.max(axis=1),
            np.log1p(signals.lexical.max(axis=1)),
        ])

    def decide(self, scores: np.ndarray, signals: Signals) -> Decisions:
        """In-scope probability and reason of each text (the rules first, then the model)."""
        head = self.head_probability(signals)
        x = self.scope_features(scores, signals, head)
        if head is not None:
            p = self.scope.probability(x)
        else:
            p = self.scope_without_head.probability(np.delete(x, SCOPE_FEATURES.index("head_logit"), axis=1))
        reasons = []
        for i in range(len(p)):
            if signals.unk_share[i] > self.max_unk_share:
                reasons.append("unsupported_language")
            elif signals.content_chars[i] < self.min_content_chars:
                reasons.append("too_vague")
            else:
                reasons.append("fits" if p[i] >= self.scope_threshold else "no_direction_fits")
        # a text the rules set aside has no probability of belonging to the call worth reporting
        p = np.where([r in ("fits", "no_direction_fits") for r in reasons], p, 0.0)
        return Decisions(p, tuple(reasons))

    def save(self, path: Path) -> None:
        data = asdict(self) | {"format": FORMAT_VERSION, "pair_features": PAIR_FEATURES, "scope_features": SCOPE_FEATURES}
        Path(path).write_text(json.dumps(data, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, path: Path) -> "FusionModel":
        """The fitted model at ``path``; a clear error when it is missing or was fitted for other features."""
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"{path}: no fitted fusion weights; run `guide-match calibrate` (fits on dev)")
        data = json.loads(path.read_text(encoding="utf-8"))
        if (data.pop("format", None) != FORMAT_VERSION or tuple(data.pop("pair_features", ())) != PAIR_FEATURES
                or tuple(data.pop("scope_features", ())) != SCOPE_FEATURES):
            raise ValueError(f"{path}: fitted for other features; refit with `guide-match calibrate`")
        for key in ("pair_coef", "head_coef"):
            if data.get(key) is not None:
                data[key] = tuple(data[key])
        data["scope"] = Linear.from_dict(data["scope"])
        data["scope_without_head"] = Linear.from_dict(data["scope_without_head"])
        return cls(**data)
