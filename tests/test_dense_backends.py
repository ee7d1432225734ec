"""The two backends of the dense encoder: ONNX Runtime on the trimmed export, and PyTorch."""
from __future__ import annotations

import json

import numpy as np
import pytest

from matcher import InputError
from matcher.config import MatcherConfig
from matcher.dense import DenseEncoder
from models import DEFAULT_MODEL_DIR, onnx_export

TEXTS = [
    "质子交换膜燃料电池电堆与膜电极开发",
    "面向IPv6的工业互联网边缘网关研制，支持5G与TSN",
    "SiC MOSFET功率模块封装及车规级可靠性验证（PEMFC空压机驱动）",
    "Underwater autonomous robot navigation for offshore wind farm inspection",
    "高压实磷酸铁锂正极材料连续化制备，压实密度≥2.6 g/cm³，α-Al2O3包覆",
]


QUERY_TOKENS = 128  # the matcher's opening (SignalSettings.query_max_tokens)


def queries(encoder: DenseEncoder, texts: list[str], max_tokens: int = QUERY_TOKENS) -> np.ndarray:
    """Proposal texts as the matcher embeds them: the query prompt, cut at the opening."""
    return encoder.encode(texts, encoder.config.query_prompt, max_tokens)


@pytest.fixture(scope="module")
def torch_encoder():
    return DenseEncoder(MatcherConfig(backend="torch", quantize=False))


@pytest.fixture(scope="module")
def onnx_float():
    return DenseEncoder(MatcherConfig(backend="onnx", quantize=False))


def test_default_matcher_runs_on_the_int8_onnx_export(matcher):
    assert matcher.encoder.backend.name == "onnx" and matcher.encoder.backend.quantized


def test_onnx_float_export_gives_the_sentence_transformers_embeddings(torch_encoder, onnx_float):
    reference = queries(torch_encoder, TEXTS)
    exported = queries(onnx_float, TEXTS)
    assert exported.shape == reference.shape
    assert np.min(np.sum(reference * exported, axis=1)) >= 0.9999  # trimming changed nothing for zh/en text


def test_int8_export_stays_close_to_float(onnx_float, matcher):
    fp32 = queries(onnx_float, TEXTS)
    int8 = queries(matcher.encoder, TEXTS)
    assert np.min(np.sum(int8 * fp32, axis=1)) >= 0.99


def test_batches_of_mixed_lengths_equal_one_by_one(matcher):
    texts = TEXTS + ["钠离子电池" * 60]
    together = queries(matcher.encoder, texts)
    alone = np.vstack([queries(matcher.encoder, [t]) for t in texts])
    assert np.allclose(together, alone, atol=1e-5)  # a text never depends on its batch


def test_trimmed_vocabulary_keeps_chinese_and_english_pieces():
    tok = json.loads((DEFAULT_MODEL_DIR / "tokenizer.json").read_text(encoding="utf-8"))
    vocab = [piece for piece, _ in tok["model"]["vocab"]]
    kept = set(onnx_export.kept_token_ids(DEFAULT_MODEL_DIR / "tokenizer.json").tolist())
    index = {piece: i for i, piece in enumerate(vocab)}
    for piece in ("<s>", "</s>", "<pad>", "<unk>", "▁电池", "▁the", "℃", "α"):
        if piece in index:
            assert index[piece] in kept, piece
    for piece in ("▁привет", "▁ສະບາຍ", "▁안녕"):  # Cyrillic, Lao, Hangul
        if piece in index:
            assert index[piece] not in kept, piece
    assert 0.3 < len(kept) / len(vocab) < 0.7


def test_the_exported_tokenizer_holds_the_kept_pieces_only():
    """Its ids are the rows of the trimmed embedding table; Chinese and English tokenize as with the full one."""
    from tokenizers import Tokenizer

    out = onnx_export.onnx_dir(DEFAULT_MODEL_DIR)
    full = Tokenizer.from_file(str(DEFAULT_MODEL_DIR / "tokenizer.json"))
    trimmed = Tokenizer.from_file(str(out / onnx_export.TOKENIZER_FILE))
    kept = onnx_export.kept_token_ids(DEFAULT_MODEL_DIR / "tokenizer.json")
    assert trimmed.get_vocab_size() == len(kept)
    for text in TEXTS:
        a, b = full.encode(text), trimmed.encode(text)
        assert a.tokens == b.tokens and [int(np.searchsorted(kept, i)) for i in a.ids] == b.ids
    unk = trimmed.token_to_id("<unk>")
    enc = trimmed.encode("Привет", add_special_tokens=False)
    assert {i for i, t in zip(enc.ids, enc.tokens) if t != "▁"} == {unk}


