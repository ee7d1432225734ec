"""The pre-check's settings: which rules file it holds proposals against, and the bounds of its input.

Part of the one settings tree (see :mod:`matcher.config`): the service's settings contain these,
and ``guide-match check`` reads the same variable for its default.
"""
from __future__ import annotations

from pathlib import Path

from pydantic import Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from matcher.config import settings_error

ENV_PREFIX = "GUIDE_MATCH_ELIGIBILITY_"


class EligibilitySettings(BaseSettings):
    """``GUIDE_MATCH_ELIGIBILITY_<FIELD>``: the rules file and the input bounds."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore", frozen=True)

    rules: Path | None = None
    """Rules file; None: ``corpus/rules.yaml``."""
    # Bounds of the input, not the guide's: an amount above these is refused as a typing error.
    max_amount_wan: float = Field(1_000_000, gt=0)
    max_count: int = Field(10_000, ge=1)
    max_duration_months: int = Field(240, ge=1)

    @classmethod
    def from_env(cls, **overrides) -> "EligibilitySettings":
        try:
            return cls(**{k: v for k, v in overrides.items() if v is not None})
        except ValidationError as err:
            raise settings_error(err, ENV_PREFIX) from None
