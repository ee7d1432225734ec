"""Logs that cannot be forged: control characters in logged values are escaped.

A request path, a client address, an actor's name or an exception's text can carry a newline
(``%0a`` once percent-decoded) followed by a fake log line, or terminal escapes (``\\x1b[31m``).
Two layers keep every line one line:

- :func:`get_logger` gives the service's loggers a filter that escapes control characters in
  each record's arguments (whatever the logging set-up), and
- :class:`SafeFormatter`, which ``guide-match serve`` installs on every handler, escapes them
  in the whole message of every logger, uvicorn's included; tracebacks keep their line breaks.
"""
from __future__ import annotations

import logging
import re

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_CONTROL_BUT_NEWLINE = re.compile(r"[\x00-\x09\x0b-\x1f\x7f-\x9f\u2028\u2029]")


def _escape(match: re.Match) -> str:
    return match.group().encode("unicode_escape").decode("ascii")


def escape_control(text: str) -> str:
    """``text`` with every control character written as its escape (``\\n``, ``\\x1b``, ``\\u2028``)."""
    return _CONTROL.sub(_escape, text)


def _safe_arg(value: object) -> object:
    if value is None or isinstance(value, (bool, int, float)):
        return value
    return escape_control(value if isinstance(value, str) else str(value))


class EscapeControlFilter(logging.Filter):
    """Escapes control characters in a record's message arguments (and in a message without any)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(_safe_arg(a) for a in record.args)
        elif isinstance(record.args, dict):
            record.args = {k: _safe_arg(v) for k, v in record.args.items()}
        if not record.args and isinstance(record.msg, str):
            record.msg = escape_control(record.msg)
        return True


_FILTER = EscapeControlFilter()


def get_logger(name: str) -> logging.Logger:
    """A logger of the service whose records have their arguments escaped."""
    logger = logging.getLogger(name)
    if _FILTER not in logger.filters:
        logger.addFilter(_FILTER)
    return logger


class SafeFormatter(logging.Formatter):
    """One record, one line: control characters in the message are escaped; a traceback keeps its
    line breaks but nothing else (its exception text is the program's, set by :func:`withheld`)."""

    def formatMessage(self, record: logging.LogRecord) -> str:
        record.message = escape_control(record.message)
        return super().formatMessage(record)

    def formatException(self, ei) -> str:
        return _CONTROL_BUT_NEWLINE.sub(_escape, super().formatException(ei))

    def formatStack(self, stack_info: str) -> str:
        return _CONTROL_BUT_NEWLINE.sub(_escape, super().formatStack(stack_info))


def withheld(exc: BaseException) -> tuple:
    """``exc_info`` for logging ``exc``'s traceback without its message, which may quote the input."""
    stand_in = RuntimeError(f"{type(exc).__name__} (message withheld: it may quote the request)")
    return (RuntimeError, stand_in, exc.__traceback__)
