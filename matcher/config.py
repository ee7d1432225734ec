"""The matcher's settings: one pydantic-settings model, read from ``GUIDE_MATCH_*`` variables.

It is the root of the project's one settings tree: the routing settings
(:class:`routing.config.RoutingSettings`) sit beside it, and the service's
:class:`service.settings.Settings` contain both, so a limit such as the longest text
is defined here once and read by the library, the command line, the API and its page.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pydantic import Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from models import DEFAULT_MODEL_DIR, MODELS_DIR

from .errors import InputError

ENV_PREFIX = "GUIDE_MATCH_"


_ACCEPTED = {
    "bool_parsing": "expected 1/0, true/false, yes/no or on/off",
    "bool_type": "expected 1/0, true/false, yes/no or on/off",
    "int_parsing": "expected a whole number",
    "float_parsing": "expected a number",
}


def settings_error(err: ValidationError, prefix: str = ENV_PREFIX) -> InputError:
    """A settings model's validation error as one line naming the variable and what it accepts."""
    e = err.errors()[0]
    name = f"{prefix}{str(e['loc'][0]).upper()}" if e.get("loc") else prefix.rstrip("_")
    raw = e.get("input")
    shown = f"={raw!r}" if isinstance(raw, (str, int, float)) and len(str(raw)) <= 100 else ""
    return InputError(f"{name}{shown}: {_ACCEPTED.get(e['type'], e['msg'])}", name, "invalid_setting")


@dataclass(frozen=True)
class TableLimits:
    """How much of a table is read; None: no limit. The defaults are settings
    (``GUIDE_MATCH_TABLE_*``, :meth:`matcher.MatcherConfig.table_limits`); the command line's
    ``--trusted`` lifts them for a file the user vouches for."""

    max_rows: int | None = None
    """Data rows (the header not counted)."""
    max_columns: int | None = None
    max_field_chars: int | None = None
    """Characters in one cell or JSON value."""
    max_bytes: int | None = None
    """Bytes of the file once unpacked: an .xlsx's declared uncompressed members, a .csv or .jsonl's size."""


class MatcherConfig(BaseSettings):
    """All tunable settings of the matcher (environment: ``GUIDE_MATCH_<FIELD>``)."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore", frozen=True, protected_namespaces=())

    model_dir: Path = DEFAULT_MODEL_DIR
    cache_dir: Path = MODELS_DIR / "cache"
    fusion_path: Path = MODELS_DIR / "fusion.json"
    query_prompt: str = "query: "
    passage_prompt: str = "passage: "
    window_tokens: int = Field(510, ge=16)
    # How texts are read. None: as fitted (models/fusion.json records what cross-validation on dev
    # chose); set one only to experiment, and Matcher.load will say it differs from the fit.
    # query_max_tokens: the dense signal reads a text's first this many tokens (prompt and special
    # tokens included; 128 are about 170 Chinese characters); 0: the whole text in windows.
    query_max_tokens: int | None = Field(None, ge=0)
    # dense_top_terms: a direction's term similarity is the mean over its this many nearest terms.
    dense_top_terms: int | None = Field(None, ge=1)
    # long_text_windows: a text of at least this many query windows is also read at its best window.
    long_text_windows: int | None = Field(None, ge=0)
    batch_size: int = Field(32, ge=1)
    # "onnx": ONNX Runtime on the export models.build writes (fast start, no torch import);
    # "torch": sentence-transformers on PyTorch (any model directory); "auto": onnx when exported.
    backend: str = "auto"
    threads: int = Field(0, ge=0)  # CPU threads for the model; 0: one per core
    torch_threads: int = Field(0, ge=0)  # older name of `threads`, still honoured
    # numpy's BLAS threads for the (small) similarity products; 0: leave numpy's default.
    # Idle BLAS threads spin for a while after each call and take the cores from the model.
    blas_threads: int = Field(1, ge=0)
    # int8 dynamic quantisation of the model's matrix multiplications; None: the backend's
    # default, int8 on ONNX (per-channel) and float on torch (its per-tensor int8 costs 2 points).
    quantize: bool | None = None
    device: str = "cpu"
    # BM25 parameters (bm25s defaults are for web search; directions are short documents)
    bm25_k1: float = Field(1.2, gt=0)
    bm25_b: float = Field(0.75, ge=0, le=1)
    # A direction is offered beside the best one when its score reaches this share of the best.
    second_ratio: float = Field(0.8, gt=0, le=1)
    # The longest text accepted (characters, counted after normalisation too): a title and
    # abstract, or a long proposal; the API, its page and the command line all read this one.
    max_text_chars: int = Field(20_000, ge=1)
    # Below this many meaningful characters a text is too short to judge.
    min_text_chars: int = Field(4, ge=1)
    # Tables (batch input, routing tables, uploads to the API) are checked against these before
    # and while they are parsed. The routing API and `route` take their row limit from
    # GUIDE_MATCH_ROUTING_MAX_PROPOSALS; the command line's --max-rows/--trusted raise them.
    table_max_rows: int = Field(10_000, ge=1)
    table_max_columns: int = Field(100, ge=1)
    # Characters in one cell or JSON value (Excel's own limit for a cell is 32,767).
    table_max_field_chars: int = Field(32_767, ge=1)
    # Bytes a table may hold once unpacked: an .xlsx's declared uncompressed size, a .csv's size.
    table_max_bytes: int = Field(64 * 1024 * 1024, ge=1024)

    @classmethod
    def from_env(cls, **overrides) -> "MatcherConfig":
        """Defaults, then ``GUIDE_MATCH_<FIELD>`` environment variables, then ``overrides`` (None: not given).

        A bad value is an :class:`InputError` (code ``invalid_setting``) naming the variable.
        """
        try:
            return cls(**{k: v for k, v in overrides.items() if v is not None})
        except ValidationError as err:
            raise settings_error(err) from None

    def table_limits(self, max_rows: int | None = None) -> TableLimits:
        """The bounds for reading a table (``max_rows``: another row limit, e.g. routing's)."""
        return TableLimits(
            max_rows=max_rows or self.table_max_rows,
            max_columns=self.table_max_columns,
            max_field_chars=self.table_max_field_chars,
            max_bytes=self.table_max_bytes,
        )

    def replace(self, **changes) -> "MatcherConfig":
        """A copy with ``changes`` applied and validated."""
        try:
            return type(self).model_validate(self.model_dump() | changes)
        except ValidationError as err:
            raise settings_error(err) from None
