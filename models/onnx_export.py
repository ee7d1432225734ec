"""Export a sentence-transformers model directory to ONNX for fast CPU inference.

Why: on a 2-core CPU, ONNX Runtime runs the encoder faster than PyTorch and starts without
importing torch or sentence-transformers. Two things make it smaller and faster still:

- a trimmed vocabulary: multilingual-e5 has 250k pieces (a 384 MB embedding table), but
  proposals for this call are written in Chinese with English terms. Pieces made only of
  Latin-1, Greek, punctuation, symbols and CJK characters are kept (about half), in a trimmed
  tokenizer of their own (``onnx/tokenizer.json``: half the memory and load time of the full
  one). A Chinese or English text only ever segments into kept pieces, so its tokens, and its
  embedding, are those of the full model; characters of other scripts become ``<unk>``.
- the embedding table stored in float16 (looked up, then cast to float32): half its memory,
  differences in the fifth decimal of an embedding.
- an int8 copy (dynamic quantisation of the matrix multiplications, per output channel), the
  matcher's default.

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
TOKENIZER_FILE = "tokenizer.json"
MANIFEST_FILE = "export.json"
EXPORTER_VERSION = 2
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


def kept_char(c: str) -> bool:
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
        if i in special or all(kept_char(c) for c in piece.replace(_METASPACE, ""))
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
    files_there = all((out / f).is_file() for f in (FP32_FILE, INT8_FILE, TOKENIZER_FILE))
    return files_there and manifest.get("source") == _source_fingerprint(model_dir)


def _check_pooling(model_dir: Path) -> None:
    cfg_path = Path(model_dir) / "1_Pooling" / "config.json"
    cfg = json.loads(cfg_path.read_text()) if cfg_path.is_file() else {}
    mode = cfg.get("pooling_mode") or ("mean" if cfg.get("pooling_mode_mean_tokens") else None)
    if mode != "mean":
        raise ValueError(f"{model_dir}: the ONNX export supports mean pooling only (found {mode!r}); use GUIDE_MATCH_BACKEND=torch")


def export(model_dir: Path, force: bool = False) -> Path:
    """Write the trimmed fp32 and int8 ONNX models and the trimmed tokenizer into ``model_dir/onnx``."""
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
    _write_trimmed_tokenizer(model_dir / "tokenizer.json", out / TOKENIZER_FILE, keep, token_map)
    _quantize(fp32, out / INT8_FILE)
    for path in (fp32, out / INT8_FILE):
        _half_precision_embeddings(path, len(keep))
    (out / "token_map.npy").unlink(missing_ok=True)  # what exporter version 1 wrote
    manifest = {
        "source": _source_fingerprint(model_dir),
        "exporter_version": EXPORTER_VERSION,
        "opset": OPSET,
        "vocabulary": {"full": int(full.shape[0]), "kept": int(len(keep))},
        "files": {FP32_FILE: "fp32, float16 embedding table", INT8_FILE: "int8 dynamic, per-channel MatMul weights, "
                  "float16 embedding table", TOKENIZER_FILE: "the kept pieces only, ids = rows of the embedding table"},
    }
    (out / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2) + "\n")
    return out


def _write_trimmed_tokenizer(src: Path, dst: Path, keep: np.ndarray, token_map: np.ndarray) -> None:
    """The tokenizer with only the kept pieces, each at the row of the trimmed embedding table."""
    tok = json.loads(src.read_text(encoding="utf-8"))
    vocab = tok["model"]["vocab"]
    tok["model"]["vocab"] = [vocab[i] for i in keep]
    tok["model"]["unk_id"] = int(token_map[tok["model"]["unk_id"]])
    for added in tok.get("added_tokens", []):
        added["id"] = int(token_map[added["id"]])
    for special in ((tok.get("post_processor") or {}).get("special_tokens") or {}).values():
        special["ids"] = [int(token_map[i]) for i in special["ids"]]
    dst.write_text(json.dumps(tok, ensure_ascii=False), encoding="utf-8")


def _half_precision_embeddings(path: Path, rows: int) -> None:
    """Store the word-embedding table (the Gather's data with ``rows`` rows) in float16, cast back after the lookup."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    model = onnx.load(str(path))
    graph = model.graph
    inits = {i.name: i for i in graph.initializer}
    for node in list(graph.node):
        if node.op_type != "Gather" or node.input[0] not in inits:
            continue
        table = inits[node.input[0]]
        if table.data_type != TensorProto.FLOAT or not table.dims or table.dims[0] != rows:
            continue
        half = numpy_helper.from_array(numpy_helper.to_array(table).astype(np.float16), table.name)
        table.CopyFrom(half)
        looked_up = node.output[0] + "_float16"
        cast = helper.make_node("Cast", [looked_up], [node.output[0]], to=TensorProto.FLOAT,
                                name=node.name + "_to_float")
        node.output[0] = looked_up
        graph.node.insert(list(graph.node).index(node) + 1, cast)
        break
    else:
        raise ValueError(f"{path}: no word-embedding Gather with {rows} rows found")
    onnx.save(model, str(path))


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
