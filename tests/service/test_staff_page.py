"""The program officers' page (/staff) in Debian's headless Chromium, as test_browser.py drives it.

An officer signs in (a wrong key gets a clear message and no content), uploads a 200-row table,
watches the progress bar, filters and sorts the result, moves a proposal with a reason (a refused
move says why) and records a direction, downloads the routing sheet and the run's JSON, and
reopens an earlier run. The app runs on a stand-in matcher that matches in chunks and pauses after
the first, so the progress bar is seen mid-way; the screenshot goes to pytest's temporary directory.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path
from urllib.parse import urlsplit

import openpyxl
import pandas as pd
import pytest

from test_browser import browser  # noqa: F401  (the module's Chromium, reused)

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "routing"))
from routing_support import ChunkedFakeMatcher, panels_yaml, three_panels  # noqa: E402

from routing.config import RoutingSettings  # noqa: E402
from service.app import create_app  # noqa: E402
from service.settings import Settings  # noqa: E402

KEY = "staff-page-key"
N = 200
CONFLICTED = "R0007"  # its applicant and partner sit on every panel: no panel may take it
MOVED = "R0001"  # direction 2 → panel A; moved to B


def table_rows(n: int) -> list[dict]:
    rows = []
    for i in range(n):
        pid = f"R{i:04d}"
        text = f"d{1 + i % 40}=0.9 d{1 + (i + 17) % 40}=0.4 项目摘要{i}"
        if i % 25 == 3:
            text = "OUT " + text  # the matcher finds it out of scope: flagged
        org, partners = ("甲大学", "乙研究院") if pid == CONFLICTED else (f"广西某公司{i}", "")
        rows.append({"编号": pid, "项目名称": f"项目{i}", "摘要": text, "申报单位": org, "合作单位": partners})
    return rows


@pytest.fixture
def staff_app(tmp_path, serve_app):
    panels = tmp_path / "panels.yaml"
    panels.write_text(panels_yaml(three_panels()), encoding="utf-8")
    settings = Settings(api_keys=(KEY,), routing=RoutingSettings(db=tmp_path / "staff.sqlite", panels=panels))
    matcher = ChunkedFakeMatcher(pause_after=1)
    with serve_app(create_app(settings, matcher=matcher)) as server:
        server.matcher = matcher
        yield server
    matcher.resume.set()


@pytest.fixture
def page(browser, staff_app):  # noqa: F811
    context = browser.new_context(locale="zh-CN", viewport={"width": 1280, "height": 900}, accept_downloads=True)
    pg = context.new_page()
    pg.set_default_timeout(30_000)
    requested: list[str] = []
    pg.on("request", lambda req: requested.append(req.url))
    pg.requested = requested
    pg.goto(staff_app.url + "/staff")
    yield pg
    context.close()


def sign_in(page, key: str) -> None:
    page.fill("#api-key", key)
    page.click("#signin-button")


def rows_shown(page) -> list[dict]:
    return page.eval_on_selector_all(
        "#proposals tbody tr:not(.editor)",
        "trs => trs.map(t => ({id: t.dataset.proposalId, panel: t.dataset.panel, flagged: t.dataset.flagged === 'true'}))",
    )


def test_a_wrong_key_gets_a_clear_message_and_no_content(page):
    assert "评审组分配" in page.title()
    assert page.locator("#app").is_hidden()
    sign_in(page, "not-the-key")
    message = page.locator("#signin-status")
    message.wait_for(state="visible")
    assert "密钥无效" in message.inner_text()
    assert page.locator("#app").is_hidden() and page.locator("#runs tbody tr").count() == 0
    assert page.evaluate("() => sessionStorage.length") == 0
    sign_in(page, "")
    assert "请输入密钥" in page.locator("#signin-status").inner_text()


def test_an_officer_routes_corrects_and_downloads_in_the_browser(page, staff_app, tmp_path):
    source = tmp_path / "申报书汇总.xlsx"
    pd.DataFrame(table_rows(N)).to_excel(source, index=False)
    sign_in(page, KEY)
    page.wait_for_selector("#app:not([hidden])")
    assert page.evaluate("() => sessionStorage.getItem('guide-match.staff-key')") == KEY
    assert "还没有分配" in page.locator("#runs").inner_text()
    page.wait_for_selector("#panel-options tbody tr[data-panel='C']")
    assert "panels.yaml，3 个评审组" in page.locator("#panels-source").inner_text()

    # upload and watch the progress bar: the matcher pauses after its first chunk of 64
    page.set_input_files("#proposals-file", str(source))
    page.fill("#flag-below", "0.3")
    page.click("#start-run")
    page.wait_for_selector("#run-progress[data-done='64']")
    bar = page.locator("#run-progress")
    assert bar.evaluate("b => [b.value, b.max]") == [64, N]
    assert "分配中：已匹配 64 / 200 份" in page.locator("#progress-text").inner_text()
    staff_app.matcher.resume.set()
    page.wait_for_selector("#result:not([hidden])")
    assert page.locator("#progress-card").is_hidden()
    run_id = page.locator("#result-run").inner_text()

    # one load bar per panel; flagged proposals first, each with its reason
    loads = {el.get_attribute("data-panel"): int(el.get_attribute("data-load")) for el in page.locator(".load-value").all()}
    rows = rows_shown(page)
    flagged = [r for r in rows if r["flagged"]]
    assert len(rows) == N and set(loads) == {"A", "B", "C"} and sum(loads.values()) == N - len(flagged)
    assert rows[: len(flagged)] == flagged and len(flagged) == 9  # 8 out of scope + the conflicted one
    conflicted = page.locator(f"#proposals tr[data-proposal-id='{CONFLICTED}']")
    assert "没有可接收的评审组" in conflicted.locator(".reason").inner_text()
    assert "A 回避：A-甲（甲大学）、A-乙（乙研究院）" in conflicted.inner_text()

    # filter and sort
    page.select_option("#filter-panel", "B")
    assert {r["panel"] for r in rows_shown(page)} == {"B"} and len(rows_shown(page)) == loads["B"]
    page.select_option("#filter-panel", "")
    page.select_option("#filter-direction", "22")
    shown = rows_shown(page)
    assert shown and all(page.locator(f"#proposals tr[data-proposal-id='{r['id']}'] .dir").first.inner_text().startswith("方向22")
                         for r in shown)
    page.select_option("#filter-direction", "")
    page.check("#filter-flagged")
    assert [r["id"] for r in rows_shown(page)] == [r["id"] for r in flagged]
    page.uncheck("#filter-flagged")
    page.select_option("#sort", "id")
    assert [r["id"] for r in rows_shown(page)][:3] == ["R0000", "R0001", "R0002"]

    # a refused move says why
    conflicted.locator("button.move").click()
    editor = page.locator(f"#proposals tr.editor[data-proposal-id='{CONFLICTED}']")
    editor.locator(".target-panel").select_option("B")
    editor.locator(".move-reason").fill("组长要求")
    editor.locator("button[type=submit]").click()
    refusal = editor.locator(".refusal")
    refusal.wait_for(state="visible")
    assert "无法调整" in refusal.inner_text() and "conflict of interest" in refusal.inner_text()

    # a move with a reason and the officer's direction
    row = page.locator(f"#proposals tr[data-proposal-id='{MOVED}']")
    assert row.get_attribute("data-panel") == "A"
    row.locator("button.move").click()
    editor = page.locator(f"#proposals tr.editor[data-proposal-id='{MOVED}']")
    editor.locator(".target-panel").select_option("B")
    editor.locator(".direction-choice").select_option("18")
    editor.locator(".move-reason").fill("主体为氢能储运装备")
    editor.locator("button[type=submit]").click()
    page.wait_for_selector(f"#proposals tr[data-proposal-id='{MOVED}'][data-panel='B']")
    row = page.locator(f"#proposals tr[data-proposal-id='{MOVED}']")
    assert "已人工调整" in row.inner_text() and "人工判断：方向18" in row.inner_text()
    assert "已将 R0001 调至 B" in page.locator("#status").inner_text()
    assert page.locator(".load-value[data-panel='B']").get_attribute("data-load") == str(loads["B"] + 1)

    # a direction recorded without moving
    judged = page.locator("#proposals tr[data-proposal-id='R0002']")
    judged.locator("button.judge").click()
    editor = page.locator("#proposals tr.editor[data-proposal-id='R0002']")
    editor.locator(".direction-choice").select_option("25")
    editor.locator("button[type=submit]").click()
    page.wait_for_selector("#proposals tr[data-proposal-id='R0002'] .officer-direction[data-direction='25']")
    assert page.locator("#proposals tr[data-proposal-id='R0002']").get_attribute("data-panel") == "A"

    # the routing sheet and the run's JSON
    with page.expect_download() as got:
        page.click("#download-xlsx")
    sheet = tmp_path / "sheet.xlsx"
    got.value.save_as(sheet)
    assert got.value.suggested_filename == f"routing-{run_id}.xlsx"
    wb = openpyxl.load_workbook(sheet)
    assert wb.sheetnames == ["汇总", "A 评审组A", "B 评审组B", "C 评审组C", "人工调整记录"]
    b_ids = [r[0] for r in wb["B 评审组B"].iter_rows(min_row=5, values_only=True) if r[0]]
    assert MOVED in b_ids and len(b_ids) == loads["B"] + 1
    summary_ids = {r[0] for r in wb["汇总"].iter_rows(values_only=True) if isinstance(r[0], str) and r[0].startswith("R0")}
    assert summary_ids == {f"R{i:04d}" for i in range(N)}
    log = list(wb["人工调整记录"].iter_rows(min_row=2, values_only=True))
    assert [(r[2], r[3], r[4], r[6]) for r in log] == [(MOVED, "A", "B", "主体为氢能储运装备")]
    with page.expect_download() as got:
        page.click("#download-json")
    data = json.loads(Path(got.value.path()).read_text(encoding="utf-8"))
    assert data["run_id"] == run_id and len(data["assignments"]) == N
    moved = next(a for a in data["assignments"] if a["proposal_id"] == MOVED)
    assert moved["panel_id"] == "B" and moved["officer_direction"]["direction"] == 18

    shot = tmp_path / "staff-page.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 10_000
    print(f"screenshot: {shot}")

    # a second run, then reopen the first from the list
    small = tmp_path / "第二批.csv"
    pd.DataFrame(table_rows(30)).to_csv(small, index=False)
    page.set_input_files("#proposals-file", str(small))
    page.click("#start-run")
    page.wait_for_function(f"() => document.getElementById('result-run').textContent !== '{run_id}'")
    assert len(rows_shown(page)) == 30
    page.wait_for_selector("#runs tbody tr:nth-child(2)")
    page.locator(f"#runs tr[data-run-id='{run_id}'] button.open-run").click()
    page.wait_for_function(f"() => document.getElementById('result-run').textContent === '{run_id}'")
    assert len(rows_shown(page)) == N
    assert page.locator(f"#proposals tr[data-proposal-id='{MOVED}']").get_attribute("data-panel") == "B"

    # the key travelled in a header only: never in a URL; nothing but the server was contacted
    assert not [u for u in page.requested if KEY in u]
    hosts = {urlsplit(u).netloc for u in page.requested if not u.startswith(("data:", "blob:"))}
    assert hosts == {urlsplit(staff_app.url).netloc}

    page.click("#signout")
    assert page.locator("#app").is_hidden() and page.evaluate("() => sessionStorage.length") == 0


def test_the_page_routes_with_the_real_matcher(browser, matcher, serve_app, tmp_path):  # noqa: F811
    """One quick run on the session's real matcher: three proposals, the default panels with no minimums."""
    from routing.panels import DEFAULT_PANELS_PATH

    panels = tmp_path / "panels.yaml"
    panels.write_text(DEFAULT_PANELS_PATH.read_text(encoding="utf-8").replace("    min: 5\n", "    min: 0\n"), encoding="utf-8")
    settings = Settings(api_keys=(KEY,), routing=RoutingSettings(db=tmp_path / "real.sqlite", panels=panels))
    source = tmp_path / "proposals.csv"
    pd.DataFrame([
        {"编号": "E02", "项目名称": "高压实磷酸铁锂正极材料", "摘要": "开发碳包覆纳米磷酸铁锂正极材料连续化制备工艺，压实密度≥2.6 g/cm³，建成年产2万吨LFP生产线。"},
        {"编号": "E03", "项目名称": "商用车质子交换膜燃料电池电堆", "摘要": "研制高功率密度质子交换膜燃料电池电堆与膜电极，寿命≥20000小时，用于重型商用车。"},
        {"编号": "E08", "项目名称": "现代文学研究", "摘要": "研究鲁迅小说中的女性形象与叙事策略，分析二十世纪初中国现代文学的启蒙话语与性别书写。"},
    ]).to_csv(source, index=False)
    with serve_app(create_app(settings, matcher=matcher)) as server:
        context = browser.new_context(locale="zh-CN", viewport={"width": 1280, "height": 900})
        page = context.new_page()
        page.set_default_timeout(60_000)
        try:
            page.goto(server.url + "/staff")
            sign_in(page, KEY)
            page.wait_for_selector("#panel-options tbody tr[data-panel='P10']")
            page.set_input_files("#proposals-file", str(source))
            page.click("#start-run")
            page.wait_for_selector("#result:not([hidden])")
            got = {r["id"]: (r["panel"], r["flagged"]) for r in rows_shown(page)}
            assert got == {"E02": ("P06", False), "E03": ("P05", False), "E08": ("", True)}
            e02 = page.locator("#proposals tr[data-proposal-id='E02']")
            assert "方向22" in e02.locator(".dir").first.inner_text() and "磷酸铁锂" in e02.locator(".chip").all_inner_texts()
        finally:
            context.close()
