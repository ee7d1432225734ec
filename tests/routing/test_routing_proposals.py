"""Reading proposals tables: formats, Chinese headers, organisations, bad files."""
from __future__ import annotations

import json

import pandas as pd
import pytest

from matcher import InputError
from routing.proposals import normalize_org, proposals_from_items, read_proposals, same_org, split_orgs

ROWS = [
    {"id": "2024-001", "title": "高压实磷酸铁锂正极材料", "abstract": "开发碳包覆纳米磷酸铁锂…", "applicant_org": "广西某新能源有限公司",
     "partner_orgs": "广西大学；中南大学; 桂林理工大学"},
    {"id": "2024-002", "title": "质子交换膜燃料电池电堆", "abstract": "", "applicant_org": "", "partner_orgs": ""},
]
CHINESE = {"id": "编号", "title": "项目名称", "abstract": "摘要", "applicant_org": "申报单位", "partner_orgs": "合作单位"}


def write(tmp_path, rows, suffix, rename=None):
    df = pd.DataFrame(rows).rename(columns=rename or {})
    path = tmp_path / f"p{suffix}"
    if suffix == ".csv":
        df.to_csv(path, index=False, encoding="utf-8")
    elif suffix == ".xlsx":
        df.to_excel(path, index=False)
    else:
        path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in df.to_dict("records")), encoding="utf-8")
    return path


@pytest.mark.parametrize("suffix", [".csv", ".xlsx", ".jsonl"])
@pytest.mark.parametrize("rename", [None, CHINESE])
def test_reads_every_format_with_english_or_chinese_headers(tmp_path, suffix, rename):
    props = read_proposals(write(tmp_path, ROWS, suffix, rename))
    assert [p.id for p in props] == ["2024-001", "2024-002"]
    p = props[0]
    assert p.partner_orgs == ("广西大学", "中南大学", "桂林理工大学")
    assert p.orgs == ("广西某新能源有限公司", "广西大学", "中南大学", "桂林理工大学")
    assert p.text == "高压实磷酸铁锂正极材料\n开发碳包覆纳米磷酸铁锂…"
    assert props[1].text == "质子交换膜燃料电池电堆" and props[1].orgs == ()
    assert p.row == (1 if suffix == ".jsonl" else 2)


def test_numeric_ids_and_missing_optional_columns(tmp_path):
    path = tmp_path / "p.xlsx"
    pd.DataFrame({"编号": [1, 2], "摘要": ["甲", "乙"]}).to_excel(path, index=False)
    props = read_proposals(path)
    assert [p.id for p in props] == ["1", "2"] and props[0].orgs == ()


@pytest.mark.parametrize(
    "content, message",
    [
        ("title,abstract\n甲,乙\n", "no column 'id' (or 编号)"),
        ("id,applicant_org\n1,甲\n", "needs a column 'abstract' (摘要) and/or 'title'"),
        ("id,编号,abstract\n1,1,a\n", "columns 'id' and '编号' both mean 'id'"),
        ("id,abstract\n1,a\n,b\n1,c\n", "row 3: empty id; row 4: id '1' is already used by row 2"),
        ("id,abstract\n", "no proposals"),
    ],
)
def test_bad_tables_say_what_is_wrong(tmp_path, content, message):
    path = tmp_path / "bad.csv"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(InputError) as e:
        read_proposals(path)
    assert message in e.value.message and "bad.csv" in e.value.message


def test_bad_files(tmp_path):
    with pytest.raises(InputError, match="unknown file type '.txt'"):
        read_proposals(tmp_path / "p.txt")
    with pytest.raises(InputError, match="no such file"):
        read_proposals(tmp_path / "missing.xlsx")
    (tmp_path / "gbk.csv").write_bytes("id,摘要\n1,电池\n".encode("gbk"))
    with pytest.raises(InputError, match="not UTF-8"):
        read_proposals(tmp_path / "gbk.csv")
    (tmp_path / "broken.xlsx").write_bytes(b"PK\x03\x04 not really")
    with pytest.raises(InputError, match="cannot be read as .xlsx"):
        read_proposals(tmp_path / "broken.xlsx")
    (tmp_path / "bad.jsonl").write_text('{"id": 1}\n[1, 2]\n', encoding="utf-8")
    with pytest.raises(InputError, match="line 2 is a JSON list"):
        read_proposals(tmp_path / "bad.jsonl")


def test_items_from_json():
    props = proposals_from_items([{"编号": "a", "摘要": "d1", "合作单位": ["甲大学", "乙研究院", "甲大学"]}])
    assert props[0].partner_orgs == ("甲大学", "乙研究院")
    with pytest.raises(InputError, match=r"items\[0\] must be an object"):
        proposals_from_items(["x"])
    with pytest.raises(InputError, match=r"items\[0\]\.abstract must be text"):
        proposals_from_items([{"id": "a", "abstract": {"x": 1}}])
    with pytest.raises(InputError, match=r"items\[1\]: id 'a' is already used by items\[0\]"):
        proposals_from_items([{"id": "a", "abstract": "x"}, {"id": "a", "abstract": "y"}])


def test_organisation_names():
    assert split_orgs("广西大学；中南大学;\n桂林理工大学；；") == ("广西大学", "中南大学", "桂林理工大学")
    assert split_orgs(None) == () and split_orgs("") == ()
    assert normalize_org(" 广西大学（南宁） ") == "广西大学南宁"
    assert normalize_org("ＧＸＵ Ltd.") == "gxultd"
    assert same_org("广西大学", "广西大学 ")
    assert same_org("广西大学", "广西大学化学化工学院")  # a part of the university
    assert same_org("廣西大學", "广西大学")  # traditional characters: the same university, a conflict
    assert split_orgs("廣西大學；广西大学") == ("廣西大學",)
    assert same_org("中国科学院广州能源研究所", "中国科学院广州能源研究所")
    assert not same_org("广西大学", "广西民族大学")
    assert not same_org("广西", "广西大学")  # too short to stand for an organisation
    assert not same_org("", "广西大学")
