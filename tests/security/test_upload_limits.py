"""Finding 2 (medium): uploads without limits.

A 1.9 kB .xlsx with one row numbered 5,000,000 took 31 s and 1.45 GB; a 465 kB file expanded to
3 M rows; a 300 MB cell froze the server; a 100k-row upload was routed in one request. Tables are
now checked before parsing (the archive's declared sizes, the sheet's dimension) and while parsing
(rows, columns, field length): 413/422 in the error shape over the API, one line and exit 2 from
the command line, which can raise the limits for a trusted file.
"""
from __future__ import annotations

import tracemalloc

import pandas as pd
import pytest

from matcher import InputError
from matcher.tables import TableLimits, TableTooLarge, read_table
from routing import proposals_from_items

import bombs
from security_support import KEY, staff_client

LIMITS = TableLimits(max_rows=10_000, max_columns=100, max_field_chars=32_767, max_bytes=64 * 1024 * 1024)


def _refused(tmp_path, name: str, data: bytes, limits=LIMITS) -> InputError:
    path = tmp_path / name
    path.write_bytes(data)
    tracemalloc.start()
    try:
        with pytest.raises(InputError) as e:
            read_table(path, limits)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 50 * 1024 * 1024, f"{peak / 2**20:.0f} MB allocated before refusing"  # refused before parsing
    return e.value


@pytest.mark.parametrize("data, code, words", [
    (bombs.far_row(), "table_too_large", "used range holds 4999999 data rows"),
    (bombs.far_row(dimension=False), "table_too_large", "more than 10000 data rows"),
    (bombs.many_rows(10_001), "table_too_large", "used range holds 10001 data rows"),
    (bombs.many_rows(10_001, dimension=False), "table_too_large", "more than 10000 data rows"),
    (bombs.huge_cell(300), "table_too_large", "bytes once unpacked"),
    (bombs.wide(16_000), "table_too_large", "columns"),
    (bombs.lying_dimension(), "invalid_input", "rows beyond its declared range"),
])
def test_xlsx_bombs_are_refused_before_they_are_parsed(tmp_path, data, code, words):
    err = _refused(tmp_path, "bomb.xlsx", data)
    assert err.code == code and words in err.message
    assert "at most" in err.message or "save it again" in err.message


def test_a_table_at_the_row_limit_is_read(tmp_path):
    path = tmp_path / "ok.xlsx"
    path.write_bytes(bombs.many_rows(10_000))
    df = read_table(path, LIMITS)
    assert len(df) == 10_000 and list(df.columns) == ["id", "title", "abstract"]


def test_csv_and_jsonl_rows_and_fields_are_bounded(tmp_path):
    csv = tmp_path / "rows.csv"
    csv.write_text("id,abstract\n" + "".join(f"p{i},摘要\n" for i in range(10_001)), encoding="utf-8")
    assert isinstance(_refused(tmp_path, "rows.csv", csv.read_bytes()), TableTooLarge)
    jsonl = "".join(f'{{"id": "p{i}", "abstract": "x"}}\n' for i in range(10_001)).encode()
    assert isinstance(_refused(tmp_path, "rows.jsonl", jsonl), TableTooLarge)
    secret = "机密" * 20_000
    err = _refused(tmp_path, "field.csv", f"id,abstract\np1,ok\np2,{secret}\n".encode())
    assert err.code == "field_too_long" and "row 3, column 'abstract': 40000 characters; at most 32767" in err.message
    assert "机密" not in err.message
    wide = ",".join(f"c{i}" for i in range(1000)) + "\n"
    assert isinstance(_refused(tmp_path, "wide.csv", wide.encode()), TableTooLarge)


def test_jsonl_lines_nested_deep_or_with_huge_numbers_are_bad_lines(tmp_path):
    for name, line in (("deep.jsonl", "[" * 50_000 + "]" * 50_000), ("digits.jsonl", '{"id": ' + "9" * 5000 + "}")):
        err = _refused(tmp_path, name, ('{"id": "p1"}\n' + line + "\n").encode())
        assert "line 2" in err.message


