"""Configuration from the environment."""
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
    monkeypatch.delenv("GUIDE_MATCH_QUANTIZE")
    assert MatcherConfig.from_env().quantize is None  # the backend decides


@pytest.mark.parametrize("name,value,needle", [("QUANTIZE", "maybe", "GUIDE_MATCH_QUANTIZE=.maybe.: expected 1/0"), ("BATCH_SIZE", "many", "GUIDE_MATCH_BATCH_SIZE=.many.: expected a whole number")])
def test_bad_environment_value_says_what_is_accepted(monkeypatch, name, value, needle):
    monkeypatch.setenv(f"GUIDE_MATCH_{name}", value)
    with pytest.raises(ValueError, match=needle):
        MatcherConfig.from_env()


def test_missing_model_directory_is_a_clear_error(tmp_path):
    from matcher import InputError

    with pytest.raises(InputError, match="python -m models.build"):
        DenseEncoder(MatcherConfig(model_dir=tmp_path))
