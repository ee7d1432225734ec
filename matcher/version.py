"""The installed package's version, named in every result and in the API's OpenAPI document."""
from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version


def package_version() -> str:
    try:
        return version("guide-match")
    except PackageNotFoundError:  # running from a source tree that is not installed
        return "0+unknown"
