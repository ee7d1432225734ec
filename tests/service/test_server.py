"""`guide-match serve`: the CLI wiring and how uvicorn is started (without starting it)."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

import cli
from service import server


def test_cli_does_not_import_the_web_stack():
    code = "import sys, cli; sys.exit(1 if 'fastapi' in sys.modules or 'service' in sys.modules else 0)"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


def test_serve_arguments():
    args = cli.build_parser().parse_args(["serve", "--host", "0.0.0.0", "--port", "9001", "--workers", "3"])
    assert (args.host, args.port, args.workers) == ("0.0.0.0", 9001, 3)
    args = cli.build_parser().parse_args(["serve"])
    assert (args.host, args.port, args.workers) == ("127.0.0.1", 8000, 1)


@pytest.fixture
def uvicorn_calls(monkeypatch):
    import uvicorn

    calls = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: calls.append((app, kw)))
    # serve() sets GUIDE_MATCH_THREADS for its workers; monkeypatch restores the originals
    for name in ("GUIDE_MATCH_THREADS", "GUIDE_MATCH_TORCH_THREADS"):
        monkeypatch.setenv(name, "unset")
        monkeypatch.delenv(name)
    return calls


def test_one_worker_runs_the_app_in_process(uvicorn_calls):
    from fastapi import FastAPI

    assert cli.main(["serve", "--port", "8123"]) == 0
    (app, kw), = uvicorn_calls
    assert isinstance(app, FastAPI)
    assert kw["host"] == "127.0.0.1" and kw["port"] == 8123 and "workers" not in kw
    assert kw["access_log"] is False


def test_several_workers_use_factory_mode_and_share_the_cores(uvicorn_calls, monkeypatch):
    monkeypatch.setattr(os, "cpu_count", lambda: 4)
    assert server.serve(host="127.0.0.1", port=8124, workers=2) == 0
    (app, kw), = uvicorn_calls
    assert app == "service.app:create_app" and kw["factory"] is True and kw["workers"] == 2
    assert os.environ["GUIDE_MATCH_THREADS"] == "2"  # read by each worker's MatcherConfig


def test_a_thread_count_set_by_the_operator_is_kept(uvicorn_calls, monkeypatch):
    monkeypatch.setenv("GUIDE_MATCH_TORCH_THREADS", "1")  # the older name still counts
    server.serve(workers=2)
    assert "GUIDE_MATCH_THREADS" not in os.environ and os.environ["GUIDE_MATCH_TORCH_THREADS"] == "1"


def test_jieba_is_initialised_before_the_workers_start(uvicorn_calls):
    import jieba

    server.serve(workers=2)
    assert jieba.dt.initialized


def test_bad_worker_count():
    with pytest.raises(ValueError):
        server.serve(workers=0)
