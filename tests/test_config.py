"""Configuration from the environment, and the optional int8 model."""
from __future__ import annotations

import numpy as np
import pytest

from matcher.config import MatcherConfig
from matcher.dense import DenseEncoder


def test_environment_overrides_are_typed(monkeypatch, tmp_path):
    monkeypatch.setenv("GUIDE_MATCH_QUANTIZE", "0")
    monkeypatch.setenv("GUIDE_MATCH_BATCH_SIZE", "8")
    monkeypatch.setenv("GUIDE_MATCH_MODEL_DIR", str(tmp_path))
    cfg = MatcherConfig.from_env()
    assert cfg.quantize is False and cfg.batch_size == 8 and cfg.model_dir == tmp_path
    monkeypatch.setenv("GUIDE_MATCH_QUANTIZE", "yes")
    assert MatcherConfig.from_env().quantize is True
    assert MatcherConfig.from_env(batch_size=4).batch_size == 4  # explicit overrides win


@pytest.mark.parametrize("name,value,needle", [("QUANTIZE", "maybe", "expected 1/0"), ("BATCH_SIZE", "many", "expected a int")])
def test_bad_environment_value_says_what_is_accepted(monkeypatch, name, value, needle):
    monkeypatch.setenv(f"GUIDE_MATCH_{name}", value)
    with pytest.raises(ValueError, match=needle):
        MatcherConfig.from_env()


def test_missing_model_directory_is_a_clear_error(tmp_path):
    from matcher import InputError

    with pytest.raises(InputError, match="python -m models.build"):
        DenseEncoder(MatcherConfig(model_dir=tmp_path))


def test_int8_model_stays_close_to_float(matcher):
    texts = ["质子交换膜燃料电池电堆与膜电极开发", "高压实磷酸铁锂正极材料连续化制备", "Underwater autonomous robot navigation"]
    fp32 = matcher.encoder.encode_queries(texts)
    int8 = DenseEncoder(MatcherConfig(quantize=True)).encode_queries(texts)
    assert int8.shape == fp32.shape
    assert np.min(np.sum(int8 * fp32, axis=1)) >= 0.97
