"""Export a sentence-transformers model directory to ONNX for fast CPU inference.

Why: on a 2-core CPU, ONNX Runtime runs the encoder faster than PyTorch and starts without
importing torch or sentence-transformers. Two things make it smaller and faster still:

- a trimmed vocabulary: multilingual-e5 has 250k pieces (a 384 MB embedding table), but
  proposals for this call are written in Chinese with English terms. Pieces made only of
  Latin-1, Greek, punctuation, symbols and CJK characters are kept (about half); the
  tokenizer is unchanged and maps any other piece to ``<unk>`` through ``token_map.npy``,
  so for Chinese and English text the embeddings are those of the full model.
- an int8 copy (dynamic quantisation of the matrix multiplications, per output channel),
  used when ``GUIDE_MATCH_QUANTIZE=1``.

Mean pooling and L2 normalisation are part of the graph, so the ONNX model maps token ids
straight to the sentence embedding that sentence-transformers would return.

``python -m models.onnx_export MODEL_DIR`` writes ``MODEL_DIR/onnx/``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import time
import warnings
from pathlib import Path

import numpy as np

ONNX_SUBDIR = "onnx"
FP32_FILE = "model.onnx"
INT8_FILE = "model-int8.onnx"
TOKEN_MAP_FILE = "token_map.npy"
MANIFEST_FILE = "export.json"
EXPORTER_VERSION = 1
OPSET = 17

# Code-point ranges whose pieces are kept. Text reaching the model is NFKC-normalised and
# simplified (see matcher.text.normalize), so these cover Chinese with English terms.
_KEPT_RANGES = (
    (0x0000, 0x00FF),  # ASCII and Latin-1 (°, ±, ×, µ, accented names)
    (0x0370, 0x03FF),  # Greek (α-Al2O3, Ω, μ)
    (0x2000, 0x2BFF),  # punctuation, super/subscripts, letterlike, arrows, maths, technical, shapes
    (0x2E80, 0x9FFF),  # CJK radicals, symbols and punctuation, kana, extension A, unified ideographs
    (0xF900, 0xFAFF),  # CJK compatibility ideographs
    (0xFE30, 0xFE4F),  # CJK compatibility forms
    (0xFF00, 0xFFEF),  # full-width forms
)
_METASPACE = "\u2581"


def _kept_char(c: str) -> bool:
    o = ord(c)
    return any(lo <= o <= hi for lo, hi in _KEPT_RANGES)


def kept_token_ids(tokenizer_json: Path) -> np.ndarray:
    """Ids of the vocabulary pieces the trimmed model keeps, ascending (special tokens included)."""
    tok = json.loads(Path(tokenizer_json).read_text(encoding="utf-8"))
    model = tok["model"]
    if model.get("type") != "Unigram":
        raise ValueError(f"{tokenizer_json}: vocabulary trimming supports Unigram tokenizers, got {model.get('type')}")
    special = {t["id"] for t in tok.get("added_tokens", [])}
    keep = [
        i
        for i, (piece, _score) in enumerate(model["vocab"])
        if i in special or all(_kept_char(c) for c in piece.replace(_METASPACE, ""))
    ]
    return np.asarray(keep, dtype=np.int64)


def onnx_dir(model_dir: Path) -> Path:
    return Path(model_dir) / ONNX_SUBDIR


def _source_fingerprint(model_dir: Path) -> str:
    h = hashlib.sha256(f"exporter={EXPORTER_VERSION};opset={OPSET}".encode())
    for name in ("model.safetensors", "config.json", "tokenizer.json", "1_Pooling/config.json"):
        p = Path(model_dir) / name
        if p.is_file():
            st = p.stat()
            h.update(f"{name}:{st.st_size}:{st.st_mtime_ns}".encode())
    return h.hexdigest()[:16]


def is_current(model_dir: Path) -> bool:
    """True if ``model_dir/onnx`` holds a complete export of the model as it is now."""
    out = onnx_dir(model_dir)
    try:
        manifest = json.loads((out / MANIFEST_FILE).read_text())
    except (OSError, ValueError):
        return False
    files_there = all((out / f).is_file() for f in (FP32_FILE, INT8_FILE, TOKEN_MAP_FILE))
    return files_there and manifest.get("source") == _source_fingerprint(model_dir)


def _check_pooling(model_dir: Path) -> None:
    cfg_path = Path(model_dir) / "1_Pooling" / "config.json"
    cfg = json.loads(cfg_path.read_text()) if cfg_path.is_file() else {}
    mode = cfg.get("pooling_mode") or ("mean" if cfg.get("pooling_mode_mean_tokens") else None)
    if mode != "mean":
        raise ValueError(f"{model_dir}: the ONNX export supports mean pooling only (found {mode!r}); use GUIDE_MATCH_BACKEND=torch")


def export(model_dir: Path, force: bool = False) -> Path:
    """Write the trimmed fp32 and int8 ONNX models and the token map into ``model_dir/onnx``."""
    import torch
    import transformers
    from transformers import AutoModel

    transformers.logging.disable_progress_bar()
    model_dir = Path(model_dir)
    out = onnx_dir(model_dir)
    if not force and is_current(model_dir):
        return out
    _check_pooling(model_dir)
    out.mkdir(parents=True, exist_ok=True)

    keep = kept_token_ids(model_dir / "tokenizer.json")
    # Eager attention traces into plain ops whose shapes follow the input; SDPA's tracing
    # bakes in Python-level decisions about the mask.
    model = AutoModel.from_pretrained(
        str(model_dir), local_files_only=True, attn_implementation="eager", add_pooling_layer=False
    ).eval()
    full = model.get_input_embeddings().weight.detach()
    trimmed = torch.nn.Embedding(len(keep), full.shape[1], padding_idx=None)
    trimmed.weight.data.copy_(full[torch.from_numpy(keep)])
    model.set_input_embeddings(trimmed)
    token_map = np.full(full.shape[0], int(np.searchsorted(keep, _unk_id(model_dir))), dtype=np.int64)
    token_map[keep] = np.arange(len(keep))

    class _Pooled(torch.nn.Module):
        def __init__(self, encoder):
            super().__init__()
            self.encoder = encoder

        def forward(self, input_ids, attention_mask):
            hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(pooled, dim=-1)

    ids = torch.ones((2, 8), dtype=torch.long)
    fp32 = out / FP32_FILE
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # tracer notes about Python-level shape checks
        torch.onnx.export(
            _Pooled(model),
            (ids, torch.ones_like(ids)),
            str(fp32),
            input_names=["input_ids", "attention_mask"],
            output_names=["embedding"],
            dynamic_axes={"input_ids": {0: "batch", 1: "tokens"}, "attention_mask": {0: "batch", 1: "tokens"},
                          "embedding": {0: "batch"}},
            opset_version=OPSET,
            dynamo=False,
        )
    np.save(out / TOKEN_MAP_FILE, token_map)
    _quantize(fp32, out / INT8_FILE)
    manifest = {
        "source": _source_fingerprint(model_dir),
        "exporter_version": EXPORTER_VERSION,
        "opset": OPSET,
        "vocabulary": {"full": int(full.shape[0]), "kept": int(len(keep))},
        "files": {FP32_FILE: "fp32", INT8_FILE: "int8 dynamic, per-channel MatMul weights", TOKEN_MAP_FILE: "token id -> row"},
    }
    (out / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2) + "\n")
    return out


def _unk_id(model_dir: Path) -> int:
    tok = json.loads((Path(model_dir) / "tokenizer.json").read_text(encoding="utf-8"))
    unk = tok["model"].get("unk_id")
    if unk is None:
        raise ValueError(f"{model_dir}/tokenizer.json has no unk_id; cannot map trimmed pieces")
    return int(unk)


def _quantize(src: Path, dst: Path) -> None:
    """int8 dynamic quantisation of the MatMul weights, one scale per output channel."""
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from onnxruntime.quantization.shape_inference import quant_pre_process

    pre = dst.with_suffix(".pre.onnx")
    try:
        quant_pre_process(str(src), str(pre), skip_symbolic_shape=True)
        quantize_dynamic(str(pre), str(dst), weight_type=QuantType.QInt8, per_channel=True, op_types_to_quantize=["MatMul"])
    finally:
        pre.unlink(missing_ok=True)


def main(argv: list[str] | None = None) -> int:
    from models import DEFAULT_MODEL_DIR

    parser = argparse.ArgumentParser(prog="python -m models.onnx_export", description=__doc__.split("\n\n")[0])
    parser.add_argument("model_dir", nargs="?", type=Path, default=DEFAULT_MODEL_DIR)
    parser.add_argument("--force", action="store_true", help="export even if up to date")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    out = export(args.model_dir, force=args.force)
    print(f"onnx: {out} ({time.perf_counter() - start:.1f}s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