# -- over the API -----------------------------------------------------------------------------------
@pytest.mark.parametrize("name, data, status, code", [
    ("far.xlsx", bombs.far_row(), 413, "table_too_large"),
    ("many.xlsx", bombs.many_rows(10_001, dimension=False), 413, "table_too_large"),
    ("cell.xlsx", bombs.huge_cell(300), 413, "table_too_large"),
    ("lying.xlsx", bombs.lying_dimension(), 422, "invalid_input"),
    ("rows.csv", ("id,abstract\n" + "p,x\n" * 10_001).encode(), 413, "table_too_large"),
    ("field.csv", ("id,abstract\np1," + "机" * 40_000 + "\n").encode(), 422, "field_too_long"),
])
def test_api_answers_413_or_422_in_the_error_shape(tmp_path, name, data, status, code):
    with staff_client(tmp_path) as client:
        r = client.post("/v1/routing/runs", files={"file": (name, data, "application/octet-stream")}, headers=KEY)
        assert r.status_code == status, r.text
        err = r.json()["error"]
        assert set(err) == {"code", "message", "field"} and err["code"] == code
        assert "guide-match-upload-" not in err["message"] and "/tmp" not in err["message"]
        assert client.get("/healthz").status_code == 200


def test_api_row_limit_is_the_routing_setting(tmp_path):
    from routing.config import RoutingSettings

    with staff_client(tmp_path) as client:
        settings = client.app.state.settings
        client.app.state.settings = settings.model_copy(
            update={"routing": RoutingSettings(db=settings.routing.db, panels=settings.routing.panels, max_proposals=3)})
        rows = "".join(f"p{i},d1=0.9\n" for i in range(4))
        r = client.post("/v1/routing/runs", files={"file": ("p.csv", ("id,abstract\n" + rows).encode(), "text/csv")},
                        headers=KEY)
        assert r.status_code == 413 and "more than 3 data rows" in r.json()["error"]["message"]
        r = client.post("/v1/routing/runs", json={"items": [{"id": f"p{i}", "abstract": "d1=0.9"} for i in range(4)]},
                        headers=KEY)
        assert r.status_code == 422 and r.json()["error"]["code"] == "too_many_items"


def test_json_item_fields_have_the_same_length_cap():
    with pytest.raises(InputError, match=r"items\[0\]: abstract is 40000 characters long; at most 32767"):
        proposals_from_items([{"id": "p1", "abstract": "机" * 40_000}])


# -- from the command line ---------------------------------------------------------------------------
def test_cli_limits_and_the_trusted_option(cli_run, tmp_path, monkeypatch):
    src = tmp_path / "in.csv"
    pd.DataFrame({"id": ["a", "b", "c", "d"], "text": ["钠离子电池正极材料"] * 4}).to_csv(src, index=False)
    monkeypatch.setenv("GUIDE_MATCH_TABLE_MAX_ROWS", "3")
    code, _, err = cli_run("batch", src, "-o", tmp_path / "out.jsonl")
    assert code == 2 and "more than 3 data rows; at most 3 are accepted" in err and "Traceback" not in err
    assert not (tmp_path / "out.jsonl").exists()
    code, _, err = cli_run("batch", src, "-o", tmp_path / "out.jsonl", "--max-rows", "4")
    assert code == 0, err
    code, _, err = cli_run("batch", src, "-o", tmp_path / "out2.jsonl", "--trusted")
    assert code == 0, err
    code, _, err = cli_run("batch", src, "-o", tmp_path / "out3.jsonl", "--max-rows", "0")
    assert code == 2 and "--max-rows must be at least 1" in err


def test_cli_route_refuses_a_bomb_before_loading_the_model(cli_run, tmp_path):
    src = tmp_path / "bomb.xlsx"
    src.write_bytes(bombs.far_row())
    code, _, err = cli_run("route", src, "-o", tmp_path / "routing.xlsx", "--db", tmp_path / "r.sqlite")
    assert code == 2 and "used range holds 4999999 data rows" in err
