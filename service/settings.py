"""The service's configuration: one settings object read from ``GUIDE_MATCH_*`` environment variables.

| variable | default | meaning |
|---|---|---|
| ``GUIDE_MATCH_CORS_ORIGINS`` | (none) | comma-separated origins of the call's web portal allowed to call the API from a browser, e.g. ``https://portal.example.org,https://staff.example.org``; ``*`` allows any |
| ``GUIDE_MATCH_MAX_TEXT_CHARS`` | 20000 | longest title + abstract accepted (characters); the matcher reads the same variable |
| ``GUIDE_MATCH_MAX_BATCH_ITEMS`` | 200 | most items in one ``POST /v1/match/batch`` |
| ``GUIDE_MATCH_MAX_BODY_BYTES`` | 4194304 | largest request body (bytes); larger ones get 413 before being read whole |
| ``GUIDE_MATCH_MODEL_DIR`` | models/e5-small | sentence-transformers model directory (shared with the matcher) |
| ``GUIDE_MATCH_API_KEYS`` | (none) | comma-separated keys for staff-only endpoints (header ``X-API-Key`` or ``Authorization: Bearer``); none set means those endpoints refuse everyone |
| ``GUIDE_MATCH_LOG_LEVEL`` | INFO | level of the ``guide_match`` loggers |
| ``GUIDE_MATCH_READY_TIMEOUT`` | 10 | seconds ``/readyz`` waits for a probe match before answering 503 |
| ``GUIDE_MATCH_ROUTING_DB`` | routing.sqlite | SQLite database of the staff routing API (runs, assignments, overrides, audit log) |
| ``GUIDE_MATCH_ROUTING_PANELS`` | corpus/panels.yaml | expert panels file of the staff routing API |
"""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Annotated

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

MAX_TEXT_CHARS = 20_000
MAX_BATCH_ITEMS = 200
MAX_BODY_BYTES = 4 * 1024 * 1024


def _split_csv(value: object) -> object:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="GUIDE_MATCH_", extra="ignore", frozen=True)

    cors_origins: Annotated[tuple[str, ...], NoDecode] = ()
    max_text_chars: int = Field(MAX_TEXT_CHARS, ge=1)
    max_batch_items: int = Field(MAX_BATCH_ITEMS, ge=1)
    max_body_bytes: int = Field(MAX_BODY_BYTES, ge=1024)
    model_dir: Path | None = None
    api_keys: Annotated[tuple[str, ...], NoDecode] = Field((), repr=False)
    log_level: str = "INFO"
    ready_timeout: float = Field(10.0, gt=0)
    routing_db: Path = Path("routing.sqlite")
    routing_panels: Path | None = None

    @field_validator("cors_origins", "api_keys", mode="before")
    @classmethod
    def _comma_separated(cls, value: object) -> object:
        return _split_csv(value)

    @field_validator("log_level")
    @classmethod
    def _level(cls, value: str) -> str:
        value = value.upper()
        if value not in {"CRITICAL", "ERROR", "WARNING", "INFO", "DEBUG"}:
            raise ValueError("log_level must be one of CRITICAL, ERROR, WARNING, INFO, DEBUG")
        return value


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process's settings, read once from the environment."""
    return Settings()
