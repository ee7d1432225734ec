"""The Matcher: a load-once object that ranks the guide's directions for proposal texts."""
from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

import corpus
from corpus import Cluster, Direction

from .config import MatcherConfig
from .dense import DenseEncoder
from .errors import InputError
from .fusion import FusionModel, Signals
from .lexical import LexicalIndex
from .results import ClusterScore, DirectionMatch, MatchResult
from .text import Segmenter, TermSpotter, meaningful_length, normalize
from .version import package_version

_CHUNK = 64


def _limit_blas(threads: int) -> None:
    """Cap numpy's BLAS pool for the process (like ``torch.set_num_threads``), see MatcherConfig.blas_threads."""
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=threads, user_api="blas")


def direction_passage(d: Direction) -> str:
    """The passage that stands for a direction's official wording in the embedding space."""
    return f"{d.title}：{d.text}"


def direction_document(d: Direction) -> str:
    """The text BM25 indexes for a direction."""
    return " ".join([d.title, d.text, *d.terms])


class Matcher:
    """Ranks the 40 directions of the guide for Chinese (or English) proposal texts.

    Load once with :meth:`load`; the object is read-only afterwards and safe to
    share across threads (model calls are serialised, everything else is pure).
    """

    def __init__(
        self,
        directions: Sequence[Direction],
        clusters: Sequence[Cluster],
        encoder: DenseEncoder,
        fusion: FusionModel,
        config: MatcherConfig,
        stopwords: frozenset[str] = frozenset(),
    ):
        self.directions = tuple(directions)
        self.clusters = tuple(clusters)
        self.config = config
        if config.blas_threads:
            _limit_blas(config.blas_threads)
        self.encoder = encoder
        self.fusion = fusion
        all_terms = [t for d in self.directions for t in d.terms]
        self.segmenter = Segmenter(all_terms, stopwords)
        self._spotter = TermSpotter(all_terms)
        self._direction_terms = [frozenset(d.terms) for d in self.directions]
        self.lexical = LexicalIndex(
            [self.segmenter.tokens(normalize(direction_document(d))) for d in self.directions],
            k1=config.bm25_k1,
            b=config.bm25_b,
        )
        # Directions are embedded twice: their official wording as a passage, and each curated
        # term as a short query, which sits closer to how proposals phrase the same topic.
        self._text_emb = encoder.cached([direction_passage(d) for d in self.directions], config.passage_prompt, config.cache_dir)
        self._term_emb = encoder.cached([t for d in self.directions for t in d.terms], config.query_prompt, config.cache_dir)
        bounds = np.cumsum([0] + [len(d.terms) for d in self.directions])
        width = max(len(d.terms) for d in self.directions)
        # (directions, widest) column indices into the term similarities; the pad column is -inf
        self._term_index = np.full((len(self.directions), width), bounds[-1], dtype=np.int64)
        for j, (lo, hi) in enumerate(zip(bounds[:-1], bounds[1:])):
            self._term_index[j, : hi - lo] = np.arange(lo, hi)
        self._top_terms = min(config.dense_top_terms, width)
        self._top_counts = np.maximum(np.minimum(np.diff(bounds), self._top_terms), 1).astype(np.float32)
        self.version = self._version()

    @classmethod
    def load(cls, config: MatcherConfig | None = None, **overrides) -> "Matcher":
        """Load corpus, model and fitted fusion weights (see :class:`MatcherConfig` for overrides)."""
        config = config or MatcherConfig.from_env(**overrides)
        return cls(
            directions=corpus.load_directions(),
            clusters=corpus.load_clusters(),
            encoder=DenseEncoder(config),
            fusion=FusionModel.load(config.fusion_path).for_model(Path(config.model_dir).name),
            config=config,
            stopwords=corpus.load_stopwords(),
        )

    def _version(self) -> str:
        h = hashlib.sha256()
        for d in self.directions:
            h.update(f"{d.id}|{d.text}|{'、'.join(d.terms)}".encode())
        return (
            f"guide-match {package_version()}; corpus {h.hexdigest()[:8]}; "
            f"model {self.encoder.model_dir.name}@{self.encoder.fingerprint[:8]}; fusion {self.fusion.fitted_on}"
        )

    # -- input checks -------------------------------------------------------------------------
    def check_text(self, text: object, field: str = "text", max_chars: int | None = None) -> str:
        """The normalised text, or an :class:`InputError` saying what is wrong and what is accepted.

        ``max_chars`` lowers the configured maximum (a deployment may accept less).
        """
        limit = min(self.config.max_text_chars, max_chars or self.config.max_text_chars)
        if not isinstance(text, str):
            raise InputError(
                f"{field} must be a string of Chinese or English text, got {type(text).__name__}", field, "wrong_type"
            )
        if len(text) > limit:
            raise InputError(
                f"{field} is {len(text)} characters long; at most {limit} are accepted "
                "(a title and abstract, not a whole proposal)",
                field,
                "text_too_long",
            )
        norm = normalize(text)
        if len(norm) > limit:  # compatibility characters can expand many times under NFKC
            raise InputError(
                f"{field} is {len(norm)} characters long once normalised (compatibility characters such as "
                f"ligatures expand); at most {limit} are accepted",
                field,
                "text_too_long",
            )
        if not norm:
            raise InputError(f"{field} is empty; give a project title or abstract", field, "text_empty")
        if meaningful_length(norm) < self.config.min_text_chars:
            raise InputError(
                f"{field} is too short to judge ({meaningful_length(norm)} characters of content); "
                f"give at least a project title of {self.config.min_text_chars} or more characters",
                field,
                "text_too_short",
            )
        return norm

    def check_top_k(self, top_k: object) -> int:
        n = len(self.directions)
        if isinstance(top_k, bool) or not isinstance(top_k, (int, np.integer)) or not 1 <= top_k <= n:
            raise InputError(f"top_k must be an integer from 1 to {n}, got {top_k!r:.40}", "top_k", "top_k_out_of_range")
        return int(top_k)

    # -- matching -----------------------------------------------------------------------------
    def signals(self, normalized: Sequence[str], embeddings: np.ndarray | None = None) -> tuple[Signals, list[list[set[str]]]]:
        """Dense, lexical and term signals for already checked texts, and the terms found.

        ``embeddings``: the texts' query embeddings when the caller has them already.
        """
        q = self.encoder.encode_queries(normalized) if embeddings is None else embeddings
        term_sims = q @ self._term_emb.T
        # Each direction's k nearest terms at once: its terms' columns, padded with -inf.
        padded = np.concatenate([term_sims, np.full((len(normalized), 1), -np.inf, dtype=term_sims.dtype)], axis=1)
        top = -np.partition(-padded[:, self._term_index], self._top_terms - 1, axis=2)[:, :, : self._top_terms]
        dense_terms = np.where(np.isfinite(top), top, 0.0).sum(axis=2) / self._top_counts
        tokens = [self.segmenter.tokens(t) for t in normalized]
        lexical = np.stack([self.lexical.scores(tok) for tok in tokens])
        found = [self._terms_by_direction(self._spotter.find(t, tok)) for t, tok in zip(normalized, tokens)]
        hits = np.array([[len(f) for f in row] for row in found], dtype=np.float32)
        signals = Signals(
            dense_text=q @ self._text_emb.T, dense_terms=dense_terms, lexical=lexical, term_hits=hits, embeddings=q
        )
        return signals, found

    def _terms_by_direction(self, found: set[str]) -> list[set[str]]:
        return [set(found & terms) for terms in self._direction_terms]

    def _results(self, texts: Sequence[str], signals: Signals, found: list[list[set[str]]], top_k: int) -> list[MatchResult]:
        """Results for ``texts`` as sent (spans refer to them), from their signals."""
        scores = self.fusion.score(signals)
        scope = self.fusion.in_scope_probability(scores, signals)
        results = []
        for i in range(scores.shape[0]):
            order = np.argsort(-scores[i], kind="stable")[:top_k]
            shown = set().union(*(found[i][j] for j in order))
            spans = self._spotter.spans(texts[i], shown) if shown else {}
            matches = tuple(self._direction_match(i, j, scores, signals, found, spans) for j in order)
            in_scope = bool(scope[i] >= self.fusion.scope_threshold)
            best = matches[0]
            also = tuple(
                m.id for m in matches[1:] if in_scope and m.score >= self.config.second_ratio * best.score
            )
            results.append(
                MatchResult(
                    in_scope=in_scope,
                    in_scope_score=round(float(scope[i]), 4),
                    directions=matches,
                    clusters=self._cluster_scores(scores[i]),
                    also_fits=also,
                    message=self._message(in_scope, best, also),
                    version=self.version,
                )
            )
        return results

    def _direction_match(self, i, j, scores, signals, found, spans: dict[str, list[tuple[int, int]]]) -> DirectionMatch:
        d = self.directions[j]
        terms = tuple(t for t in d.terms if t in found[i][j])
        return DirectionMatch(
            id=d.id,
            title=d.title,
            score=round(float(scores[i, j]), 4),
            cluster=d.clusters[0] if d.clusters else None,
            clusters=d.clusters,
            matched_terms=terms,
            matched_spans=tuple(sorted(s for t in terms for s in spans.get(t, ()))),
            dense=round(float(signals.dense_text[i, j]), 4),
            lexical=round(float(signals.lexical[i, j]), 3),
        )

    def _cluster_scores(self, row: np.ndarray) -> tuple[ClusterScore, ...]:
        best = {c.name: 0.0 for c in self.clusters}
        for j, d in enumerate(self.directions):
            for name in d.clusters:
                best[name] = max(best[name], float(row[j]))
        ranked = sorted(best.items(), key=lambda kv: -kv[1])
        return tuple(ClusterScore(name=n, score=round(s, 4)) for n, s in ranked)

    @staticmethod
    def _message(in_scope: bool, best: DirectionMatch, also: tuple[int, ...]) -> str:
        if not in_scope:
            return (
                "未找到合适的支持方向：该文本与指南40个方向的匹配度都不高，可能不属于本专项支持范围。"
                f"最接近的是方向{best.id}（{best.title}）。"
            )
        text = f"最匹配方向{best.id}（{best.title}）。"
        if also:
            text += "方向" + "、".join(str(a) for a in also) + "也较接近，可一并参考。"
        return text

    def match(self, text: str, top_k: int = 5, max_chars: int | None = None) -> MatchResult:
        """Rank the directions for one title or abstract (``max_chars``: a lower length limit, see check_text)."""
        top_k = self.check_top_k(top_k)
        norm = self.check_text(text, max_chars=max_chars)
        signals, found = self.signals([norm])
        return self._results([text], signals, found, top_k)[0]

    def match_many(
        self,
        texts: Sequence[str],
        top_k: int = 5,
        on_error: str = "raise",
        progress: Callable[[int], None] | None = None,
    ) -> list[MatchResult | InputError]:
        """Rank the directions for many texts, batched through the model.

        ``on_error="raise"`` stops at the first bad text; ``"return"`` puts the
        :class:`InputError` in that text's place and carries on, so one empty row
        never sinks a batch of hundreds. ``progress`` is called with the number
        of texts finished after each chunk.
        """
        if on_error not in ("raise", "return"):
            raise ValueError(f"on_error must be 'raise' or 'return', got {on_error!r}")
        top_k = self.check_top_k(top_k)
        out: list[MatchResult | InputError | None] = [None] * len(texts)
        good: list[tuple[int, str]] = []
        for i, text in enumerate(texts):
            try:
                good.append((i, self.check_text(text)))
            except InputError as err:
                if on_error == "raise":
                    raise
                out[i] = err
        if progress and len(good) < len(texts):
            progress(len(texts) - len(good))
        chunks = [[t for _, t in good[s : s + _CHUNK]] for s in range(0, len(good), _CHUNK)]
        # The model embeds the next chunk while this thread segments and scores the current one.
        with ThreadPoolExecutor(1, thread_name_prefix="guide-match-embed") as model_thread:
            pending = model_thread.submit(self.encoder.encode_queries, chunks[0]) if chunks else None
            for k, chunk in enumerate(chunks):
                q = pending.result()
                if k + 1 < len(chunks):
                    pending = model_thread.submit(self.encoder.encode_queries, chunks[k + 1])
                signals, found = self.signals(chunk, embeddings=q)
                rows = [i for i, _ in good[k * _CHUNK : k * _CHUNK + len(chunk)]]
                for i, res in zip(rows, self._results([texts[i] for i in rows], signals, found, top_k)):
                    out[i] = res
                if progress:
                    progress(len(chunk))
        return out  # type: ignore[return-value]
