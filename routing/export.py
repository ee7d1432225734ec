"""The routing sheet (.xlsx: a summary, then one sheet per panel) and the run's JSON (.json).

Every cell goes through :func:`matcher.tables.cell_value` (in :func:`_put`), so a title, an
organisation, an id, an actor or a reason that starts like a formula is shown as text.
"""
from __future__ import annotations

import functools
import io
import json
import re
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING

from matcher.errors import InputError
from matcher.tables import atomic_output, cell_value, check_output

from .store import AssignmentRow, RunState

if TYPE_CHECKING:
    from openpyxl import Workbook

OUTPUT_SUFFIXES = (".xlsx", ".json")
_BAD_SHEET_CHARS = re.compile(r"[\[\]:*?/\\]")


@functools.lru_cache(maxsize=1)
def _styles() -> SimpleNamespace:
    """The sheet's fonts and fills (openpyxl is imported when a sheet is written, not when the service starts)."""
    from openpyxl.styles import Alignment, Font, PatternFill

    return SimpleNamespace(bold=Font(bold=True), title=Font(bold=True, size=13),
                           head_fill=PatternFill("solid", fgColor="DDEBF7"),
                           flag_fill=PatternFill("solid", fgColor="FCE4D6"),
                           wrap=Alignment(wrap_text=True, vertical="top"))


def check_output_path(path: str | Path) -> Path:
    """Fail before any work when the routing output cannot be written (.xlsx or .json, folder exists)."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in OUTPUT_SUFFIXES:
        raise InputError(
            f"output {path}: unknown file type {suffix or '(none)'!r}; accepted: {', '.join(OUTPUT_SUFFIXES)}", "output"
        )
    if suffix == ".xlsx":
        return check_output(path)
    if not path.parent.exists():
        raise InputError(f"output {path}: folder {path.parent} does not exist", "output")
    return path


def panel_loads(state: RunState) -> list[dict]:
    """``[{"id", "load", "min", "max"}]`` in the run's panel order."""
    loads = state.loads()
    return [{"id": p["id"], "load": loads[p["id"]], "min": p["min"], "max": p["max"]} for p in state.run.panels["panels"]]


def to_json(state: RunState) -> dict:
    """The run as ``{"run_id", "assignments": [...], "panels": [...]}``."""
    return {
        "run_id": state.run_id,
        "assignments": [
            {
                "proposal_id": r.proposal_id,
                "panel_id": r.panel_id,
                "backup_panel_id": r.backup_panel_id,
                "affinity": r.affinity,
                "flagged": r.flagged,
                "reason": r.reason,
                "eligible": r.eligible,
                "failed_rules": r.failed_rules,
            }
            for r in state.rows
        ],
        "panels": panel_loads(state),
    }


def _status(p: dict, load: int) -> str:
    if p["max"] == 0:
        return "已关闭"
    if load < p["min"]:
        return "低于最少"
    if load > p["max"]:
        return "超过最多"
    return "正常"


def _sheet_title(text: str, used: set[str]) -> str:
    base = _BAD_SHEET_CHARS.sub("-", text).strip("'")[:31] or "sheet"
    title, n = base, 2
    while title.lower() in used:
        suffix = f" ({n})"
        title, n = base[: 31 - len(suffix)] + suffix, n + 1
    used.add(title.lower())
    return title


def _put(ws, row: int, column: int, value: object):
    """Write one cell as text or a number, never as a formula."""
    return ws.cell(row=row, column=column, value=cell_value(value))


def _table(ws, start_row: int, headers: list[str], rows: list[list], flag_col: int | None = None) -> int:
    """Write a header and rows from ``start_row``; the next free row."""
    for c, h in enumerate(headers, 1):
        cell = _put(ws, start_row, c, h)
        cell.font = _styles().bold
        cell.fill = _styles().head_fill
    for r, values in enumerate(rows, start_row + 1):
        for c, v in enumerate(values, 1):
            cell = _put(ws, r, c, v)
            cell.alignment = _styles().wrap
        if flag_col is not None and values[flag_col]:
            for c in range(1, len(values) + 1):
                ws.cell(row=r, column=c).fill = _styles().flag_fill
    return start_row + len(rows) + 2


def _widths(ws, widths: dict[int, int]) -> None:
    for col, w in widths.items():
        from openpyxl.utils import get_column_letter

        ws.column_dimensions[get_column_letter(col)].width = w


def _direction(r: AssignmentRow) -> str:
    if r.top_direction is None:
        return "—"
    return f"{r.top_direction} {r.top_direction_title}（{r.top_score:.2f}）"


def _yes(v: bool) -> str:
    return "是" if v else ""


_VERDICT = {True: "符合", False: "不符合", None: "信息不足"}


def _failed(r: AssignmentRow, titles: dict[str, str]) -> str:
    """The rules a proposal fails, by their titles in the rules file."""
    return "、".join(titles.get(k, k) for k in r.failed_rules)


def _rule_titles() -> dict[str, str]:
    from eligibility import default_rulebook

    return {rule.key: rule.title for rule in default_rulebook().rules}


