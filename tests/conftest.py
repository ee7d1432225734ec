"""Shared fixtures: one Matcher per test session (loading the model takes seconds)."""
from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def matcher():
    from matcher import Matcher

    return Matcher.load()
