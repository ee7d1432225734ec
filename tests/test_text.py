"""Normalisation, its offsets back into the text as sent, and term spans."""
from __future__ import annotations

import sys
import unicodedata

import pytest

from matcher.text import _FORMAT, TermSpotter, normalize, normalize_with_offsets


def test_the_format_class_holds_every_format_character():
    """Every Cf code point of this Python's Unicode database, and nothing assigned to another category."""
    for cp in range(sys.maxunicode + 1):
        ch = chr(cp)
        cat = unicodedata.category(ch)
        if cat == "Cf":
            assert _FORMAT.fullmatch(ch), f"U+{cp:04X} is a format character"
        elif _FORMAT.fullmatch(ch):
            assert cat == "Cn", f"U+{cp:04X} ({cat}) is not a format character"


@pytest.mark.parametrize("invisible", ["\u200b", "\u200d", "\ufeff", "\u00ad", "\u2060", "\u200e"])
def test_invisible_characters_are_removed(invisible):
    clean = "质子交换膜燃料电池电堆"
    dirty = invisible.join(clean)
    assert normalize(dirty) == clean


@pytest.mark.parametrize("text", [
    "質子交換膜燃料電池，ＰＥＭＦＣ電堆功率≥１２０ kW",
    "  高压实\u200b磷酸铁锂\n\n正极材料  ",
    "Cafe\u0301 et re\u0301sume\u0301 — SiC MOSFET",
    "ﬁne ﬂow ㎏ ① Ⅻ",
    "𠀋𠀋 钠离子电池\t正极",
    "",
])
def test_offsets_give_the_same_normal_form(text):
    norm, spans = normalize_with_offsets(text)
    assert norm == normalize(text)
    assert len(spans) == len(norm)
    for ch, (a, b) in zip(norm, spans):
        assert 0 <= a < b <= len(text)
        source = normalize(text[a:b]).lower() or " "
        assert ch.lower() in source or ch == " "


def test_spans_point_into_the_text_as_sent():
    spotter = TermSpotter(["燃料电池", "质子交换膜", "PEMFC", "氮化镓", "镓"])
    text = "𠀋質子交\u200b換膜燃料電池（ｐｅｍｆｃ）與氮化鎵"
    found = spotter.find(normalize(text), ["氮化镓"])
    spans = spotter.spans(text, found)
    assert [text[a:b] for a, b in spans["质子交换膜"]] == ["質子交\u200b換膜"]
    assert [text[a:b] for a, b in spans["燃料电池"]] == ["燃料電池"]
    assert [text[a:b] for a, b in spans["PEMFC"]] == ["ｐｅｍｆｃ"]
    assert [text[a:b] for a, b in spans["氮化镓"]] == ["氮化鎵"]
    assert "镓" not in spans  # inside the longer term


def test_a_text_with_zero_width_characters_scores_as_its_clean_twin(matcher):
    clean = "面向储能电站需求，开发高压实磷酸铁锂正极材料，优化前驱体共沉淀与烧结工艺，压实密度≥2.6 g/cm³。"
    dirty = "\u200b".join(clean[:20]) + "\u00ad" + clean[20:] + "\ufeff"
    a, b = matcher.match(clean, top_k=3), matcher.match(dirty, top_k=3)
    assert [d.id for d in a.directions] == [d.id for d in b.directions]
    assert a.directions[0].score == pytest.approx(b.directions[0].score, abs=1e-3)
    assert a.directions[0].matched_terms == b.directions[0].matched_terms
    assert a.in_scope == b.in_scope


def test_length_is_checked_after_normalisation(matcher):
    from matcher import InputError

    with pytest.raises(InputError) as err:
        matcher.match("\ufdfa" * 2000)  # 2,000 characters that NFKC expands 18 times
    assert err.value.code == "text_too_long" and "normalised" in err.value.message


def test_jieba_hmm_never_reads_a_huge_sentence(matcher, monkeypatch):
    """jieba's HMM is slow per character (20,000 × 锂 took over 2 s): it only reads sentences of ordinary length."""
    import jieba.finalseg

    longest = []
    real = jieba.finalseg.cut
    monkeypatch.setattr(jieba.finalseg, "cut", lambda s: (longest.append(len(s)), real(s))[1])
    assert len(matcher.segmenter.tokens("锂" * 20000)) == 20000
    assert {"碲化铋", "热电材料"} <= set(matcher.segmenter.tokens("研究新型碲化铋热电材料，制备微型热电器件。"))
    assert max(longest, default=0) <= 300
