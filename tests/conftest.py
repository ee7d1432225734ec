"""Shared fixtures: one Matcher per test session (loading the model takes seconds)."""
from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def matcher():
    from matcher import Matcher

    return Matcher.load()


@pytest.fixture
def cli_run(matcher, monkeypatch, capsys):
    """Run `guide-match` in-process on the session's matcher; returns (exit code, stdout, stderr)."""
    import cli
    from matcher import Matcher

    monkeypatch.setattr(Matcher, "load", classmethod(lambda cls, *a, **k: matcher))

    def _run(*argv):
        code = cli.main([str(a) for a in argv])
        out, err = capsys.readouterr()
        return code, out, err

    return _run
