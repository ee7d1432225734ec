"""Bad input names its field and what is accepted (the CLI exits 2, the API answers 422 with these)."""
from __future__ import annotations

import pytest

from eligibility import check
from matcher.errors import InputError


@pytest.mark.parametrize("data, field, code", [
    ({"fiscal_funding_wan": -5}, "fiscal_funding_wan", "invalid_value"),
    ({"enterprise_matching_wan": 1_000_001}, "enterprise_matching_wan", "invalid_value"),
    ({"output_or_sales_wan": "5000"}, "output_or_sales_wan", "wrong_type"),
    ({"fiscal_funding_wan": True}, "fiscal_funding_wan", "wrong_type"),
    ({"invention_patents": 2.5}, "invention_patents", "wrong_type"),
    ({"standards": -1}, "standards", "invalid_value"),
    ({"duration_months": 0}, "duration_months", "invalid_value"),
    ({"start": "2025/01", "end": "2027-12"}, "start", "invalid_value"),
    ({"start": "2025-13"}, "start", "invalid_value"),
    ({"start": 202501}, "start", "wrong_type"),
    ({"start": "2027-01", "end": "2025-12"}, "end", "inconsistent_fields"),
    ({"start": "2025-01", "end": "2027-12", "duration_months": 24}, "duration_months", "inconsistent_fields"),
    ({"start": "1990-01", "end": "2027-12"}, "end", "inconsistent_fields"),
    ({"lead_type": "bank"}, "lead_type", "invalid_value"),
    ({"lead_type": 1}, "lead_type", "wrong_type"),
    ({"priority": "lottery"}, "priority", "invalid_value"),
    ({"agreement_attached": "yes"}, "agreement_attached", "wrong_type"),
    ({"fiscal_funding_wan": 0, "enterprise_matching_wan": 100}, "fiscal_funding_wan", "inconsistent_fields"),
    ({"fiscal_to_enterprises_wan": 0, "enterprise_matching_wan": 100}, "fiscal_to_enterprises_wan",
     "inconsistent_fields"),
    ({"fiscal_funding_wan": 300, "fiscal_to_enterprises_wan": 400}, "fiscal_to_enterprises_wan", "inconsistent_fields"),
    ({"budget": 800}, "budget", "unknown_field"),
    ({"text": "   "}, "text", "text_empty"),
    ({"text": 42}, "text", "wrong_type"),
    ({}, None, "nothing_to_check"),
    ({"fiscal_funding_wan": None}, None, "nothing_to_check"),
])
def test_bad_fields_are_named(data, field, code):
    with pytest.raises(InputError) as info:
        check(data)
    err = info.value
    assert (err.field, err.code) == (field, code)
    assert err.message and (field is None or field in err.message)


def test_not_a_mapping():
    with pytest.raises(InputError, match="object of fields"):
        check(["fiscal_funding_wan", 800])  # type: ignore[arg-type]


def test_text_over_the_limit():
    with pytest.raises(InputError) as info:
        check({"text": "申请财政资金800万元。" * 50}, max_text_chars=100)
    assert info.value.code == "text_too_long"


def test_messages_do_not_echo_the_text():
    secret = "绝密配方XJ-9"
    with pytest.raises(InputError) as info:
        check({"text": secret, "lead_type": secret})
    assert secret not in info.value.message


def test_zero_fiscal_funds_alone_is_not_an_error_but_fails_the_funding_rule():
    v = check({"fiscal_funding_wan": 0})
    assert v.eligible is False and v.failed_rules == ["funding_per_project"]


def test_the_input_bounds_come_from_the_settings():
    from eligibility.config import EligibilitySettings

    with pytest.raises(InputError, match="over 5,000万元"):
        check({"fiscal_funding_wan": 6000}, settings=EligibilitySettings(max_amount_wan=5000))


def test_integral_floats_are_counts():
    assert check({"invention_patents": 3.0}).values["invention_patents"].value == 3
