"""The pre-check's settings: which rules file it holds proposals against.

Part of the one settings tree (see :mod:`matcher.config`): the service's settings contain these,
and ``guide-match check`` reads the same variable for its default.
"""
from __future__ import annotations

from pathlib import Path

from pydantic import ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from matcher.config import settings_error

ENV_PREFIX = "GUIDE_MATCH_ELIGIBILITY_"


class EligibilitySettings(BaseSettings):
    """``GUIDE_MATCH_ELIGIBILITY_RULES``: the rules file (None: ``corpus/rules.yaml``)."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore", frozen=True)

    rules: Path | None = None

    @classmethod
    def from_env(cls, **overrides) -> "EligibilitySettings":
        try:
            return cls(**{k: v for k, v in overrides.items() if v is not None})
        except ValidationError as err:
            raise settings_error(err, ENV_PREFIX) from None