def test_foreign_script_text_still_embeds(matcher):
    emb = queries(matcher.encoder, ["Привет мир 电池 ສະບາຍດີ"])
    assert emb.shape == (1, 384) and np.isfinite(emb).all()


def _model_without_export(tmp_path):
    """The default model's files, linked into a directory that has no ONNX export."""
    for src in DEFAULT_MODEL_DIR.iterdir():
        if src.name != onnx_export.ONNX_SUBDIR:
            (tmp_path / src.name).symlink_to(src.resolve())
    return tmp_path


def test_explicit_onnx_backend_without_export_says_how_to_build_it(tmp_path):
    with pytest.raises(InputError, match="python -m models.build"):
        DenseEncoder(MatcherConfig(model_dir=_model_without_export(tmp_path), backend="onnx"))


def test_auto_backend_without_export_falls_back_to_torch(tmp_path):
    enc = DenseEncoder(MatcherConfig(model_dir=_model_without_export(tmp_path)))
    assert enc.backend.name == "torch" and not enc.backend.quantized


def test_unknown_backend_is_a_clear_error():
    with pytest.raises(InputError, match="backend must be one of auto, onnx, torch"):
        DenseEncoder(MatcherConfig(backend="tensorrt"))


def test_fingerprint_follows_backend_and_precision(torch_encoder, onnx_float, matcher):
    prints = {torch_encoder.fingerprint, onnx_float.fingerprint, matcher.encoder.fingerprint}
    assert len(prints) == 3


def test_export_goes_stale_when_the_model_changes(tmp_path):
    assert onnx_export.is_current(DEFAULT_MODEL_DIR)
    linked = _model_without_export(tmp_path)
    assert not onnx_export.is_current(linked)  # no export at all
    (linked / onnx_export.ONNX_SUBDIR).symlink_to(onnx_export.onnx_dir(DEFAULT_MODEL_DIR).resolve())
    assert onnx_export.is_current(linked)  # same model files, same export
    config = linked / "config.json"
    text = config.read_text()
    config.unlink()
    config.write_text(text)  # a rebuilt model: new file times
    assert not onnx_export.is_current(linked)


LONG = "本项目面向储能市场开发钠离子电池层状氧化物正极材料，" + "研究硬碳负极孔结构调控与首效提升，" * 40


def test_queries_are_cut_at_the_configured_tokens_like_sentence_transformers(torch_encoder, onnx_float):
    cap = QUERY_TOKENS
    assert onnx_float.token_count(LONG) > 3 * cap
    exported = queries(onnx_float, [LONG])
    reference = queries(torch_encoder, [LONG])  # sentence-transformers' own truncation
    assert float(np.sum(exported * reference)) >= 0.9999
    whole = onnx_float.encode([LONG], onnx_float.config.query_prompt)  # windows over the whole text
    assert float(np.sum(exported * whole)) < 0.9999


def test_cut_keeps_the_opening_and_ignores_the_rest(matcher):
    enc = matcher.encoder
    a = queries(enc, [LONG + "另外开展数控机床主轴研究。"])
    b = queries(enc, [LONG + "另外开展中药配方颗粒研究。"])
    assert np.allclose(a, b, atol=1e-6)


def test_matcher_keeps_blas_to_one_thread(matcher):
    from threadpoolctl import threadpool_info

    # numpy's own BLAS (torch, once imported by another test, brings libraries of its own)
    blas = [p for p in threadpool_info() if p["user_api"] == "blas" and "numpy" in p["filepath"]]
    assert blas and all(p["num_threads"] == 1 for p in blas)


def test_thread_count_follows_threads_then_the_older_torch_threads():
    assert DenseEncoder(MatcherConfig(torch_threads=1)).backend.threads == 1
    assert DenseEncoder(MatcherConfig(threads=1, torch_threads=2)).backend.threads == 1
