"""The page's second step in Debian's headless Chromium: after matching, the pre-check form is pre-filled
from the abstract, each verdict sits next to its field with the guide's sentence, and bad input is shown
at the field. Same browser set-up as test_browser.py (no browser download)."""
from __future__ import annotations

from urllib.parse import urlsplit

import yaml

from corpus import CORPUS_DIR
from test_browser import browser, page, submit  # noqa: F401  (fixtures shared with the matching page's tests)

SAMPLE = yaml.safe_load((CORPUS_DIR / "examples" / "proposal.yaml").read_text(encoding="utf-8"))
TITLE, _, ABSTRACT = SAMPLE["text"].partition("\n")
GUIDE = (CORPUS_DIR / "guide-2024.txt").read_text(encoding="utf-8")


def verdict(page, field: str, rule: str):
    return page.locator(f'.ck-field[data-field="{field}"] .ck-verdict[data-rule="{rule}"]')


def check_and_wait(page) -> None:
    page.click("#check-submit")
    page.wait_for_function("() => !document.getElementById('check-submit').disabled")


def test_second_step_prefills_from_the_abstract_and_judges_each_field(page, live_server, tmp_path_factory):
    submit(page, TITLE, ABSTRACT)
    page.wait_for_selector("#check:not([hidden]) .ck-verdict")

    # pre-filled from what the abstract states, marked as read from the text
    fiscal = page.locator("#ck-fiscal_funding_wan")
    assert fiscal.input_value() == "800" and "from-text" in fiscal.get_attribute("class")
    assert page.locator("#ck-enterprise_matching_wan").input_value() == "2400"
    assert page.locator("#ck-start").input_value() == "2025-01" and page.locator("#ck-end").input_value() == "2027-12"
    assert page.locator("#ck-invention_patents").input_value() == "4"
    assert page.locator("#ck-lead_type").input_value() == "enterprise"
    # enterprise-led: the funds the enterprises receive are not asked for
    assert page.locator('.ck-field[data-field="fiscal_to_enterprises_wan"]').is_hidden()

    funding = verdict(page, "fiscal_funding_wan", "funding_per_project")
    assert funding.get_attribute("data-status") == "pass"
    assert "每项支持经费300—1000万元，采取前资助形式。" in funding.inner_text()
    assert verdict(page, "enterprise_matching_wan", "match_ratio_enterprise_led").get_attribute("data-status") == "warn"
    assert verdict(page, "end", "duration").get_attribute("data-status") == "pass"
    # the priority category is not in the abstract: its rule is open, so the verdict is not yet known
    assert verdict(page, "agreement_attached", "agreement_attached").get_attribute("data-status") == "unknown"
    assert page.locator("#check-summary").get_attribute("data-eligible") == "null"
    for note in page.locator(".ck-verdict .guide").all_inner_texts():
        assert note.removeprefix("指南原文：") in GUIDE

    # the applicant completes and corrects the form: a request over the limit fails next to its field
    page.select_option("#ck-priority", "none")
    fiscal.fill("1200")
    check_and_wait(page)
    page.wait_for_selector('#check-summary[data-eligible="false"]')
    assert verdict(page, "fiscal_funding_wan", "funding_per_project").get_attribute("data-status") == "fail"
    assert "1,200万元" in verdict(page, "fiscal_funding_wan", "funding_per_project").inner_text()
    assert verdict(page, "agreement_attached", "agreement_attached").count() == 0   # not applicable any more
    assert "不符合" in page.locator("#check-summary").inner_text()

    fiscal.fill("700")
    page.fill("#ck-enterprise_matching_wan", "3000")
    check_and_wait(page)
    page.wait_for_selector('#check-summary[data-eligible="true"]')

    shot = tmp_path_factory.mktemp("screenshots") / "check-step.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 10_000
    print(f"screenshot: {shot}")

    hosts = {urlsplit(u).netloc for u in page.requested if not u.startswith("data:")}
    assert hosts == {urlsplit(live_server.url).netloc}


def test_bad_input_is_shown_at_its_field(page):
    submit(page, TITLE, ABSTRACT)
    page.wait_for_selector("#check:not([hidden]) .ck-verdict")
    page.fill("#ck-start", "2027-06")
    page.fill("#ck-end", "2025-01")
    check_and_wait(page)
    error = page.locator('.ck-field[data-field="end"] .ck-verdict.error')
    error.wait_for(state="visible")
    assert "before start" in error.inner_text()
    assert "has-error" in page.locator('.ck-field[data-field="end"]').get_attribute("class")
    assert page.locator("#check-status").is_visible() and page.locator("#check-summary").is_hidden()


def test_a_new_match_hides_the_old_check(page):
    submit(page, TITLE, ABSTRACT)
    page.wait_for_selector("#check:not([hidden]) .ck-verdict")
    page.fill("#abstract", "")
    page.fill("#title", "")
    page.click("#submit")
    page.locator("#status").wait_for(state="visible")
    assert page.locator("#check").is_hidden()
