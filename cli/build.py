"""`guide-match build`: the model artefacts (:mod:`models.build`), then the direction embeddings cache.

The cache is the matcher's (it embeds with its own encoder), so it is built here, on top of both,
and ``models`` never imports the matcher.
"""
from __future__ import annotations

import time

from models import build as model_build


def run_build(args) -> int:
    from matcher import Matcher

    model_dir = args.model_dir or model_build.DEFAULT_MODEL_DIR
    for line in model_build.build_all(model_dir, force=args.force):
        print(line)
    start = time.perf_counter()
    m = Matcher.load(model_dir=model_dir)
    n_terms = sum(len(d.terms) for d in m.directions)
    print(f"embeddings: {len(m.directions)} directions and {n_terms} terms cached in {m.config.cache_dir} "
          f"({time.perf_counter() - start:.1f}s)")
    return 0