def workbook(state: RunState) -> "Workbook":
    """The routing sheet: a summary (run, loads, flagged items, every assignment with its reason), one sheet
    per panel, and the overrides when there are any."""
    run = state.run
    panels = run.panels["panels"]
    by_id = {p["id"]: p for p in panels}
    loads = state.loads()
    titles = _rule_titles()
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    used: set[str] = set()
    ws.title = _sheet_title("汇总", used)

    _put(ws, 1, 1, f"评审组分配表　运行编号 {run.run_id}").font = _styles().title
    info = [
        ("创建时间 (UTC)", run.created_at),
        ("操作人", run.actor),
        ("来源", run.source or ""),
        ("申报书数", run.n_proposals),
        ("待人工审核", sum(r.flagged for r in state.rows)),
        ("形式审查不符合", sum(r.eligible is False for r in state.rows)),
        ("人工调整", len(state.overrides)),
        ("利益冲突规则", {"quorum": "回避后须达法定人数", "strict": "严格回避"}.get(run.panels.get("conflict_rule"), "")),
        ("关闭的评审组", "、".join(run.options.get("closed") or []) or "无"),
        ("额外名额", "、".join(f"{k} +{v}" for k, v in (run.options.get("extra_room") or {}).items()) or "无"),
        ("匹配器版本", run.matcher_version),
    ] + [("备注", n) for n in run.notes]
    for r, (k, v) in enumerate(info, 3):
        _put(ws, r, 1, k).font = _styles().bold
        _put(ws, r, 2, v)
    row = 3 + len(info) + 1

    _put(ws, row, 1, "各评审组工作量").font = _styles().title
    load_rows = [
        [p["id"], p["name"], "、".join(map(str, p["directions"])), len(p["members"]), p["quorum"],
         p["min"], p["max"], loads[p["id"]], _status(p, loads[p["id"]])]
        for p in panels
    ]
    row = _table(ws, row + 1, ["评审组", "名称", "覆盖方向", "专家数", "法定人数", "最少", "最多", "已分配", "状态"], load_rows)

    flagged = [r for r in state.rows if r.flagged]
    _put(ws, row, 1, f"待人工审核（{len(flagged)}）").font = _styles().title
    row = _table(
        ws, row + 1, ["编号", "项目名称", "申报单位", "首选方向", "匹配度", "原因"],
        [[r.proposal_id, r.title, r.applicant_org, _direction(r), r.affinity, r.reason] for r in flagged],
    )

    _put(ws, row, 1, "全部申报书的分配及理由").font = _styles().title
    row = _table(
        ws, row + 1, ["编号", "项目名称", "申报单位", "形式审查", "未通过的规则", "评审组", "备选评审组", "匹配度",
                      "待人工审核", "人工调整", "分配理由"],
        [[r.proposal_id, r.title, r.applicant_org, _VERDICT[r.eligible], _failed(r, titles),
          f"{r.panel_id} {by_id[r.panel_id]['name']}" if r.panel_id else "—",
          r.backup_panel_id or "—", r.affinity, _yes(r.flagged), _yes(r.overridden), r.reason] for r in state.rows],
        flag_col=8,
    )
    _widths(ws, {1: 16, 2: 40, 3: 28, 4: 10, 5: 30, 6: 22, 7: 14, 8: 10, 9: 12, 10: 10, 11: 90})
    ws.freeze_panes = "A3"

    for p in panels:
        sheet = wb.create_sheet(_sheet_title(f"{p['id']} {p['name']}", used))
        members = "、".join(f"{m['name']}（{m['organisation']}）" for m in p["members"])
        _put(sheet, 1, 1, f"{p['id']} {p['name']}　覆盖方向 {'、'.join(map(str, p['directions']))}").font = _styles().title
        _put(sheet, 2, 1, f"已分配 {loads[p['id']]}（最少 {p['min']}，最多 {p['max']}；{_status(p, loads[p['id']])}）；"
                                          f"法定人数 {p['quorum']}；专家：{members}")
        mine = [r for r in state.rows if r.panel_id == p["id"]]
        _table(
            sheet, 4, ["编号", "项目名称", "申报单位", "合作单位", "首选方向", "匹配度", "备选评审组", "回避专家", "人工调整",
                       "形式审查", "未通过的规则", "分配理由"],
            [[r.proposal_id, r.title, r.applicant_org, "；".join(r.partner_orgs), _direction(r), r.affinity,
              r.backup_panel_id or "—", _recused(r, p, panels), _yes(r.overridden), _VERDICT[r.eligible],
              _failed(r, titles), r.reason] for r in mine],
        )
        _widths(sheet, {1: 16, 2: 40, 3: 28, 4: 28, 5: 26, 6: 8, 7: 12, 8: 24, 9: 10, 10: 10, 11: 30, 12: 80})
        sheet.freeze_panes = "A5"

    if state.overrides:
        sheet = wb.create_sheet(_sheet_title("人工调整记录", used))
        _table(
            sheet, 1, ["时间 (UTC)", "操作人", "编号", "原评审组", "新评审组", "强制", "理由"],
            [[o.at, o.actor, o.proposal_id, o.from_panel_id or "待人工审核", o.to_panel_id, _yes(o.forced), o.reason]
             for o in state.overrides],
        )
        _widths(sheet, {1: 26, 2: 14, 3: 16, 4: 12, 5: 12, 6: 6, 7: 60})
    return wb


def xlsx_bytes(state: RunState) -> bytes:
    buf = io.BytesIO()
    workbook(state).save(buf)
    return buf.getvalue()


def _recused(r: AssignmentRow, panel: dict, panels: list[dict]) -> str:
    j = [p["id"] for p in panels].index(panel["id"])
    members = panel["members"]
    return "、".join(f"{members[k]['name']}（{members[k]['organisation']}）" for k in r.recused[j])


def write_output(state: RunState, path: str | Path) -> Path:
    """Write ``state`` as a routing sheet (.xlsx) or JSON (.json), atomically."""
    path = check_output_path(path)
    with atomic_output(path) as tmp:
        if path.suffix.lower() == ".json":
            tmp.write_text(json.dumps(to_json(state), ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
        else:
            workbook(state).save(tmp)
    return path
