"""The lexical signal: BM25 (bm25s) over segmented direction documents."""
from __future__ import annotations

from collections.abc import Sequence

import bm25s
import numpy as np


class LexicalIndex:
    """BM25 over one document per direction (title, official text and curated terms)."""

    def __init__(self, documents: Sequence[Sequence[str]], k1: float = 1.2, b: float = 0.75):
        self._bm25 = bm25s.BM25(k1=k1, b=b)
        self._bm25.index([list(d) for d in documents], show_progress=False)
        self.n_docs = len(documents)

    def scores(self, tokens: Sequence[str]) -> np.ndarray:
        """BM25 score of every direction document for one segmented query."""
        if not tokens:
            return np.zeros(self.n_docs, dtype=np.float32)
        return np.asarray(self._bm25.get_scores(list(tokens)), dtype=np.float32)
