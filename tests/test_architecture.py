"""The layers hold: `lint-imports` keeps the contracts in pyproject.toml, and a back-arrow breaks them."""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("cli", "service", "routing", "eligibility", "matcher", "corpus", "models")
LINT = str(Path(sys.executable).with_name("lint-imports"))


def _lint(cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([LINT, "--no-cache"], cwd=cwd, capture_output=True, text=True,
                          env={"PYTHONPATH": str(cwd), "PATH": "/usr/bin:/bin"})


def test_import_contracts_are_kept():
    proc = _lint(ROOT)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert "0 broken" in proc.stdout


@pytest.fixture(scope="module")
def copy_of_the_tree(tmp_path_factory):
    """The packages' Python files and pyproject.toml, so a test can add an import without touching the checkout."""
    dst = tmp_path_factory.mktemp("tree")
    shutil.copy(ROOT / "pyproject.toml", dst)
    for pkg in PACKAGES:
        shutil.copytree(ROOT / pkg, dst / pkg, ignore=lambda d, names: [n for n in names if not (
            n.endswith(".py") or (Path(d) / n).is_dir()) or n in ("__pycache__", "e5-small", "cache", "static")])
    return dst


@pytest.mark.parametrize("module, line, contract", [
    ("matcher/text.py", "import service.app", "One direction of imports"),          # the library reaching up to HTTP
    ("matcher/text.py", "from routing import Router", "One direction of imports"),  # a back-arrow between layers
    ("models/build.py", "import matcher", "One direction of imports"),             # the old models ⇄ matcher circle
    ("corpus/guide.py", "import models", "One direction of imports"),              # independent siblings
    ("routing/store.py", "import fastapi", "The libraries hold no HTTP"),
    ("matcher/text.py", "import eligibility", "One direction of imports"),            # the matcher never checks rules
    ("eligibility/verdict.py", "import routing", "One direction of imports"),
    ("eligibility/facts.py", "import fastapi", "The libraries hold no HTTP"),
])
def test_a_back_arrow_breaks_a_contract(copy_of_the_tree, module, line, contract):
    path = copy_of_the_tree / module
    original = path.read_text(encoding="utf-8")
    path.write_text(original + f"\n{line}  # added by the test\n", encoding="utf-8")
    try:
        proc = _lint(copy_of_the_tree)
    finally:
        path.write_text(original, encoding="utf-8")
    assert proc.returncode != 0
    assert f"{contract}" in proc.stdout and "BROKEN" in proc.stdout, proc.stdout[-2000:]


def _python(code: str) -> str:
    """What a fresh interpreter running ``code`` in the checkout prints (it must exit 0)."""
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout.strip()


def test_matching_loads_only_what_matching_needs():
    """`guide-match match` and the service's matcher: no pandas, scikit-learn, torch, matplotlib or web stack."""
    code = (
        "import sys, cli.main; from matcher import Matcher; Matcher.load().match('钠离子电池正极材料制备技术'); "
        "heavy = {'pandas', 'sklearn', 'torch', 'matplotlib', 'sentence_transformers', 'fastapi', 'scipy.optimize', "
        "'cn2an', 'eligibility.reader'}; "
        "print(sorted(heavy & set(sys.modules)))"
    )
    assert _python(code) == "[]"


def test_the_service_starts_without_the_pre_checks_numeral_reader():
    """The API loads the pre-check on the first POST /v1/check, not at start-up."""
    code = ("import sys; from service.app import create_app; create_app(); "
            "print(sorted({'cn2an', 'eligibility.reader', 'eligibility.verdict'} & set(sys.modules)))")
    assert _python(code) == "[]"


def test_the_service_starts_and_matches_without_the_routing_and_table_libraries():
    """The solver (networkx), the spreadsheet and table libraries load when a run or a table needs them."""
    code = (
        "import sys; from fastapi.testclient import TestClient; from service.app import create_app; "
        "from tests.service.service_support import make_settings\n"
        "with TestClient(create_app(make_settings())) as c:\n"
        "    assert c.post('/v1/match', json={'text': '钠离子电池正极材料'}).status_code == 200\n"
        "heavy = {'pandas', 'sklearn', 'torch', 'matplotlib', 'networkx', 'openpyxl', 'sentence_transformers', 'cn2an'}\n"
        "print(sorted(heavy & set(sys.modules)))"
    )
    assert _python(code).splitlines()[-1] == "[]"
