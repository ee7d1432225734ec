"""The signals a text gives about each direction: dense similarity, BM25, terms found, and what the text is.

:class:`SignalExtractor` holds what the directions are in each signal's space (embeddings of their
wording and terms, a BM25 index, the term spotter) and turns normalised texts into
:class:`Signals`. The dense signal reads a text's opening (``query_max_tokens``); a long text,
whose opening is often background (行业现状, 国内外研究进展…), is read at its best window as
well: the one holding most of the guide's terms, and each direction takes the closer of the two.
"""
from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from corpus import Direction
from models.onnx_export import kept_char

from .config import MatcherConfig
from .dense import DenseEncoder
from .lexical import LexicalIndex
from .text import Segmenter, TermSpotter, normalize

_LETTERS = re.compile(r"[^\W\d_]+")


@dataclass(frozen=True)
class SignalSettings:
    """How texts are read; chosen by cross-validation on dev and stored with the fitted weights."""

    query_max_tokens: int = 128
    """The dense signal reads a text's first this many tokens (prompt and special tokens included);
    0: the whole text, in windows of the model's length, averaged."""
    dense_top_terms: int = 3
    """A direction's term similarity is the mean over its this many nearest terms."""
    long_text_windows: int = 4
    """A text of at least this many windows of query_max_tokens is also read at its best window; 0: never."""


@dataclass(frozen=True)
class Signals:
    """Raw signals for a batch of texts: arrays of shape (n_texts, n_directions) unless noted."""

    dense_text: np.ndarray
    """Cosine of the text and the direction's title + official wording."""
    dense_terms: np.ndarray
    """Mean cosine of the text and the direction's nearest curated terms."""
    lexical: np.ndarray
    """BM25 of the segmented text against the direction document."""
    term_hits: np.ndarray
    """Number of the direction's curated terms found in the text."""
    embeddings: np.ndarray
    """(n_texts, dim) query embeddings of the texts."""
    content_chars: np.ndarray
    """(n_texts,) characters of content words once boilerplate (stop words) is removed."""
    unk_share: np.ndarray
    """(n_texts,) share of letters in words the model cannot read (scripts other than Chinese, Latin-1, Greek)."""
    latin_share: np.ndarray
    """(n_texts,) share of letters that are Latin: English texts carry fewer Chinese terms."""

    def pair_features(self) -> np.ndarray:
        """(n_texts, n_directions, 5): see :data:`matcher.fusion.PAIR_FEATURES`."""
        hits = self.term_hits.astype(np.float32)
        total = hits.sum(axis=1, keepdims=True)
        share = np.divide(hits, total, out=np.zeros_like(hits), where=total > 0)
        return np.stack([self.dense_terms, _z(self.dense_terms), _z(self.dense_text), _z(self.lexical), share], axis=-1)

    def subset(self, rows) -> "Signals":
        return Signals(**{f: getattr(self, f)[rows] for f in self.__dataclass_fields__})

    @classmethod
    def concat(cls, parts: list["Signals"]) -> "Signals":
        return cls(**{f: np.concatenate([getattr(p, f) for p in parts]) for f in cls.__dataclass_fields__})


def _z(x: np.ndarray) -> np.ndarray:
    """Standardise each row: how far a direction stands out among the 40 for this text."""
    return (x - x.mean(axis=1, keepdims=True)) / (x.std(axis=1, keepdims=True) + 1e-6)


@dataclass(frozen=True)
class QueryEmbeddings:
    """A batch's embeddings: each text's opening, and the best window of the long ones (None for the others).

    Finding a long text's best window segments it and spots its terms; ``tokens`` and ``found`` keep
    them (None for the texts not segmented) so that :meth:`SignalExtractor.signals` does not redo it.
    """

    head: np.ndarray
    extra: tuple[np.ndarray | None, ...]
    tokens: tuple[list[str] | None, ...]
    found: tuple[set[str] | None, ...]


def direction_passage(d: Direction) -> str:
    """The passage that stands for a direction's official wording in the embedding space."""
    return f"{d.title}：{d.text}"


def direction_document(d: Direction) -> str:
    """The text BM25 indexes for a direction."""
    return " ".join([d.title, d.text, *d.terms])


def script_shares(normalized_text: str) -> tuple[float, float]:
    """(share of letters in words the model cannot read, share of letters that are Latin).

    A word the model cannot read holds a letter outside the scripts its vocabulary keeps
    (Chinese, Latin-1, Greek): Vietnamese, Thai or Cyrillic words map to ``<unk>``.
    """
    letters = unreadable = latin = 0
    for word in _LETTERS.findall(normalized_text):
        letters += len(word)
        latin += sum(ch.isascii() for ch in word)
        if not all(kept_char(ch) for ch in word):
            unreadable += len(word)
    return (unreadable / letters, latin / letters) if letters else (0.0, 0.0)


