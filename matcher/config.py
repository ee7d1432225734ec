"""All tunable settings of the matcher in one place.

Values can be overridden by environment variables (``GUIDE_MATCH_*``) so that a
deployment can point at another sentence-transformers model directory without
code changes.
"""
from __future__ import annotations

import os
import typing
from dataclasses import dataclass, field, fields, replace
from pathlib import Path

from models import DEFAULT_MODEL_DIR, MODELS_DIR

from .errors import InputError

MAX_TEXT_CHARS = 20_000
"""Longest text accepted; a proposal abstract is far shorter, a whole proposal is not what we match."""

MIN_TEXT_CHARS = 4
"""Below this many meaningful characters a text is too short to judge."""


def _parse(name: str, raw: str, kind: type) -> object:
    """An environment variable's value in the field's declared type (``X | None``: X), or a clear error."""
    var = f"GUIDE_MATCH_{name.upper()}"
    if kind is bool:
        if raw.strip().lower() not in ("1", "true", "yes", "on", "0", "false", "no", "off"):
            raise InputError(f"{var}={raw!r}: expected 1/0, true/false, yes/no or on/off", var, "invalid_setting")
        return raw.strip().lower() in ("1", "true", "yes", "on")
    try:
        return kind(raw)
    except ValueError:
        raise InputError(f"{var}={raw!r}: expected a {kind.__name__}", var, "invalid_setting") from None


def _declared_type(hint: object) -> type:
    """``bool | None`` -> bool; a plain type as it is."""
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    return args[0] if args else hint


@dataclass(frozen=True)
class MatcherConfig:
    model_dir: Path = DEFAULT_MODEL_DIR
    cache_dir: Path = MODELS_DIR / "cache"
    fusion_path: Path = MODELS_DIR / "fusion.json"
    query_prompt: str = "query: "
    passage_prompt: str = "passage: "
    window_tokens: int = 510
    # The dense signal reads a proposal's first this many tokens (prompt and special tokens
    # included; 128 tokens are about 170 Chinese characters); the lexical and term signals read
    # the whole text. 0: the whole text, in windows of `window_tokens`, averaged. On the dev
    # split 128 tokens cost nothing in accuracy and halve the time of a 400-character abstract
    # (README, speed).
    query_max_tokens: int = 128
    # A direction's term similarity is the mean over its this many nearest terms.
    dense_top_terms: int = 3
    batch_size: int = 32
    # "onnx": ONNX Runtime on the export models.build writes (fast start, no torch import);
    # "torch": sentence-transformers on PyTorch (any model directory); "auto": onnx when exported.
    backend: str = "auto"
    threads: int = 0  # CPU threads for the model; 0: one per core
    torch_threads: int = 0  # older name of `threads`, still honoured
    # numpy's BLAS threads for the (small) similarity products; 0: leave numpy's default.
    # Idle BLAS threads spin for a while after each call and take the cores from the model:
    # with one, a 400-character abstract is answered in half the time (README, speed).
    blas_threads: int = 1
    # int8 dynamic quantisation of the model's matrix multiplications; None: the backend's
    # default, int8 on ONNX (per-channel, within 0.5 points of float on dev) and float on torch
    # (torch's per-tensor int8 costs 2 points). See the README's speed section.
    quantize: bool | None = None
    device: str = "cpu"
    # BM25 parameters (bm25s defaults are for web search; directions are short documents)
    bm25_k1: float = 1.2
    bm25_b: float = 0.75
    # A direction is offered beside the best one when its score reaches this share of the best.
    second_ratio: float = 0.8
    max_text_chars: int = MAX_TEXT_CHARS
    min_text_chars: int = MIN_TEXT_CHARS
    extra: dict = field(default_factory=dict)

    @classmethod
    def from_env(cls, **overrides) -> "MatcherConfig":
        """Defaults, then ``GUIDE_MATCH_<FIELD>`` environment variables, then ``overrides``."""
        cfg = cls()
        hints = typing.get_type_hints(cls)
        values = {}
        for f in fields(cls):
            env = os.environ.get(f"GUIDE_MATCH_{f.name.upper()}")
            if env is None or f.name == "extra":
                continue
            values[f.name] = _parse(f.name, env, _declared_type(hints[f.name]))
        values.update({k: v for k, v in overrides.items() if v is not None})
        for k in ("model_dir", "cache_dir", "fusion_path"):
            if k in values:
                values[k] = Path(values[k])
        return replace(cfg, **values)
