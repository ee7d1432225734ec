"""Writes notebooks/evaluation.ipynb from its cells and runs it so it is saved with outputs.

    .venv/bin/python notebooks/build_evaluation.py
"""
from pathlib import Path

import nbformat
from nbclient import NotebookClient

HERE = Path(__file__).parent

CELLS = [
    ("markdown", "# Matching quality\n\nThe same code as `guide-match evaluate`: the labelled proposals of one split go "
     "through the lexical-only, dense-only and fused rankers; the plots are those of `--report`. "
     "Change `SPLIT` to `dev` while tuning; report on `test` only."),
    ("code", "%matplotlib inline\nSPLIT = 'test'\n\nfrom matcher import Matcher\nfrom matcher.evaluation import evaluate\n"
     "from matcher import report\n\nmatcher = Matcher.load()\nev = evaluate(matcher, split=SPLIT)\nev.table()"),
    ("markdown", "## By genre: proposal, paper, review, patent, title, long proposal, English"),
    ("code", "ev.by_genre()"),
    ("code", "report.genre_figure(ev)"),
    ("markdown", "## Confusion over the 40 directions (fused; OOS = out of scope)"),
    ("code", "report.confusion_figure(ev)"),
    ("markdown", "## Top scores of in-scope and out-of-scope texts"),
    ("code", "report.score_histogram_figure(ev)"),
    ("markdown", "## Top-1 accuracy by text length"),
    ("code", "report.length_figure(ev)"),
    ("markdown", "## Per-direction recall and the most confused pairs"),
    ("code", "import pandas as pd\nfused = ev.fused\n"
     "print(pd.Series(fused.per_direction_recall, name='top-1 recall').to_string())\n"
     "print('most confused (labelled, predicted, count):', fused.confused_pairs)"),
]


def build() -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_markdown_cell(src) if kind == "markdown" else nbformat.v4.new_code_cell(src)
        for kind, src in CELLS
    ]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return nb


def run(nb: nbformat.NotebookNode, timeout: int = 900) -> nbformat.NotebookNode:
    NotebookClient(nb, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": str(HERE)}}).execute()
    return nb


if __name__ == "__main__":
    path = HERE / "evaluation.ipynb"
    nbformat.write(run(build()), path)
    print(f"wrote {path}")
