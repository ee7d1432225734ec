"""The Matcher: a load-once object that ranks the guide's directions for proposal texts."""
from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np

import corpus
from corpus import Cluster, Direction

from . import manifest
from .config import MatcherConfig
from .dense import DenseEncoder
from .errors import InputError
from .fusion import Decisions, FusionModel
from .results import ClusterScore, DirectionMatch, MatchResult
from .signals import SignalExtractor, Signals, SignalSettings
from .text import meaningful_length, normalize
from .version import package_version

_CHUNK = 64


def _limit_blas(threads: int) -> None:
    """Cap numpy's BLAS pool for the process (like ``torch.set_num_threads``), see MatcherConfig.blas_threads."""
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=threads, user_api="blas")


def effective_settings(config: MatcherConfig, fitted: dict) -> SignalSettings:
    """The signal settings in use: the configuration's where it sets one, else the fit's, else the defaults."""
    values = {}
    for f in dataclasses.fields(SignalSettings):
        given = getattr(config, f.name)
        values[f.name] = given if given is not None else fitted.get(f.name, f.default)
    return SignalSettings(**values)


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
        if fusion.model not in (None, encoder.model_dir.name):  # the embedding head belongs to its model
            fusion = dataclasses.replace(fusion, head_coef=None)
        self.fusion = fusion
        self.settings = effective_settings(config, fusion.settings)
        self.extractor = SignalExtractor(self.directions, encoder, config, stopwords)
        self.segmenter = self.extractor.segmenter
        self.fit_state = self._fit_state(stopwords)
        self.warnings = tuple(manifest.differences(fusion.manifest, self.fit_state))
        self.version = self._version()

    @classmethod
    def load(cls, config: MatcherConfig | None = None, **overrides) -> "Matcher":
        """Load corpus, model and fitted fusion weights (see :class:`MatcherConfig` for overrides)."""
        config = config or MatcherConfig.from_env(**overrides)
        try:
            fusion = FusionModel.load(config.fusion_path)
        except (OSError, ValueError) as err:
            raise InputError(str(err), "fusion_path", "not_fitted") from None
        return cls(
            directions=corpus.load_directions(),
            clusters=corpus.load_clusters(),
            encoder=DenseEncoder(config),
            fusion=fusion,
            config=config,
            stopwords=corpus.load_stopwords(),
        )

    def _fit_state(self, stopwords: frozenset[str]) -> dict:
        """What a fit records about the matcher (see :mod:`matcher.manifest`), as it is now."""
        runtime = manifest.runtime_versions()
        if self.encoder.backend.name != "onnx":
            runtime.pop("onnxruntime")
        return {
            "corpus": manifest.corpus_hash(self.directions, stopwords),
            "model": self.encoder.identity,
            # a fit on the project's labelled set is compared with that set as it is now
            "labelled": manifest.file_hash(corpus.LABELLED_PATH)
            if self.fusion.manifest.get("labelled_file") == corpus.LABELLED_PATH.name else None,
            "runtime": runtime,
            "settings": dataclasses.asdict(self.settings),
        }

    def _version(self) -> str:
        version = (
            f"guide-match {package_version()}; corpus {self.fit_state['corpus'][:8]}; "
            f"model {self.encoder.model_dir.name}@{self.encoder.fingerprint[:8]}; fusion {self.fusion.fitted_on}"
        )
        if self.warnings:
            version += "; differs from the fit: " + ", ".join(self.warnings)
        return version

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
                f"{field} is {len(text)} characters long; at most {limit} are accepted", field, "text_too_long"
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
    def signals(self, normalized: Sequence[str]) -> tuple[Signals, list[list[set[str]]]]:
        """Signals of already checked texts (see :meth:`check_text`), and the terms found per direction."""
        return self.extractor.signals(normalized, self.settings)

    def decide(self, signals: Signals) -> tuple[np.ndarray, Decisions]:
        """Calibrated direction scores and the in-scope decisions for the texts' signals."""
        scores = self.fusion.score(signals)
        return scores, self.fusion.decide(scores, signals)

    def _results(self, texts: Sequence[str], signals: Signals, found: list[list[set[str]]], top_k: int) -> list[MatchResult]:
        """Results for ``texts`` as sent (spans refer to them), from their signals."""
        scores, decisions = self.decide(signals)
        results = []
        for i in range(scores.shape[0]):
            reason = decisions.reason[i]
            in_scope = reason == "fits"
            if reason == "unsupported_language":  # the model cannot read it: no direction is guessed
                matches: tuple[DirectionMatch, ...] = ()
                clusters: tuple[ClusterScore, ...] = ()
            else:
                order = np.argsort(-scores[i], kind="stable")[:top_k]
                shown = set().union(*(found[i][j] for j in order))
                spans = self.extractor.spotter.spans(texts[i], shown) if shown else {}
                matches = tuple(self._direction_match(i, j, scores, signals, found, spans) for j in order)
                clusters = self._cluster_scores(scores[i])
            also = tuple(m.id for m in matches[1:] if in_scope and m.score >= self.config.second_ratio * matches[0].score)
            results.append(
                MatchResult(
                    in_scope=in_scope,
                    in_scope_score=round(float(decisions.probability[i]), 4),
                    reason=reason,
                    directions=matches,
                    clusters=clusters,
                    also_fits=also,
                    message=self._message(reason, matches[0] if matches else None, also),
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
    def _message(reason: str, best: DirectionMatch | None, also: tuple[int, ...]) -> str:
        if reason == "unsupported_language":
            return ("暂不支持该语言：本工具只能阅读中文和英文文本（Chinese and English are supported），"
                    "请提供中文或英文的项目名称和摘要。")
        if reason == "too_vague":
            return ("内容过于笼统，无法判断所属方向：文本只有“开展关键技术研究、实现产业化”一类的套话，"
                    "没有说明研究对象和技术内容。请补充具体的产品、材料、工艺或技术。")
        if reason == "no_direction_fits":
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
        embed = lambda chunk: self.extractor.embed(chunk, self.settings)  # noqa: E731
        # The model embeds the next chunk while this thread segments and scores the current one.
        with ThreadPoolExecutor(1, thread_name_prefix="guide-match-embed") as model_thread:
            pending = model_thread.submit(embed, chunks[0]) if chunks else None
            for k, chunk in enumerate(chunks):
                q = pending.result()
                if k + 1 < len(chunks):
                    pending = model_thread.submit(embed, chunks[k + 1])
                signals, found = self.extractor.signals(chunk, self.settings, q)
                rows = [i for i, _ in good[k * _CHUNK : k * _CHUNK + len(chunk)]]
                for i, res in zip(rows, self._results([texts[i] for i in rows], signals, found, top_k)):
                    out[i] = res
                if progress:
                    progress(len(chunk))
        return out  # type: ignore[return-value]

