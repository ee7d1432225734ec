"""The service's settings: the top of the one settings tree, read from ``GUIDE_MATCH_*`` variables.

``Settings`` contains the matcher's settings (:class:`matcher.MatcherConfig`: model directory,
text limits, …) and the routing settings (:class:`routing.config.RoutingSettings`: database, panels
file, table size); the fields here are the ones only the HTTP service has.

| variable | default | meaning |
|---|---|---|
| ``GUIDE_MATCH_CORS_ORIGINS`` | (none) | comma-separated origins of the call's web portal allowed to call the API from a browser; ``*`` allows any |
| ``GUIDE_MATCH_MAX_BATCH_ITEMS`` | 200 | most items in one ``POST /v1/match/batch`` |
| ``GUIDE_MATCH_MAX_BODY_BYTES`` | 4194304 | largest request body (bytes); larger ones get 413 before being read whole |
| ``GUIDE_MATCH_API_KEYS`` | (none) | comma-separated keys for staff-only endpoints (header ``X-API-Key`` or ``Authorization: Bearer``); none set means those endpoints refuse everyone |
| ``GUIDE_MATCH_LOG_LEVEL`` | INFO | level of the ``guide_match`` loggers |
| ``GUIDE_MATCH_READY_TIMEOUT`` | 10 | seconds ``/readyz`` waits for a probe match before answering 503 |
| ``GUIDE_MATCH_READY_MAX_AGE`` | 30 | a match finished this many seconds ago or less shows the model answering: ``/readyz`` says ready without a probe |
| ``GUIDE_MATCH_MAX_JSON_DEPTH`` | 32 | deepest nesting of a JSON body (400 beyond) |
| ``GUIDE_MATCH_READ_TIMEOUT`` | 30 | seconds a client has to send a request's headers, and then its body (408 / connection closed) |
| ``GUIDE_MATCH_KEEP_ALIVE_TIMEOUT`` | 5 | seconds an idle keep-alive connection stays open |
| ``GUIDE_MATCH_LIMIT_CONCURRENCY`` | 100 | connections and requests one worker serves at once; more get 503 |
| ``GUIDE_MATCH_TIME_BUDGET`` | 120 | seconds of work a matching request may take; a batch answers the items not reached with an error entry |
| ``GUIDE_MATCH_RATE_LIMIT`` | 60/minute;1000/hour | requests per client address to the public ``/v1`` endpoints (``limits`` syntax; ``off`` or empty: none) |
| ``GUIDE_MATCH_KEY_FAILURE_LIMIT`` | 10/minute | wrong or missing staff keys per client address before it gets 429 |

The matcher's (``GUIDE_MATCH_MAX_TEXT_CHARS``, ``GUIDE_MATCH_MODEL_DIR``, …) and the routing
variables (``GUIDE_MATCH_ROUTING_DB``, ``GUIDE_MATCH_ROUTING_PANELS``, …) are documented with
their models.
"""
from __future__ import annotations

from functools import lru_cache
from typing import Annotated

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from matcher import MatcherConfig
from matcher.config import ENV_PREFIX, settings_error
from eligibility.config import EligibilitySettings
from routing.config import RoutingSettings


def _split_csv(value: object) -> object:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore", frozen=True)

    matcher: MatcherConfig = Field(default_factory=MatcherConfig)
    routing: RoutingSettings = Field(default_factory=RoutingSettings)
    eligibility: EligibilitySettings = Field(default_factory=EligibilitySettings)
    cors_origins: Annotated[tuple[str, ...], NoDecode] = ()
    max_batch_items: int = Field(200, ge=1)
    max_body_bytes: int = Field(4 * 1024 * 1024, ge=1024)
    api_keys: Annotated[tuple[str, ...], NoDecode] = Field((), repr=False)
    log_level: str = "INFO"
    ready_timeout: float = Field(10.0, gt=0)
    ready_max_age: float = Field(30.0, ge=0)
    max_json_depth: int = Field(32, ge=2)
    read_timeout: float = Field(30.0, gt=0)
    keep_alive_timeout: int = Field(5, ge=1)
    limit_concurrency: int = Field(100, ge=1)
    time_budget: float = Field(120.0, gt=0)
    rate_limit: str = "60/minute;1000/hour"
    key_failure_limit: str = "10/minute"

    @field_validator("cors_origins", "api_keys", mode="before")
    @classmethod
    def _comma_separated(cls, value: object) -> object:
        return _split_csv(value)

    @field_validator("rate_limit", "key_failure_limit")
    @classmethod
    def _rate(cls, value: str) -> str:
        """``limits``' syntax (``60/minute;1000/hour``); ``off`` or empty turns the limit off."""
        value = value.strip()
        if value.lower() in ("", "off", "none", "0"):
            return ""
        from limits import parse_many

        try:
            parse_many(value)
        except ValueError:
            raise ValueError("expected a rate such as 60/minute or 60/minute;1000/hour, or off") from None
        return value

    @field_validator("log_level")
    @classmethod
    def _level(cls, value: str) -> str:
        value = value.upper()
        if value not in {"CRITICAL", "ERROR", "WARNING", "INFO", "DEBUG"}:
            raise ValueError("log_level must be one of CRITICAL, ERROR, WARNING, INFO, DEBUG")
        return value

    @property
    def max_text_chars(self) -> int:
        """The longest text accepted: the matcher's limit, the one limit for every entry point."""
        return self.matcher.max_text_chars

    @classmethod
    def from_env(cls, **overrides) -> "Settings":
        """The whole tree from the environment; a bad value is an InputError naming its variable."""
        try:
            matcher = MatcherConfig.from_env()
            routing = RoutingSettings.from_env()
            eligibility = EligibilitySettings.from_env()
            return cls(**({"matcher": matcher, "routing": routing, "eligibility": eligibility} | overrides))
        except ValidationError as err:
            raise settings_error(err) from None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process's settings, read once from the environment."""
    return Settings.from_env()
