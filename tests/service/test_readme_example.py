"""The README's `curl` example of POST /v1/match shows what the API answers today."""
from __future__ import annotations

import json
import re
from pathlib import Path

README = Path(__file__).resolve().parents[2] / "README.md"


def _example() -> tuple[dict, dict]:
    text = README.read_text(encoding="utf-8")
    m = re.search(r"\$ curl -s http://127\.0\.0\.1:8000/v1/match .*?-d '(\{.*?\})'.*?\n(\{\n.*?\n\})\n", text, re.S)
    assert m, "the README has no curl example of /v1/match"
    return json.loads(m.group(1)), json.loads(m.group(2))


def _close(got, shown, path="") -> None:
    """Same shape, keys and strings; numbers within 0.01 (int8 kernels vary a little between CPUs)."""
    if isinstance(shown, dict):
        assert set(got) == set(shown), (path, sorted(got), sorted(shown))
        for key in shown:
            if key != "version":  # names the build's hashes; the tests of Matcher.version hold its form
                _close(got[key], shown[key], f"{path}.{key}")
    elif isinstance(shown, list):
        assert len(got) == len(shown), path
        for i, (a, b) in enumerate(zip(got, shown)):
            _close(a, b, f"{path}[{i}]")
    elif isinstance(shown, float) or isinstance(got, float):
        assert abs(got - shown) <= 0.01, (path, got, shown)
    else:
        assert got == shown, (path, got, shown)


def test_the_readme_curl_example_is_what_the_api_answers(client):
    body, shown = _example()
    r = client.post("/v1/match", json=body)
    assert r.status_code == 200
    _close(r.json(), shown)
    assert r.json()["version"].startswith("guide-match ")
