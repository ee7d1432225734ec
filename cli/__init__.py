"""``guide-match``: the command line, a thin layer over :mod:`matcher`, :mod:`routing` and :mod:`service`.

No library package imports this one: it sits on top and only parses arguments, calls the
libraries and prints.
"""
from .main import build_parser, main

__all__ = ["build_parser", "main"]
