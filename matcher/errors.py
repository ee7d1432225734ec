"""Errors the library raises for bad input, with messages meant for end users."""
from __future__ import annotations


class InputError(ValueError):
    """Bad input: the message says what is wrong and what is accepted.

    ``field`` names the offending argument, column or JSON field when there is one,
    so the CLI and the HTTP API can point at it.
    """

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.message = message
        self.field = field
