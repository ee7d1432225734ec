"""Errors the library raises for bad input, with messages meant for end users."""
from __future__ import annotations


class InputError(ValueError):
    """Bad input: the message says what is wrong and what is accepted.

    ``field`` names the offending argument, column or JSON field when there is one,
    so the CLI and the HTTP API can point at it; ``code`` is a stable name for the
    kind of problem (``text_empty``, ``text_too_short``, ``text_too_long``,
    ``wrong_type``, ``top_k_out_of_range``) that clients can branch on. ``detail`` is
    extra help for the command line about the user's own file (its headers, say); the
    API never sends it, since it may quote uploaded content.
    """

    def __init__(self, message: str, field: str | None = None, code: str = "invalid_input", detail: str | None = None):
        super().__init__(message)
        self.message = message
        self.field = field
        self.code = code
        self.detail = detail
