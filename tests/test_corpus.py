"""The corpus data must stay faithful to the official guide and usable by the matcher."""
from __future__ import annotations

import logging
import re
import unicodedata
from pathlib import Path

import jieba
import pytest
import yaml

import corpus
from corpus import CORPUS_DIR, all_terms, load_clusters, load_directions, load_rules, load_stopwords
from corpus.guide import parse_directions, read_guide

jieba.setLogLevel(logging.WARNING)

GUIDE = read_guide()
DIRS = load_directions()


def test_guide_parses_to_40_directions_matching_yaml() -> None:
    parsed = parse_directions(GUIDE)
    assert [p.id for p in parsed] == list(range(1, 41))
    assert parsed[11].text.count("；") == 1  # inner ； of 12 kept, trailing one dropped
    assert parsed[39].text.endswith("特种纸生产技术")  # 40 ends with 。 in the guide
    for p, d in zip(parsed, DIRS, strict=True):
        assert (d.id, d.text) == (p.id, p.text), f"direction {p.id} text differs from the guide"


def test_parser_rejects_gaps() -> None:
    with pytest.raises(ValueError, match="consecutive"):
        parse_directions(GUIDE.replace("\n3. 卫星", "\n33. 卫星"))


def test_clusters_are_the_seven_of_the_guide_in_order() -> None:
    line = re.search(r"面向合作区内(.+?)等重点产业集群", GUIDE)
    assert line
    assert [c.name for c in load_clusters()] == line.group(1).split("、")
    assert all(c.en and c.description for c in load_clusters())


@pytest.mark.parametrize("d", DIRS, ids=lambda d: str(d.id))
def test_direction_is_complete(d: corpus.Direction) -> None:
    assert 4 <= len(d.title) <= 12, d.title
    assert len(d.terms) >= 25
    assert d.clusters or d.cluster_note
    assert all(unicodedata.normalize("NFKC", t) == t for t in d.terms), "terms must be NFKC half-width"


@pytest.mark.parametrize("d", DIRS, ids=lambda d: str(d.id))
def test_direction_has_an_english_rendering(d: corpus.Direction) -> None:
    assert d.en.isascii() and d.en.isprintable(), d.en
    assert d.en[0].isupper() and not d.en.endswith((".", " ")), d.en
    assert 40 <= len(d.en) <= 400 and len(d.en.split()) >= 4, d.en


# Capitalised words an English term may hold: names of people, places, taxa, products and models.
NAMES = {
    "Advanced", "African", "Aquilaria", "Bacillus", "Beauveria", "Camellia", "China", "Chinese", "Cinnamomum",
    "Doppler", "Earth", "Ethernet", "Fusarium", "Illicium", "Kalman", "Landsat", "Marker", "Metarhizium", "Micro",
    "Mini", "Natta", "Net", "Neumann", "Peltier", "Pichia", "Prussian", "Seebeck", "Sentinel", "Siraitia",
    "Transformer", "Trichoderma", "Yao", "Zhuang", "Ziegler",
}


def _english(d: corpus.Direction) -> list[str]:
    return [t for t in d.terms if t.isascii() and any(ch.isalpha() for ch in t)]


def test_english_terms_are_lower_case_unless_abbreviations_or_names() -> None:
    """'hot stamping', 'SOEC', 'MoS2', 'Kalman filter' — not 'Hot stamping' or 'Solid Oxide'."""
    bad = {(d.id, t) for d in DIRS for t in _english(d)
           for w in re.split(r"[^A-Za-z0-9]+", t) if re.fullmatch(r"[A-Z][a-z]{2,}", w) and w not in NAMES}
    assert not bad, sorted(bad)


@pytest.mark.parametrize("d", DIRS, ids=lambda d: str(d.id))
def test_direction_speaks_english_too(d: corpus.Direction) -> None:
    assert len(_english(d)) >= 20, "English papers and patents find too little of this direction"
    lower = [t.lower() for t in d.terms]
    assert len(set(lower)) == len(lower), "terms that differ only in case are spotted twice"


def test_no_term_is_only_punctuation_or_digits() -> None:
    """Digits alone are no evidence, except the cylindrical cell formats (18650: 18 mm by 65.0 mm) of direction 24."""
    bad = [(d.id, t) for d in DIRS for t in d.terms
           if not any(ch.isalpha() for ch in t) and not (d.id == 24 and re.fullmatch(r"\d{5}", t))]
    assert not bad, bad


