"""Bodies of the staff routing API (``/v1/routing``)."""
from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field

from corpus import N_DIRECTIONS

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


DirectionId = Annotated[int, Field(ge=1, le=N_DIRECTIONS)]
JobStatus = Literal["queued", "running", "done", "failed", "cancelled"]


class OverrideRequest(Strict):
    proposal_id: Text = Field(min_length=1, max_length=200)
    panel_id: Text = Field(min_length=1, max_length=64, description="The panel the proposal moves to.")
    reason: Text = Field(min_length=1, max_length=2000, description="Why it moves (kept in the audit log and the sheet).")
    force: bool = Field(False, description="Allow going over a panel's max or below its min; never a conflict of interest.")
    actor: Text | None = Field(None, max_length=100)
    direction: DirectionId | None = Field(
        None, description="The officer's judgment of the proposal's direction, kept as a labelled example "
        "(without it, the moved-to panel's direction the matcher ranks highest is kept, marked as inferred).")


class DirectionRequest(Strict):
    proposal_id: str = Field(min_length=1, max_length=200)
    direction: DirectionId | None = Field(
        description="The direction the officer judges right for the proposal; null: no direction of the guide fits.")
    actor: Text | None = Field(None, max_length=100)


class FeedbackOut(Strict):
    id: int
    run_id: str
    proposal_id: str
    direction: int | None
    basis: Literal["confirmed", "override", "override-inferred"]
    actor: str
    at: str
    override_id: int | None


class DirectionResponse(Strict):
    feedback: FeedbackOut


class RankedDirectionOut(Strict):
    id: int
    title: str
    score: float
    matched_terms: list[str]


class RecusalOut(Strict):
    panel_id: str
    members: list[str] = Field(description="Members of the panel with a conflict of interest for the proposal.")


class OfficerDirectionOut(Strict):
    direction: int | None
    basis: Literal["confirmed", "override", "override-inferred"]
    actor: str
    at: str


class AssignmentOut(Strict):
    proposal_id: str
    panel_id: str | None
    backup_panel_id: str | None
    affinity: float
    flagged: bool
    reason: str
    eligible: bool | None = Field(None, description="The eligibility pre-check (null: not enough information).")
    failed_rules: list[str] = Field(default_factory=list, description="Keys of the guide's rules the proposal fails.")
    title: str | None = None
    applicant_org: str | None = None
    partner_orgs: list[str] = Field(default_factory=list)
    in_scope: bool | None = None
    directions: list[RankedDirectionOut] = Field(
        default_factory=list, description="The matcher's best directions for the proposal, with the terms found.")
    recused: list[RecusalOut] = Field(default_factory=list, description="Conflicts of interest, per panel.")
    initial_panel_id: str | None = None
    overridden: bool = False
    officer_direction: OfficerDirectionOut | None = None


class PanelLoadOut(Strict):
    id: str
    load: int
    min: int
    max: int
    name: str | None = None
    directions: list[int] = Field(default_factory=list, description="The directions the panel covers.")


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
    direction: int | None = None


class ProgressOut(Strict):
    done: int = Field(description="Proposals matched so far.")
    total: int


class JobErrorOut(Strict):
    code: str = Field(description="worker_lost, server_stopped, routing_infeasible, internal_error, cancelled, …")
    message: str


class JobOut(Strict):
    """A routing run that is not done: queued, running, failed or cancelled."""

    run_id: str
    status: JobStatus
    progress: ProgressOut
    status_url: str
    created_at: str
    started_at: str | None
    finished_at: str | None
    actor: str
    source: str | None
    n_proposals: int
    n_flagged: int | None = Field(None, description="For a done run: proposals waiting for manual review.")
    error: JobErrorOut | None = Field(description="Why a failed or cancelled run stopped.")


class RunsResponse(Strict):
    runs: list[JobOut] = Field(description="Every run in the database, newest first.")


class RunOut(Strict):
    run_id: str
    status: Literal["done"]
    progress: ProgressOut
    status_url: str
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




class PanelsCheckRequest(Strict):
    name: str = Field("panels.yaml", max_length=200, description="The file's name, for messages.")
    yaml: str = Field(max_length=200_000, description="The panels file's text (YAML, as corpus/panels.yaml).")


class PanelOut(Strict):
    id: str
    name: str
    directions: list[int]
    min: int
    max: int
    quorum: int
    members: list[str] = Field(description="name（organisation）")


class PanelsOut(Strict):
    source: str = Field(description="The panels file's name.")
    conflict_rule: Literal["quorum", "strict"]
    panels: list[PanelOut]
