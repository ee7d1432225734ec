"""The benchmark scripts read the labelled set by its fields; a renamed field must not leave them
measuring an empty or one-sided mix (they are run by hand, so only this catches it)."""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

BENCH = Path(__file__).parent / "benchmarks"


def _script(name: str):
    spec = importlib.util.spec_from_file_location(f"bench_{name}", BENCH / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_load_test_mixes_titles_and_abstracts():
    titles, abstracts = _script("load_test").texts_by_kind()
    assert len(titles) >= 100 and len(abstracts) >= 500
    assert max(map(len, titles)) <= 60 and sorted(map(len, abstracts))[len(abstracts) // 2] >= 150


def test_route_bench_puts_titles_in_the_title_column():
    items, labels = _script("route_bench").labelled_items(400)
    with_title = [i for i in items if i["title"]]
    assert 20 <= len(with_title) < len(items) and all(not i["abstract"] for i in with_title)
    assert len(labels) == 400 and any(labels.values()) and not all(labels.values())
