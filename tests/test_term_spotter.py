"""Finding curated terms in a proposal: substrings for Chinese, whole words for Latin terms."""
from __future__ import annotations

from matcher.text import TermSpotter, normalize

SPOTTER = TermSpotter(["AI", "5G", "SiC", "Li-ion", "C++", "镓", "氮化镓", "燃料电池", "PEMFC"])


def find(text: str, tokens=()) -> set[str]:
    return SPOTTER.find(normalize(text), tokens)


def test_latin_terms_match_whole_words_only():
    assert find("基于AI的缺陷检测") == {"AI"}
    assert find("mail server and maintenance") == set()
    assert find("5G专网与5GC核心网") == {"5G"}  # 5GC is another word


def test_latin_terms_ignore_case_and_full_width_forms():
    assert find("ｓｉｃ功率器件与pemfc电堆") == {"SiC", "PEMFC"}


def test_terms_with_punctuation_match_as_words():
    assert find("Li-ion电池回收") == {"Li-ion"}
    assert find("poli-ionic liquid") == set()
    assert find("嵌入式C++软件") == {"C++"}


def test_single_character_terms_need_their_own_token():
    assert find("氮化镓外延片", ["氮化镓", "外延片"]) == {"氮化镓"}
    assert find("金属镓提纯", ["金属", "镓", "提纯"]) == {"镓"}


def test_chinese_terms_match_as_substrings_in_traditional_spelling_too():
    assert find("質子交換膜燃料電池") == {"燃料电池"}
