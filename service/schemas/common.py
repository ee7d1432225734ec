"""What every API body shares: strict models (unknown fields forbidden), valid Unicode, the error shape."""
from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field
from pydantic_core import PydanticCustomError


def valid_unicode(value: str) -> str:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise PydanticCustomError(
            "invalid_unicode", "contains an unpaired surrogate (\\ud800–\\udfff), which is not valid Unicode text"
        ) from None
    return value


Text = Annotated[str, AfterValidator(valid_unicode)]
"""A string field that must be valid Unicode (JSON can escape a lone surrogate, which no database or file takes)."""


class Strict(BaseModel):
    """Unknown fields are an error, never silently dropped."""

    model_config = ConfigDict(extra="forbid")


class ErrorDetail(Strict):
    code: str = Field(description="Stable machine-readable code, e.g. text_empty, text_too_long, unknown_field.")
    message: str = Field(description="What is wrong and what is accepted.")
    field: str | None = Field(description="The offending field (e.g. text, top_k, items[3].text), if any.")


class ErrorResponse(Strict):
    error: ErrorDetail


ERROR_RESPONSES = {
    400: {"model": ErrorResponse, "description": "Body is not valid JSON or not valid UTF-8"},
    413: {"model": ErrorResponse, "description": "Body over the size limit"},
    415: {"model": ErrorResponse, "description": "Content-Type is not application/json (UTF-8)"},
    422: {"model": ErrorResponse, "description": "Bad field: empty or too long text, wrong type, unknown field, …"},
    503: {"model": ErrorResponse, "description": "Model not loaded"},
}
