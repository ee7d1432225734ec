"""The matcher ranks directions sensibly, flags what is out of scope and rejects bad input clearly."""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

import corpus
from matcher import InputError, MatchResult

DIRECTIONS = corpus.load_directions()

# Realistic proposal abstracts, written for these tests, with the direction an expert would pick.
ABSTRACTS = [
    (22, "本项目针对动力电池对高压实密度正极材料的需求，开发碳包覆纳米磷酸铁锂连续化制备工艺，"
         "通过液相法前驱体合成与两段烧结，实现压实密度≥2.6 g/cm³、0.1C放电比容量≥158 mAh/g，"
         "建成年产2万吨LFP生产线。"),
    (20, "面向49吨重卡应用，研制额定功率150 kW的质子交换膜燃料电池系统，开发低铂膜电极、"
         "超薄金属双极板和大功率电堆，寿命达到25000小时，实现-30℃低温冷启动。"),
    (5, "利用深度学习与机器视觉构建甘蔗病虫害智能识别模型，结合无人机多光谱影像实现田间病害早期预警，"
        "识别准确率达到95%以上，服务广西蔗区10万亩。"),
    (7, "基于氧化铪忆阻器阵列研制存算一体AI芯片，利用人工突触器件实现卷积神经网络的模拟域乘加运算，能效比提升10倍。"),
    (13, "以甘蔗原糖为原料，开发低色值液体糖连续离子交换脱色工艺和注射级药用蔗糖精制技术，产品符合药典标准。"),
    (28, "开发高纯氧化镝、氧化铽萃取分离新工艺，纯度达99.999%，并制备晶界扩散高矫顽力钕铁硼稀土永磁体。"),
    (36, "研制大深度水下自主机器人（AUV），融合声呐、光学与磁探测的多模态感知，实现海底管线巡检与水下定位导航。"),
    (11, "建立CHO细胞高效表达平台，开发重组带状疱疹疫苗及长效重组蛋白药物，完成中试工艺放大和临床前研究。"),
    (25, "研发1500 MPa级热成形汽车用钢和海工平台用E690高强钢板，优化控轧控冷工艺，提升低温冲击韧性。"),
    (40, "采用低定量高强度瓦楞原纸和高档白卡纸生产技术，开发可替代塑料的食品级特种包装纸，纸张环压强度提高20%。"),
]

OUT_OF_SCOPE = [
    "本文以鲁迅小说中的女性形象为研究对象，结合叙事学理论，分析五四时期文学作品的性别书写与现代性想象。",
    "研究非交换代数几何中导出范畴的稳定性条件，证明了一类K3曲面上Bridgeland稳定性空间的连通性猜想。",
    "梳理明清时期江南地区宗族祠堂的建筑形制与祭祀礼仪，探讨地方社会秩序的形成及其历史演变。",
]


@pytest.mark.parametrize("direction", DIRECTIONS, ids=lambda d: f"direction-{d.id}")
def test_official_text_ranks_its_own_direction_first(matcher, direction):
    result = matcher.match(direction.text, top_k=3)
    assert result.directions[0].id == direction.id, [(d.id, d.score) for d in result.directions]


@pytest.mark.parametrize("expected,text", ABSTRACTS, ids=[f"abstract-{d}" for d, _ in ABSTRACTS])
def test_realistic_abstract_ranks_its_direction_in_top_three(matcher, expected, text):
    result = matcher.match(text, top_k=3)
    assert expected in [d.id for d in result.directions]
    assert result.in_scope


@pytest.mark.parametrize("text", OUT_OF_SCOPE)
def test_out_of_scope_text_is_flagged(matcher, text):
    result = matcher.match(text)
    assert result.in_scope is False
    assert "未找到" in result.message


