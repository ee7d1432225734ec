"""`--max-rows` and `--trusted`: the table limits of `batch` and `route`, raised for a file the user vouches for."""
from __future__ import annotations

import argparse

from matcher.config import MatcherConfig, TableLimits
from matcher.errors import InputError


def add_limit_options(parser: argparse.ArgumentParser, rows_setting: str) -> None:
    parser.add_argument("--max-rows", type=int, metavar="N",
                        help=f"accept up to N data rows (default: ${rows_setting}, 10000)")
    parser.add_argument("--trusted", action="store_true",
                        help="a file you trust: no limit on rows, columns, field length or unpacked size")


def table_limits(args: argparse.Namespace, max_rows: int | None = None) -> TableLimits:
    """The limits for this command's input table: the settings', ``--max-rows``, or none with ``--trusted``."""
    if getattr(args, "trusted", False):
        return TableLimits()
    rows = getattr(args, "max_rows", None)
    if rows is not None and rows < 1:
        raise InputError(f"--max-rows must be at least 1, got {rows}", "--max-rows")
    return MatcherConfig.from_env().table_limits(rows or max_rows)