def test_every_cluster_is_used_and_unfit_directions_are_explained() -> None:
    used = {c for d in DIRS for c in d.clusters}
    assert used == {c.name for c in load_clusters()}
    assert {d.id for d in DIRS if not d.clusters} == {13, 14, 32, 40}


def test_all_terms_maps_shared_terms() -> None:
    terms = all_terms(DIRS)
    assert terms["磷酸铁锂"] == (22,)
    assert set(terms["钠离子电池"]) == {23, 24}


def test_stopwords_are_boilerplate_only() -> None:
    stop = load_stopwords()
    assert 150 <= len(stop) <= 400
    assert {"本项目", "关键技术", "产业化", "发明专利", "，"} <= stop
    assert not stop & set(all_terms(DIRS)), "a direction term is in the stop list"


@pytest.mark.parametrize("term", ["碲化铋", "质子交换膜", "存算一体", "钠离子电池", "磷酸铁锂", "罗汉果"])
def test_segmenter_keeps_terms_whole(term: str) -> None:
    """The direction terms are the segmenter's user dictionary: jieba alone splits 碲化铋 into 碲/化铋."""
    from matcher.text import Segmenter

    seg = Segmenter([t for d in DIRS for t in d.terms])
    for sentence in (f"本项目研究{term}的制备工艺", f"以{term}为核心，提高{term}性能。"):
        assert term in seg.tokens(sentence), seg.tokens(sentence)


def _broken(tmp_path: Path, edit) -> Path:
    rows = yaml.safe_load((CORPUS_DIR / "directions.yaml").read_text(encoding="utf-8"))
    edit(rows)
    path = tmp_path / "directions.yaml"
    path.write_text(yaml.safe_dump(rows, allow_unicode=True), encoding="utf-8")
    return path


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda r: r.pop(6), r"missing \[7\]"),
        (lambda r: r[1].update(id=1), r"\[1\] appear more than once"),
        (lambda r: r[12].update(cluster_note=None), r"direction 13: field 'cluster_note'"),
        (lambda r: r[4].update(clusters=["人工智能"]), r"direction 5: field 'clusters'.*人工智能"),
        (lambda r: r[21]["terms"].append("磷酸铁锂"), r"direction 22: field 'terms'.*磷酸铁锂"),
        (lambda r: r[2].update(terms=[]), r"direction 3: field 'terms'"),
        (lambda r: r[9].pop("title"), r"direction 10: field 'title'"),
        (lambda r: r[7].pop("en"), r"direction 8: field 'en' must be a non-empty string"),
        (lambda r: r[7].update(en="  "), r"direction 8: field 'en' must be a non-empty string"),
        (lambda r: r[7].update(en=["hot stamping"]), r"direction 8: field 'en'"),
    ],
)
def test_broken_directions_raise_naming_the_problem(tmp_path: Path, edit, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        load_directions(_broken(tmp_path, edit))


def test_rules_numbers_and_sources() -> None:
    r = load_rules()["rules"]
    assert (r["funding_per_project"]["min"], r["funding_per_project"]["max"]) == (300, 1000)
    assert r["funding_per_project"]["unit"] == "万元" and r["funding_mode"]["value"] == "前资助"
    assert r["match_ratio_enterprise_led"]["min"] == 3 == r["match_ratio_non_enterprise_led"]["min"]
    assert r["duration"]["max"] == 3 and r["duration"]["unit"] == "年"
    assert r["target_new_outputs"]["min"] == 1
    assert r["target_performance_parameters"]["min"] == 5
    assert r["target_invention_patents"]["min"] == 2
    assert r["target_output_or_sales"]["min"] == 2000 and r["target_output_or_sales"]["unit"] == "万元"
    cats = {c["key"]: c for c in r["priority_support"]["categories"]}
    assert cats["tech_investment_attraction"]["proof"] == "招商协议"
    assert cats["venture_fund_conversion"]["proof"] == "投资协议" and cats["venture_fund_conversion"]["mode"] == "拨投联动"
    assert "university_conversion" in cats

    def sources(o):
        if isinstance(o, dict):
            for k, v in o.items():
                yield from ([v] if k in ("source", "proof_source") and v else sources(v))
        elif isinstance(o, list):
            for x in o:
                yield from sources(x)

    srcs = list(sources(r))
    assert len(srcs) >= len(r)
    for s in srcs:
        assert s in GUIDE, f"source not verbatim in the guide: {s[:30]}"