class SignalExtractor:
    """The directions in every signal's space, and the signals of texts against them."""

    def __init__(self, directions: Sequence[Direction], encoder: DenseEncoder, config: MatcherConfig,
                 stopwords: frozenset[str] = frozenset()):
        self.directions = tuple(directions)
        self.encoder = encoder
        self.prompt = config.query_prompt
        all_terms = [t for d in self.directions for t in d.terms]
        self.segmenter = Segmenter(all_terms, stopwords)
        self.spotter = TermSpotter(all_terms)
        self._direction_terms = [frozenset(d.terms) for d in self.directions]
        self.lexical = LexicalIndex(
            [self.segmenter.tokens(normalize(direction_document(d))) for d in self.directions],
            k1=config.bm25_k1, b=config.bm25_b,
        )
        # Directions are embedded twice: their official wording as a passage, and each curated
        # term as a short query, which sits closer to how proposals phrase the same topic.
        self.text_emb = encoder.cached([direction_passage(d) for d in self.directions], config.passage_prompt,
                                       config.cache_dir)
        self.term_emb = encoder.cached(all_terms, config.query_prompt, config.cache_dir)
        bounds = np.cumsum([0] + [len(d.terms) for d in self.directions])
        width = max(len(d.terms) for d in self.directions)
        # (directions, widest) column indices into the term similarities; the pad column is -inf
        self._term_index = np.full((len(self.directions), width), bounds[-1], dtype=np.int64)
        for j, (lo, hi) in enumerate(zip(bounds[:-1], bounds[1:])):
            self._term_index[j, : hi - lo] = np.arange(lo, hi)
        self._n_terms = np.diff(bounds)

    # -- the dense signal -----------------------------------------------------------------------
    def embed(self, normalized: Sequence[str], settings: SignalSettings, head: np.ndarray | None = None) -> QueryEmbeddings:
        """Embeddings of the texts' openings (``head``: when the caller has them), and of each long text's best window."""
        if head is None:
            head = self.encoder.encode(normalized, self.prompt, settings.query_max_tokens)
        n = len(normalized)
        extra: list[np.ndarray | None] = [None] * n
        tokens: list[list[str] | None] = [None] * n
        found: list[set[str] | None] = [None] * n
        best: dict[int, str] = {}
        for i, text in enumerate(normalized):
            windows = self._long_text_windows(text, settings)
            if windows:
                tokens[i] = self.segmenter.tokens(text)
                found[i] = self.spotter.find(text, tokens[i])
                best[i] = self._best_window(text, windows, found[i])
        if best:
            for i, e in zip(best, self.encoder.encode(list(best.values()), self.prompt, settings.query_max_tokens)):
                extra[i] = e
        return QueryEmbeddings(head, tuple(extra), tuple(tokens), tuple(found))

    def _long_text_windows(self, text: str, settings: SignalSettings) -> list[tuple[int, int, int]]:
        """The windows of ``query_max_tokens`` a long text is cut into; empty for a text that is not long."""
        if not settings.long_text_windows or not settings.query_max_tokens:
            return []
        size = settings.query_max_tokens - self.encoder.prompt_tokens(self.prompt) - 2
        if len(text) < size * settings.long_text_windows:  # a token is at least one character
            return []
        windows = self.encoder.windows(text, size)
        return windows if len(windows) >= settings.long_text_windows else []

    def _best_window(self, text: str, windows: list[tuple[int, int, int]], found: set[str]) -> str:
        """The window after the opening that holds most of the guide's terms."""
        spans = self.spotter.spans(text, found)
        starts = np.array([a for _, occurrences in spans.items() for a, _ in occurrences], dtype=np.int64)
        counts = np.bincount(np.searchsorted([a for a, _, _ in windows], starts, side="right") - 1,
                             minlength=len(windows))
        a, b, _ = windows[int(np.argmax(counts[1:])) + 1]
        return text[a:b]

    def _dense(self, q: np.ndarray, top_terms: int) -> tuple[np.ndarray, np.ndarray]:
        term_sims = q @ self.term_emb.T
        padded = np.concatenate([term_sims, np.full((len(q), 1), -np.inf, dtype=term_sims.dtype)], axis=1)
        k = min(top_terms, self._term_index.shape[1])
        top = -np.partition(-padded[:, self._term_index], k - 1, axis=2)[:, :, :k]
        counts = np.maximum(np.minimum(self._n_terms, k), 1).astype(np.float32)
        return np.where(np.isfinite(top), top, 0.0).sum(axis=2) / counts, q @ self.text_emb.T

    # -- all signals ----------------------------------------------------------------------------
    def signals(self, normalized: Sequence[str], settings: SignalSettings,
                embedded: QueryEmbeddings | None = None) -> tuple[Signals, list[list[set[str]]]]:
        """Signals of already checked texts, and the terms found per direction."""
        q = embedded or self.embed(normalized, settings)
        dense_terms, dense_text = self._dense(q.head, settings.dense_top_terms)
        embeddings = q.head.copy()
        for i, e in enumerate(q.extra):
            if e is not None:  # each direction takes the closer of the opening and the best window
                t, x = self._dense(e[None, :], settings.dense_top_terms)
                dense_terms[i] = np.maximum(dense_terms[i], t[0])
                dense_text[i] = np.maximum(dense_text[i], x[0])
                mean = q.head[i] + e
                embeddings[i] = mean / np.linalg.norm(mean)
        tokens = [tok if tok is not None else self.segmenter.tokens(t) for t, tok in zip(normalized, q.tokens)]
        lexical = np.stack([self.lexical.scores(tok) for tok in tokens])
        found = [self._terms_by_direction(f if f is not None else self.spotter.find(t, tok))
                 for t, tok, f in zip(normalized, tokens, q.found)]
        hits = np.array([[len(f) for f in row] for row in found], dtype=np.float32)
        shares = np.array([script_shares(t) for t in normalized], dtype=np.float64).reshape(-1, 2)
        signals = Signals(
            dense_text=dense_text, dense_terms=dense_terms, lexical=lexical, term_hits=hits, embeddings=embeddings,
            content_chars=np.array([sum(map(len, tok)) for tok in tokens], dtype=np.float64),
            unk_share=shares[:, 0], latin_share=shares[:, 1],
        )
        return signals, found

    def _terms_by_direction(self, found: set[str]) -> list[set[str]]:
        return [set(found & terms) for terms in self._direction_terms]
