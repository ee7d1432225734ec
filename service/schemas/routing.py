"""Bodies of the staff routing API (``/v1/routing``)."""
from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from .common import Strict, Text

class RunOptionsIn(Strict):
    panels_closed: list[Text] = Field(default_factory=list, description="Panels that take nothing in this run.")
    extra_room: dict[Text, int] = Field(default_factory=dict, description="Panel id → proposals beyond its max.")
    conflict_rule: Literal["quorum", "strict"] | None = Field(None, description="Override the panels file's rule.")
    flag_below: float | None = Field(None, ge=0, le=1, description="Flag proposals whose best affinity is lower.")
    actor: Text | None = Field(None, max_length=100, description="Who asks, for the audit log (with the key's label).")


class RunRequest(RunOptionsIn):
    items: list[dict[str, Any]] = Field(
        min_length=1,
        description="Proposals (at most GUIDE_MATCH_ROUTING_MAX_PROPOSALS, 10,000 by default): id, title, abstract, "
        "applicant_org, partner_orgs (text separated by ；/; or a list); "
        "the Chinese names 编号, 项目名称, 摘要, 申报单位, 合作单位 are accepted too.",
        examples=[[{"id": "2024-001", "title": "高压实磷酸铁锂正极材料", "abstract": "开发碳包覆纳米磷酸铁锂正极材料…",
                    "applicant_org": "广西某新能源材料有限公司", "partner_orgs": "广西大学；中南大学"}]],
    )


class OverrideRequest(Strict):
    proposal_id: Text = Field(min_length=1, max_length=200)
    panel_id: Text = Field(min_length=1, max_length=64, description="The panel the proposal moves to.")
    reason: Text = Field(min_length=1, max_length=2000, description="Why it moves (kept in the audit log and the sheet).")
    force: bool = Field(False, description="Allow going over a panel's max or below its min; never a conflict of interest.")
    actor: Text | None = Field(None, max_length=100)


class AssignmentOut(Strict):
    proposal_id: str
    panel_id: str | None
    backup_panel_id: str | None
    affinity: float
    flagged: bool
    reason: str
    eligible: bool | None = Field(None, description="The eligibility pre-check (null: not enough information).")
    failed_rules: list[str] = Field(default_factory=list, description="Keys of the guide's rules the proposal fails.")


class PanelLoadOut(Strict):
    id: str
    load: int
    min: int
    max: int


class OverrideOut(Strict):
    id: int
    run_id: str
    proposal_id: str
    from_panel_id: str | None
    to_panel_id: str
    reason: str
    actor: str
    at: str
    forced: bool


class RunOut(Strict):
    run_id: str
    assignments: list[AssignmentOut]
    panels: list[PanelLoadOut]
    reused: bool = Field(description="True when the same input, panels and options had been routed before.")
    created_at: str
    actor: str
    source: str | None
    n_proposals: int
    n_flagged: int = Field(description="Proposals now waiting for manual review.")
    notes: list[str]
    overrides: list[OverrideOut]
    export_url: str


class OverrideResponse(Strict):
    override: OverrideOut
    warnings: list[str]
    run: RunOut


