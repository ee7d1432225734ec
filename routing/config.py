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
JOB_POLL_SECONDS = 1.0
JOB_STALE_SECONDS = 600.0


class RoutingSettings(BaseSettings):
    """``GUIDE_MATCH_ROUTING_DB``, ``…_PANELS``, ``…_MAX_PROPOSALS``, ``…_JOB_POLL_SECONDS``, ``…_JOB_STALE_SECONDS``."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore", frozen=True)

    db: Path = Path("routing.sqlite")
    """SQLite database of runs, assignments, overrides and the audit log."""
    panels: Path | None = None
    """Expert panels file; None: the default ``corpus/panels.yaml``."""
    max_proposals: int = Field(10_000, ge=1)
    """Most proposals in one run (a table's rows, or JSON items)."""
    job_poll_seconds: float = Field(JOB_POLL_SECONDS, gt=0, le=60)
    """How often a server's routing worker looks for queued runs (a submission to it wakes it at once)."""
    job_stale_seconds: float = Field(JOB_STALE_SECONDS, ge=10)
    """A running run whose process gave no sign of life for this long (and cannot be checked directly,
    being on another host) is marked failed."""

    @classmethod
    def from_env(cls, **overrides) -> "RoutingSettings":
        try:
            return cls(**{k: v for k, v in overrides.items() if v is not None})
        except ValidationError as err:
            raise settings_error(err, ENV_PREFIX) from None