def test_result_shape_and_scores(matcher):
    result = matcher.match(ABSTRACTS[0][1], top_k=5)
    assert isinstance(result, MatchResult)
    assert len(result.directions) == 5
    scores = [d.score for d in result.directions]
    assert scores == sorted(scores, reverse=True)
    assert all(0.0 <= s <= 1.0 for s in scores)
    best = result.directions[0]
    assert best.cluster == "新能源材料"
    assert "磷酸铁锂" in best.matched_terms
    assert result.clusters[0].name == "新能源材料"
    assert len(result.clusters) == 7
    d = result.to_dict()
    assert set(d["directions"][0]) >= {"id", "title", "score", "cluster", "matched_terms"}
    assert d["version"].startswith("guide-match")


def test_traditional_and_full_width_text_match_like_simplified(matcher):
    simplified = matcher.match("质子交换膜燃料电池电堆与膜电极开发，功率150kW")
    traditional = matcher.match("質子交換膜燃料電池電堆與膜電極開發，功率１５０ｋＷ")
    assert [d.id for d in simplified.directions] == [d.id for d in traditional.directions]
    assert simplified.directions[0].score == pytest.approx(traditional.directions[0].score, abs=1e-3)


def test_english_abstract_is_understood(matcher):
    result = matcher.match(
        "Development of a 150 kW proton exchange membrane fuel cell stack for heavy-duty trucks, "
        "with low-platinum membrane electrode assemblies and metal bipolar plates.",
        top_k=3,
    )
    assert 20 in [d.id for d in result.directions]


def test_long_abstract_is_windowed_not_cut(matcher):
    head = ABSTRACTS[1][1]
    tail = "本项目还将" + "开发钠离子电池层状氧化物正极材料与硬碳负极，" * 80
    long_text = head + tail
    assert matcher.encoder.token_count(long_text) > 600
    windows = matcher.encoder._windows(long_text, matcher.config.query_prompt)
    assert len(windows) >= 2
    assert sum(n for _, n in windows) == matcher.encoder.token_count(long_text)
    result = matcher.match(long_text, top_k=5)
    ids = [d.id for d in result.directions]
    assert 22 in ids or 24 in ids  # the sodium-ion text beyond 512 tokens counts


def test_match_many_keeps_order_and_equals_match(matcher):
    texts = [t for _, t in ABSTRACTS[:4]]
    many = matcher.match_many(texts, top_k=3)
    for text, res in zip(texts, many):
        one = matcher.match(text, top_k=3)
        assert [d.id for d in res.directions] == [d.id for d in one.directions]
        assert res.directions[0].score == pytest.approx(one.directions[0].score, abs=1e-3)


def test_match_many_reports_bad_rows_without_failing(matcher):
    progress = []
    out = matcher.match_many(["", ABSTRACTS[0][1], "   "], on_error="return", progress=progress.append)
    assert isinstance(out[0], InputError) and isinstance(out[2], InputError)
    assert isinstance(out[1], MatchResult)
    assert sum(progress) == 3
    with pytest.raises(InputError):
        matcher.match_many(["", ABSTRACTS[0][1]])


def test_shared_across_threads(matcher):
    texts = [t for _, t in ABSTRACTS] * 2
    expected = [matcher.match(t).directions[0].id for t in texts]
    with ThreadPoolExecutor(max_workers=4) as pool:
        got = list(pool.map(lambda t: matcher.match(t).directions[0].id, texts))
    assert got == expected


@pytest.mark.parametrize(
    "text,needle",
    [
        ("", "empty"),
        ("   \n\t　", "empty"),
        ("，。！", "too short"),
        ("电池", "too short"),
        ("锂" * 20_001, "at most 20000"),
        (None, "must be a string"),
        (123, "must be a string"),
    ],
)
def test_bad_text_gets_a_clear_error(matcher, text, needle):
    with pytest.raises(InputError) as err:
        matcher.match(text)
    assert needle in err.value.message
    assert err.value.field == "text"


@pytest.mark.parametrize("top_k", [0, 41, -1, "3", 2.5, True])
def test_bad_top_k_gets_a_clear_error(matcher, top_k):
    with pytest.raises(InputError) as err:
        matcher.match("钠离子电池正极材料研发", top_k=top_k)
    assert "top_k must be an integer from 1 to 40" in err.value.message
