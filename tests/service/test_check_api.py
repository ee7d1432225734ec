"""POST /v1/check: the verdict shape, given fields over text, every bad input as 422, nothing logged or stored."""
from __future__ import annotations

import logging

import pytest
from fastapi.testclient import TestClient

from corpus import CORPUS_DIR
from service.app import create_app

from service_support import make_settings

GUIDE = (CORPUS_DIR / "guide-2024.txt").read_text(encoding="utf-8")
TEXT = ("本项目由广西某某新材料有限公司牵头，申请财政资金800万元，企业自筹2400万元，实施期限2025年1月至2027年12月；"
        "形成新产品2项，关键性能参数6项；申请发明专利3件（其中授权1件）；制定企业标准2项；实现销售收入5000万元。")


@pytest.fixture(scope="module")
def api():
    # No matcher and no lifespan: the pre-check needs no model, so it answers before the model is loaded.
    return TestClient(create_app(make_settings()), raise_server_exceptions=False)


def test_text_gives_verdicts_with_the_guides_sentences_and_spans(api):
    r = api.post("/v1/check", json={"text": TEXT})
    assert r.status_code == 200
    data = r.json()
    assert set(data) == {"eligible", "checks", "missing", "ambiguous", "values"}
    checks = {c["rule"]: c for c in data["checks"]}
    assert checks["funding_per_project"]["status"] == "pass" and checks["funding_per_project"]["value"] == 800
    assert checks["match_ratio_enterprise_led"]["status"] == "warn"      # exactly 3:1
    assert checks["duration"]["value"] == 3 and checks["duration"]["unit"] == "年"
    for c in data["checks"]:
        assert set(c) >= {"rule", "status", "value", "limit", "unit", "evidence", "source"}
        assert c["source"] in GUIDE
        for e in c["evidence"]:
            assert e["source"] == "input" or TEXT[e["start"]:e["end"]] == e["text"]
    # priority is not stated, so the agreement rule is open and the verdict is null
    assert data["eligible"] is None and data["missing"] == ["priority", "agreement_attached"]
    assert data["values"]["fiscal_funding_wan"] == {
        "value": 800, "source": "text",
        "evidence": [{"field": "fiscal_funding_wan", "source": "text", "text": "800万元",
                      "start": TEXT.index("800万元"), "end": TEXT.index("800万元") + 5}]}


def test_fields_alone_and_fields_over_text(api):
    body = {"text": TEXT, "priority": "none", "fiscal_funding_wan": 1200, "enterprise_matching_wan": 3000}
    data = api.post("/v1/check", json=body).json()
    checks = {c["rule"]: c for c in data["checks"]}
    assert data["eligible"] is False
    assert checks["funding_per_project"]["status"] == "fail" and checks["funding_per_project"]["evidence"][0]["source"] == "input"
    assert checks["match_ratio_enterprise_led"]["status"] == "fail"
    assert "agreement_attached" not in checks and data["missing"] == []


def test_all_fields_pass(api):
    body = {"lead_type": "university", "fiscal_funding_wan": 900, "fiscal_to_enterprises_wan": 500,
            "enterprise_matching_wan": 1800, "start": "2025-03", "end": "2027-12", "new_outputs": 2,
            "performance_parameters": 5, "invention_patents": 2, "standards": 1, "output_or_sales_wan": 3000,
            "priority": "investment_attraction", "agreement_attached": True}
    data = api.post("/v1/check", json=body).json()
    assert data["eligible"] is True and data["missing"] == []
    assert [c["rule"] for c in data["checks"]][-1] == "agreement_attached"


def test_ambiguous_text_asks_for_the_field(api):
    data = api.post("/v1/check", json={"text": "申请财政资金500—800万元。"}).json()
    funding = {c["rule"]: c for c in data["checks"]}["funding_per_project"]
    assert funding["status"] == "unknown" and "fiscal_funding_wan" in data["missing"]
    assert data["ambiguous"][0]["field"] == "fiscal_funding_wan"


@pytest.mark.parametrize("body, code, field", [
    ({"fiscal_funding_wan": -1}, "invalid_value", "fiscal_funding_wan"),
    ({"fiscal_funding_wan": 1_000_001}, "invalid_value", "fiscal_funding_wan"),
    ({"fiscal_funding_wan": "800"}, "wrong_type", "fiscal_funding_wan"),
    ({"new_outputs": 1.5}, "wrong_type", "new_outputs"),
    ({"start": "2026-01", "end": "2025-01"}, "inconsistent_fields", "end"),
    ({"start": "January 2025"}, "invalid_value", "start"),
    ({"lead_type": "bank"}, "invalid_value", "lead_type"),
    ({"priority": "other"}, "invalid_value", "priority"),
    ({"fiscal_funding_wan": 0, "enterprise_matching_wan": 10}, "inconsistent_fields", "fiscal_funding_wan"),
    ({"agreement_attached": 1}, "wrong_type", "agreement_attached"),
    ({"fiscal": 800}, "unknown_field", "fiscal"),
    ({"text": ""}, "text_empty", "text"),
    ({}, "nothing_to_check", None),
])
def test_bad_input_is_422_in_the_error_shape(api, body, code, field):
    r = api.post("/v1/check", json=body)
    assert r.status_code == 422
    assert r.json()["error"]["code"] == code and r.json()["error"]["field"] == field


def test_lone_surrogate_is_422(api):
    r = api.post("/v1/check", content=b'{"text": "\\ud800\\u7533\\u8bf7"}', headers={"Content-Type": "application/json"})
    assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_text"


def test_text_over_the_limit():
    small = TestClient(create_app(make_settings(max_text_chars=50)))
    r = small.post("/v1/check", json={"text": "申请财政资金800万元，" * 10})
    assert r.status_code == 422 and r.json()["error"]["code"] == "text_too_long"


def test_nothing_of_the_text_is_logged(api, caplog):
    secret = "钠离子绝密工艺QX7申请财政资金777万元"
    with caplog.at_level(logging.DEBUG):
        api.post("/v1/check", json={"text": secret})
        api.post("/v1/check", json={"text": secret, "lead_type": secret})
    assert caplog.records and secret not in caplog.text and "QX7" not in caplog.text


def test_openapi_documents_the_endpoint(api):
    spec = api.get("/openapi.json").json()
    op = spec["paths"]["/v1/check"]["post"]
    assert "422" in op["responses"] and "200" in op["responses"]
    props = spec["components"]["schemas"]["CheckRequest"]["properties"]
    assert set(props) == {"text", "lead_type", "fiscal_funding_wan", "enterprise_matching_wan",
                          "fiscal_to_enterprises_wan", "start", "end", "duration_months", "new_outputs",
                          "performance_parameters", "invention_patents", "standards", "output_or_sales_wan",
                          "priority", "agreement_attached"}


def test_another_rules_file_through_the_settings(tmp_path):
    import yaml

    from corpus import load_rules
    from eligibility.config import EligibilitySettings

    data = load_rules()
    data["rules"]["funding_per_project"]["max"] = 800
    path = tmp_path / "rules.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    c = TestClient(create_app(make_settings(eligibility=EligibilitySettings(rules=path))))
    funding = c.post("/v1/check", json={"fiscal_funding_wan": 900}).json()["checks"][0]
    assert funding["status"] == "fail" and funding["limit"]["max"] == 800
