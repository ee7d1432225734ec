"""The routing settings: where runs are stored, which panels file new runs use, how big a table may be.

Part of the one settings tree (see :mod:`matcher.config`): the service's settings contain these,
and the command line reads the same variables for its defaults.
"""
from __future__ import annotations

from pathlib import Path

from pydantic import Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from matcher.config import settings_error

ENV_PREFIX = "GUIDE_MATCH_ROUTING_"


class RoutingSettings(BaseSettings):
    """``GUIDE_MATCH_ROUTING_DB``, ``GUIDE_MATCH_ROUTING_PANELS``, ``GUIDE_MATCH_ROUTING_MAX_PROPOSALS``."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore", frozen=True)

    db: Path = Path("routing.sqlite")
    """SQLite database of runs, assignments, overrides and the audit log."""
    panels: Path | None = None
    """Expert panels file; None: the default ``corpus/panels.yaml``."""
    max_proposals: int = Field(10_000, ge=1)
    """Most proposals in one run (a table's rows, or JSON items)."""

    @classmethod
    def from_env(cls, **overrides) -> "RoutingSettings":
        try:
            return cls(**{k: v for k, v in overrides.items() if v is not None})
        except ValidationError as err:
            raise settings_error(err, ENV_PREFIX) from None
