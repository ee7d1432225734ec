"""The applicants' page in a real browser: Debian's headless Chromium driven by Playwright.

No browser is downloaded (no ``playwright install``): Playwright drives /usr/bin/chromium,
which the set-up script installs from Debian's packages. The screenshot goes to pytest's
temporary directory, outside the repository.
"""
from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from service_support import ABSTRACT, OUT_OF_SCOPE, TOO_SHORT

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
TITLE = "高压实磷酸铁锂正极材料连续化制备关键技术研究"

if not CHROMIUM.exists() and not os.environ.get("CI"):
    pytest.skip("no /usr/bin/chromium (./setup.sh installs it as root)", allow_module_level=True)

sync_api = pytest.importorskip("playwright.sync_api")


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def page(browser, live_server):
    context = browser.new_context(locale="zh-CN", viewport={"width": 1100, "height": 900})
    pg = context.new_page()
    pg.set_default_timeout(60_000)  # a match can take seconds on a slow CI machine
    requested: list[str] = []
    pg.on("request", lambda req: requested.append(req.url))
    pg.requested = requested
    pg.goto(live_server.url + "/")
    yield pg
    context.close()


def submit(page, title: str, abstract: str) -> None:
    page.fill("#title", title)
    page.fill("#abstract", abstract)
    page.click("#submit")
    # the button is disabled while the request runs and enabled again when the answer is shown
    page.wait_for_function("() => !document.getElementById('submit').disabled")


def test_abstract_gets_ranked_directions_with_highlighted_terms(page, live_server, matcher, tmp_path_factory):
    assert "支持方向匹配" in page.title()
    submit(page, TITLE, ABSTRACT)
    page.wait_for_selector("#results:not([hidden]) li.direction")

    expected = matcher.match(TITLE + "\n" + ABSTRACT, top_k=5)
    items = page.locator("#directions li.direction")
    assert items.count() == 5
    ids = [int(items.nth(i).get_attribute("data-direction-id")) for i in range(5)]
    assert ids == [d.id for d in expected.directions]
    assert ids[0] == 22

    best = items.nth(0)
    assert "方向22" in best.locator(".direction-title").inner_text()
    assert expected.directions[0].cluster in best.locator(".cluster").inner_text()
    # the official wording of the direction, from GET /v1/directions
    assert best.locator(".official-text").inner_text() == matcher.directions[21].text
    width = best.locator(".score-fill").evaluate("el => el.getBoundingClientRect().width")
    assert width > 0
    assert f"{round(expected.directions[0].score * 100)}%" in best.locator(".score-value").inner_text()

    verdict = page.locator("#verdict")
    assert verdict.get_attribute("data-in-scope") == "true"
    assert "找到匹配的支持方向" in verdict.inner_text()

    marks = page.locator("#highlighted mark.term").all_inner_texts()
    assert "磷酸铁锂" in marks
    assert {m.lower() for m in marks} <= {t.lower() for d in expected.directions for t in d.matched_terms}
    chips = best.locator(".chip").all_inner_texts()
    assert "磷酸铁锂" in chips

    shot = tmp_path_factory.mktemp("screenshots") / "match-page.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 10_000
    print(f"screenshot: {shot}")

    # nothing but the server itself was contacted: no CDN, no external font
    hosts = {urlsplit(u).netloc for u in page.requested if not u.startswith("data:")}
    assert hosts == {urlsplit(live_server.url).netloc}


def test_out_of_scope_text_says_nothing_fits(page):
    submit(page, "", OUT_OF_SCOPE)
    page.wait_for_selector("#results:not([hidden]) #verdict.out-of-scope")
    verdict = page.locator("#verdict")
    assert verdict.get_attribute("data-in-scope") == "false"
    assert "未找到合适的支持方向" in verdict.inner_text()
    assert "仅供参考" in page.locator("#directions-heading").inner_text()


def test_too_short_text_is_explained(page):
    submit(page, TOO_SHORT, "")
    status = page.locator("#status")
    status.wait_for(state="visible")
    assert "文本过短" in status.inner_text()
    assert page.locator("#results").is_hidden()


def test_empty_form_is_explained_without_a_request(page):
    page.click("#submit")
    status = page.locator("#status")
    status.wait_for(state="visible")
    assert "请填写内容" in status.inner_text()
    assert not [u for u in page.requested if u.endswith("/v1/match")]


def test_typed_text_is_never_markup(page):
    submit(page, "<img src=x onerror=alert(1)>锂电池正极材料", "<script>window.pwned=1</script>磷酸铁锂正极材料制备工艺")
    page.wait_for_selector("#results:not([hidden]) li.direction")
    assert page.evaluate("() => window.pwned === undefined")
    assert page.locator("#highlighted img, #highlighted script").count() == 0
    assert "<script>" in page.locator("#highlighted").inner_text()


def test_api_docs_render_offline(page, live_server):
    page.goto(live_server.url + "/docs")
    page.wait_for_selector(".opblock", timeout=60_000)
    assert "/v1/match" in page.locator("#swagger-ui").inner_text()
    hosts = {urlsplit(u).netloc for u in page.requested if not u.startswith("data:")}
    assert hosts == {urlsplit(live_server.url).netloc}


def test_highlights_come_from_the_server_in_the_text_as_typed(page):
    """Traditional characters, full-width letters, a zero-width space and a character outside the BMP
    before the terms: the marks still sit on the terms as the applicant typed them."""
    abstract = "𠀋研发高压实磷酸鐵鋰正極材料，用于ＬＦＰ儲能電池，正\u200b极材料压实密度≥2.6 g/cm³。"
    submit(page, "", abstract)
    page.wait_for_selector("#results:not([hidden]) li.direction")
    marks = page.locator("#highlighted mark.term").all_inner_texts()
    assert "磷酸鐵鋰" in marks and "ＬＦＰ" in marks and "正\u200b极材料" in marks
    assert page.locator("#highlighted").inner_text().replace("\n", "") == abstract


def test_the_length_counter_shows_the_api_limit(page, settings):
    page.fill("#abstract", "钠离子电池")
    counter = page.locator("#counter")
    page.wait_for_function("() => document.getElementById('counter').textContent.includes('/')")
    assert counter.inner_text() == f"5 / {settings.max_text_chars} 字"


@pytest.mark.parametrize("text, reason, heading", [
    ("本项目开展关键技术研究，实现产业化，推动产业升级。", "too_vague", "内容过于笼统"),
    ("Phát triển vật liệu cực dương natri-ion cho pin lưu trữ năng lượng", "unsupported_language", "暂不支持该语言"),
])
def test_the_page_says_why_in_words(page, text, reason, heading):
    submit(page, "", text)
    page.wait_for_selector(f"#results:not([hidden]) #verdict[data-reason='{reason}']")
    assert heading in page.locator("#verdict").inner_text()
    if reason == "unsupported_language":  # no direction is guessed, so none is shown
        assert page.locator("#directions").is_hidden() and page.locator("#directions li").count() == 0
    else:
        assert page.locator("#directions li.direction").count() > 0
