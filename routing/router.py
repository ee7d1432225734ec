"""The :class:`Router` facade: match, score, assign, store and export, used by the CLI and the API.

    from matcher import Matcher
    from routing import Router, RoutingOptions, read_proposals

    router = Router(Matcher.load(), db="routing.sqlite")            # default panels: corpus/panels.yaml
    state = router.route(read_proposals("proposals.xlsx"), RoutingOptions(closed=("P03",)), actor="王老师")
    router.override(state.run_id, "2024-017", "P06", reason="申报书主体为储能电池", actor="王老师")
    router.export(state.run_id, "routing.xlsx")
"""
from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from corpus import N_DIRECTIONS
from matcher.errors import InputError
from matcher.results import MatchResult
from .affinity import panel_affinity, score_matrix
from .config import JOB_STALE_SECONDS
from .assign import BEST, CAPACITY, HELD, LOW, MINIMUM, NO_PANEL, Solution, choose_backups, solve, triage
from .conflicts import Conflicts, find_conflicts, panel_allows
from .export import write_output
from .options import RoutingOptions, check_label
from .panels import PanelSet, load_panels
from .proposals import Proposal
from .ownership import INTERNAL_ERROR, INTERNAL_ERROR_MESSAGE, SERVER_STOPPED, SERVER_STOPPED_MESSAGE, owner, reap
from .store import (
    CONFIRMED,
    DONE,
    INFERRED,
    OVERRIDE,
    QUEUED,
    RUNNING,
    AssignmentRow,
    FeedbackRecord,
    JobRecord,
    OverrideRecord,
    RoutingStore,
    RunConflict,
    RunRecord,
    RunState,
    now,
    run_key,
)


class OverrideRefused(InputError):
    """An override that the run's capacities, conflicts or closed panels do not allow."""


class _Stopped(Exception):
    """Raised from a job's progress report to stop matching: ``cancelled`` or ``server_stopped``."""


@dataclass(frozen=True)
class Submission:
    """What :meth:`Router.submit` found or stored: the job, whether it is new, and the stored run
    when the same input was routed before."""

    job: JobRecord
    new: bool
    state: RunState | None = None


@dataclass(frozen=True)
class OverrideOutcome:
    state: RunState
    override: OverrideRecord
    warnings: tuple[str, ...]


def check_direction(direction: object, allow_none: bool = False) -> int | None:
    """A direction id of the guide (1–40), or None when ``allow_none``; otherwise a clear InputError."""
    if direction is None and allow_none:
        return None
    if isinstance(direction, bool) or not isinstance(direction, int) or not 1 <= direction <= N_DIRECTIONS:
        extra = ", or none when no direction fits" if allow_none else ""
        raise InputError(f"direction must be a direction of the guide: a whole number from 1 to {N_DIRECTIONS}{extra}",
                         "direction")
    return direction


def _best_of(row: AssignmentRow, directions: Sequence[int]) -> int | None:
    """Of ``directions``, the one the matcher scored highest for the row's proposal (None: no scores stored)."""
    scores = {d["id"]: d["score"] for d in row.directions}
    known = [d for d in directions if d in scores]
    return max(known, key=lambda d: scores[d]) if known else None


def _fmt(x: float) -> str:
    return f"{x:.2f}"


def _best_open(row: np.ndarray, panels: PanelSet) -> float:
    """A flagged proposal's affinity: its best among the open panels."""
    open_ = [a for a, p in zip(row, panels) if not p.closed]
    return max(open_) if open_ else 0.0


class Router:
    """Routes proposal tables to expert panels on top of a loaded :class:`~matcher.Matcher`.

    ``matcher`` may be None for work on stored runs only (overrides, exports).
    """

    def __init__(self, matcher, db: str | Path | RoutingStore, panels: PanelSet | str | Path | None = None,
                 stale_seconds: float = JOB_STALE_SECONDS):
        self.matcher = matcher
        self.store = db if isinstance(db, RoutingStore) else RoutingStore(db)
        self._panels = panels
        self.stale_seconds = stale_seconds
        """A running job of another host is given up after this long without a heartbeat (see :mod:`.jobs`)."""

    @property
    def panels(self) -> PanelSet:
        """The panels new runs use (loaded on first use: overrides and exports work on stored runs)."""
        if not isinstance(self._panels, PanelSet):
            self._panels = load_panels(self._panels)
        return self._panels

    # -- routing --------------------------------------------------------------------------------
    def submit(
        self,
        proposals: Sequence[Proposal],
        options: RoutingOptions | None = None,
        actor: str = "unknown",
        source: str | None = None,
        claim: bool = False,
        panels: PanelSet | None = None,
    ) -> Submission:
        """Store a job for the proposals, or find the run or job already there for the same input.

        The input's identity is a hash of the proposals, the panels with the options applied, the
        options and the matcher's version: the same input routed before gives its stored run; one
        queued or running gives that job (no second matching). ``claim``: the job is stored as
        running for this process, which runs it at once (:meth:`run_claimed`); otherwise it is
        queued for a :class:`~routing.jobs.RoutingWorker`. ``panels``: this run's panels instead of the
        router's (an uploaded panels file).
        """
        if self.matcher is None:
            raise RuntimeError("Router.submit needs a matcher")
        options = options or RoutingOptions()
        actor = check_label(actor, "actor")
        if not proposals:
            raise InputError("no proposals to route", "input")
        panels = (panels or self.panels).with_options(options.closed, options.extra_room, options.conflict_rule)
        key = run_key(
            [p.to_dict() for p in proposals], panels.to_dict(), options.to_dict(), self.matcher.version
        )
        job = JobRecord(
            run_id=key[:12], input_key=key, status=QUEUED, done=0, total=len(proposals), created_at=now(),
            actor=actor, source=source, matcher_version=self.matcher.version, options=options.to_dict(),
            panels=panels.to_dict(with_lines=True),
        )
        if claim:
            job = replace(job, status=RUNNING, started_at=job.created_at, heartbeat_at=time.time(), **owner())
        job, new = self.store.submit(job, proposals)
        if not new and job.status == DONE:
            self.store.record_reuse(job.run_id, actor, source)
            return Submission(job, False, replace(self.store.state(job.run_id), reused=True))
        return Submission(job, new)

    def route(
        self,
        proposals: Sequence[Proposal],
        options: RoutingOptions | None = None,
        actor: str = "unknown",
        source: str | None = None,
        progress: Callable[[int], None] | None = None,
        panels: PanelSet | None = None,
    ) -> RunState:
        """Route the proposals now, in this thread (or return the stored run for the same input).

        The command line's way (and the API's ``?wait=true``). An identical job that a server has
        queued is taken over; one that another process is running is waited for.
        """
        while True:
            reap(self.store, self.stale_seconds)
            sub = self.submit(proposals, options, actor, source, claim=True, panels=panels)
            if sub.state is not None:
                if progress:
                    progress(len(proposals))
                return sub.state
            job = sub.job if sub.new else self.store.claim(sub.job.run_id, owner())
            if job is not None:
                state = self.run_claimed(job, progress)
                if state is None:
                    stopped = self.store.job(job.run_id)
                    raise RunConflict(f"routing run {job.run_id} was stopped: {stopped.error}", "run_cancelled")
                return state
            self._wait_for(sub.job.run_id, progress)

    def _wait_for(self, run_id: str, progress: Callable[[int], None] | None) -> None:
        """Follow another process's job until it is over (its progress shown as ours)."""
        shown = 0
        while True:
            job = self.store.job(run_id)
            if progress and job.done > shown:
                progress(job.done - shown)
                shown = job.done
            if job.status != RUNNING or reap(self.store, self.stale_seconds):
                return
            time.sleep(0.5)

    def run_claimed(
        self,
        job: JobRecord,
        progress: Callable[[int], None] | None = None,
        stop: threading.Event | None = None,
    ) -> RunState | None:
        """Match, assign and store a job this process has claimed; None when it was cancelled (or
        ``stop`` was set: the job is then marked failed). A failure is recorded with the job and raised."""
        worker_id = job.worker_id or ""
        done = 0

        def report(n: int) -> None:
            nonlocal done
            done += n
            if stop is not None and stop.is_set():
                raise _Stopped(SERVER_STOPPED)
            if not self.store.report_progress(job.run_id, worker_id, done):
                raise _Stopped("cancelled")
            if progress:
                progress(n)

        try:
            run, rows = self._compute(job, self.store.proposals(job.run_id), report)
            if not self.store.finish(run, rows, worker_id):
                return None  # cancelled between the last progress report and now
        except _Stopped as why:
            if why.args[0] == SERVER_STOPPED:
                self.store.fail(job.run_id, SERVER_STOPPED, SERVER_STOPPED_MESSAGE, worker_id)
            return None
        except InputError as err:
            self.store.fail(job.run_id, err.code, err.message, worker_id)
            raise
        except BaseException:
            self.store.fail(job.run_id, INTERNAL_ERROR, INTERNAL_ERROR_MESSAGE, worker_id)
            raise
        return self.store.state(job.run_id)

    def _compute(self, job: JobRecord, proposals: Sequence[Proposal],
                 progress: Callable[[int], None]) -> tuple[RunRecord, list[AssignmentRow]]:
        """The run and its assignments for a job's proposals (nothing is written here)."""
        if len(proposals) != job.total:
            raise RuntimeError(f"routing run {job.run_id}: {len(proposals)} of {job.total} proposals are stored")
        panels = PanelSet.from_dict(job.panels)
        options = RoutingOptions.from_dict(job.options)
        directions = self.matcher.directions
        dir_ids = [d.id for d in directions]
        results = self.matcher.match_many(
            [p.text for p in proposals], top_k=len(dir_ids), on_error="return", progress=progress
        )
        scores = score_matrix(results, dir_ids)
        affinity = panel_affinity(scores, panels, dir_ids, options.expertise_weight)
        conflicts = find_conflicts(proposals, panels)
        hold = np.array([isinstance(r, InputError) or not r.in_scope for r in results], dtype=bool)
        n_recused = np.array([[len(c) for c in row] for row in conflicts.recused], dtype=np.float64)
        args = dict(
            affinity=affinity,
            min_cap=[p.min for p in panels],
            max_cap=[p.max for p in panels],
            allowed=conflicts.allowed,
            hold=hold,
            penalty=options.recusal_penalty * n_recused,
            flag_below=options.flag_below,
            eligible_floor=options.eligible_floor,
            labels=[f"{p.where()} {p.name}" for p in panels],
        )
        n_routed = int((~solve_flags(**args)).sum())
        panels.check_capacity(n_routed)
        solution = solve(**args)

        rows = self._rows(proposals, results, affinity, conflicts, solution, panels, options)
        self._add_verdicts(rows, proposals)
        run = RunRecord(
            run_id=job.run_id,
            input_key=job.input_key,
            created_at=now(),
            actor=job.actor,
            source=job.source,
            n_proposals=len(proposals),
            n_flagged=int(solution.flagged.sum()),
            total_affinity=round(solution.total_affinity, 4),
            matcher_version=job.matcher_version,
            options=options.to_dict(),
            panels=PanelSet.from_dict(job.panels).to_dict(),
            notes=self._notes(proposals, panels),
        )
        return run, rows

    def job(self, run_id: str) -> JobRecord:
        return self.store.job(run_id)

    def cancel(self, run_id: str, actor: str = "unknown") -> JobRecord:
        """Cancel a queued or running run: it stops before its next chunk of proposals and stores nothing."""
        return self.store.cancel(run_id, actor)

    def delete(self, run_id: str, actor: str = "unknown") -> JobRecord:
        """Delete a finished run with its assignments, corrections and texts (the audit log keeps the event)."""
        return self.store.delete_run(run_id, actor)

    def _add_verdicts(self, rows: list[AssignmentRow], proposals: Sequence[Proposal]) -> None:
        """The eligibility pre-check per proposal (its text and field columns), beside its assignment."""
        from eligibility.rows import check_row

        limit = getattr(getattr(self.matcher, "config", None), "max_text_chars", None)
        for row, prop in zip(rows, proposals):
            verdict = check_row(prop.text, dict(prop.facts), max_text_chars=limit)
            row.eligible, row.failed_rules = verdict.eligible, list(verdict.failed_rules)

    @staticmethod
    def _notes(proposals: Sequence[Proposal], panels: PanelSet) -> list[str]:
        notes = []
        if not any(p.orgs for p in proposals):
            notes.append("输入表没有申报单位/合作单位：未能检查利益冲突。")
        closed = [p.id for p in panels if p.closed]
        if closed:
            notes.append(f"本次关闭的评审组：{'、'.join(closed)}。")
        missing = panels.uncovered()
        if missing:
            notes.append(f"方向{'、'.join(map(str, missing))}本次没有开放的评审组覆盖，相关申报书将转入次优评审组或人工审核。")
        return notes

    def _rows(self, proposals, results, affinity, conflicts: Conflicts, sol: Solution, panels: PanelSet,
              options: RoutingOptions) -> list[AssignmentRow]:
        ids = panels.ids
        titles = {d.id: d.title for d in self.matcher.directions}
        rows = []
        for i, (prop, res) in enumerate(zip(proposals, results)):
            top = res.best if isinstance(res, MatchResult) else None
            p = int(sol.panel[i])
            b = int(sol.backup[i])
            reason = self._reason(i, prop, res, affinity, conflicts, sol, panels, options, titles)
            rows.append(
                AssignmentRow(
                    proposal_id=prop.id,
                    seq=i,
                    title=prop.title or prop.abstract[:60],
                    applicant_org=prop.applicant_org,
                    partner_orgs=list(prop.partner_orgs),
                    top_direction=top.id if top else None,
                    top_direction_title=top.title if top else None,
                    top_score=top.score if top else None,
                    in_scope=res.in_scope if isinstance(res, MatchResult) else None,
                    affinities=[round(float(a), 4) for a in affinity[i]],
                    recused=[list(c) for c in conflicts.recused[i]],
                    panel_id=ids[p] if p >= 0 else None,
                    backup_panel_id=ids[b] if b >= 0 else None,
                    affinity=round(float(affinity[i, p] if p >= 0 else _best_open(affinity[i], panels)), 4),
                    flagged=bool(sol.flagged[i]),
                    reason=reason,
                    initial_panel_id=ids[p] if p >= 0 else None,
                    directions=[{"id": d.id, "score": round(float(d.score), 4), "terms": list(d.matched_terms)}
                                for d in res.directions] if isinstance(res, MatchResult) else [],
                )
            )
        return rows

    @staticmethod
    def _reason(i, prop, res, affinity, conflicts, sol: Solution, panels: PanelSet, options, titles) -> str:
        plist = list(panels)
        why = sol.why[i]
        if isinstance(res, InputError):
            return f"无法匹配：{res.message}；需人工确定评审组。"
        if not res.directions:  # a language the matcher cannot read: it guessed no direction
            return f"{res.message}需人工确定评审组。"
        top = res.directions[0]
        top_txt = f"首选方向{top.id}「{top.title}」（{_fmt(top.score)}）"
        open_idx = [j for j, q in enumerate(plist) if not q.closed]
        nearest = max(open_idx, key=lambda j: affinity[i, j]) if open_idx else None
        nearest_txt = f"最接近的评审组：{plist[nearest].label}（匹配度{_fmt(affinity[i, nearest])}）" if nearest is not None else ""
        if why == HELD:
            return f"匹配器判断不在指南支持范围内（{_fmt(res.in_scope_score)}），需人工确定评审组；{top_txt}；{nearest_txt}。"
        if why == NO_PANEL:
            blocked = [q.id for j, q in enumerate(plist) if not q.closed and not conflicts.allowed[i, j]]
            why_txt = f"与{'、'.join(blocked)}存在利益冲突（回避后不足法定人数）" if blocked else "覆盖其方向的评审组已关闭"
            return f"没有可接收的评审组：{why_txt}，需人工处理；{top_txt}。"
        if why == LOW:
            return (f"最高可用匹配度{_fmt(affinity[i][conflicts.allowed[i]].max())}低于阈值{_fmt(options.flag_below)}，"
                    f"需人工确定评审组；{top_txt}；{nearest_txt}。")
        p = int(sol.panel[i])
        panel = plist[p]
        parts = [top_txt]
        if top.id in panel.directions:
            parts.append("属本组评审范围")
        else:
            covered = [d for d in res.directions if d.id in panel.directions][0]
            parts.append(f"本组覆盖其方向{covered.id}「{covered.title}」（{_fmt(covered.score)}）")
        b = int(sol.best[i])
        if why == BEST:
            parts.append(f"本组是可接收该申报书的匹配度最高的评审组（{_fmt(affinity[i, p])}）")
        elif why == CAPACITY:
            parts.append(f"匹配度最高的{plist[b].label}已满（上限{plist[b].max}），改派本组（{_fmt(affinity[i, p])}）")
        elif why == MINIMUM:
            parts.append(f"为使各评审组达到最低工作量，由{plist[b].label}调整至本组（{_fmt(affinity[i, p])}）")
        if nearest is not None and nearest != b and not conflicts.allowed[i, nearest]:
            rule = "按严格回避规则" if panels.conflict_rule == "strict" else "回避后不足法定人数"
            parts.append(f"{plist[nearest].label}有专家与申报/合作单位相同，{rule}，已避开")
        recused = conflicts.recused[i][p]
        if recused:
            parts.append("回避专家：" + "、".join(panel.members[k].label for k in recused))
        return "；".join(parts) + "。"

    # -- overrides --------------------------------------------------------------------------------
    def override(self, run_id: str, proposal_id: str, panel_id: str, reason: str, actor: str = "unknown",
                 force: bool = False, direction: int | None = None) -> OverrideOutcome:
        """Move a proposal to another panel, checked against capacities and conflicts, and record it.

        A conflict of interest under the run's rule is never overridden. A panel over its maximum, or
        one left below its minimum, needs ``force=True`` (recorded with the override). The move is
        kept as a labelled example too: with the officer's ``direction`` when given, else with the
        moved-to panel's direction the matcher ranked highest for the proposal.
        """
        reason = check_label((reason or "").strip(), "reason")
        if not reason:
            raise InputError("an override needs a reason (why the proposal moves)", "reason")
        actor = check_label((actor or "").strip(), "actor") or "unknown"
        direction = check_direction(direction, allow_none=True)
        warnings: list[str] = []
        with self.store.transaction() as tx:
            run = tx.done_run(run_id, "an override")
            panels = PanelSet.from_dict(run.panels, source=f"run {run_id}")
            row = tx.row(run_id, proposal_id)
            target = panels.get(panel_id)
            j = panels.ids.index(target.id)
            if row.panel_id == target.id:
                raise OverrideRefused(f"proposal {proposal_id} is already with panel {target.id}", "panel_id")
            if target.closed:
                raise OverrideRefused(f"panel {target.id} is closed in run {run_id}", "panel_id")
            recused = row.recused[j]
            if not panel_allows(target, len(recused), panels.conflict_rule):
                who = "、".join(target.members[k].label for k in recused)
                raise OverrideRefused(
                    f"proposal {proposal_id} cannot go to panel {target.id}: conflict of interest with {who}"
                    + (" (strict rule)" if panels.conflict_rule == "strict" else
                       f"; without them the panel has {len(target.members) - len(recused)} members, "
                       f"below its quorum of {target.quorum}"),
                    "panel_id",
                )
            loads = tx.loads(run_id)
            if loads.get(target.id, 0) + 1 > target.max:
                msg = f"panel {target.id} is full ({loads.get(target.id, 0)} of its maximum {target.max})"
                if not force:
                    raise OverrideRefused(msg + "; use force to overload it", "panel_id")
                warnings.append(msg + "; overloaded on request")
            if row.panel_id:
                source = panels.get(row.panel_id)
                if loads.get(source.id, 0) - 1 < source.min:
                    msg = f"panel {source.id} would fall below its minimum of {source.min}"
                    if not force:
                        raise OverrideRefused(msg + "; use force to move the proposal anyway", "panel_id")
                    warnings.append(msg + "; moved on request")
            at = now()
            record = OverrideRecord(0, run_id, proposal_id, row.panel_id, target.id, reason, actor, at, force, direction)
            record.id = tx.insert_override(record)
            if direction is not None and direction not in target.directions:
                warnings.append(f"direction {direction} is not among panel {target.id}'s directions "
                                f"({', '.join(map(str, target.directions))})")
            label = direction if direction is not None else _best_of(row, target.directions)
            if label is not None:
                tx.insert_feedback(FeedbackRecord(0, run_id, proposal_id, label, OVERRIDE if direction is not None else INFERRED,
                                                  actor, at, record.id))
            row.backup_panel_id = self._backup(row, panels, j, RoutingOptions.from_dict(run.options), loads)
            moved_from = row.panel_id or "待人工审核"
            row.panel_id = target.id
            row.affinity = row.affinities[j]
            row.flagged = False
            row.overridden = True
            note = f"人工调整（{actor}，{at}）：由{moved_from}调至{target.label}。理由：{reason}"
            if recused:
                note += "；回避专家：" + "、".join(target.members[k].label for k in recused)
            row.reason = note + "。"
            tx.update_row(run_id, row)
            tx.event(actor, "override", run_id, {"proposal_id": proposal_id, "from": record.from_panel_id,
                                                 "to": target.id, "reason": reason, "forced": force,
                                                 "direction": direction})
            state = tx.state(run_id)
        return OverrideOutcome(state, record, tuple(warnings))

    def confirm_direction(self, run_id: str, proposal_id: str, direction: int | None,
                          actor: str = "unknown") -> tuple[FeedbackRecord, RunState]:
        """Record an officer's judgment of a proposal's direction without moving it (``None``: no
        direction of the guide fits); kept with the run as a labelled example."""
        direction = check_direction(direction, allow_none=True)
        actor = (actor or "").strip() or "unknown"
        with self.store.transaction() as tx:
            tx.done_run(run_id, "recording a direction")
            tx.row(run_id, proposal_id)
            record = FeedbackRecord(0, run_id, proposal_id, direction, CONFIRMED, actor, now())
            record.id = tx.insert_feedback(record)
            tx.event(actor, "direction.confirmed", run_id, {"proposal_id": proposal_id, "direction": direction})
            state = tx.state(run_id)
        return record, state

    @staticmethod
    def _backup(row: AssignmentRow, panels: PanelSet, primary: int, options: RoutingOptions,
                loads: dict[str, int]) -> str | None:
        """The moved proposal's backup, chosen as the run chose every backup (:func:`choose_backups`)."""
        affinity = np.asarray([row.affinities], dtype=np.float64)
        n_recused = np.asarray([[len(r) for r in row.recused]], dtype=np.float64)
        allowed = np.asarray([[panel_allows(p, len(r), panels.conflict_rule) for p, r in zip(panels, row.recused)]])
        room = np.asarray([p.max - loads.get(p.id, 0) for p in panels])
        backup = choose_backups(affinity - options.recusal_penalty * n_recused, allowed,
                                allowed & (affinity >= options.eligible_floor), np.asarray([primary]), room)
        return panels.ids[int(backup[0])] if backup[0] >= 0 else None

    # -- reading ----------------------------------------------------------------------------------
    def state(self, run_id: str) -> RunState:
        return self.store.state(run_id)

    def export(self, run_id: str, path: str | Path, actor: str | None = None) -> Path:
        """Write the run's routing sheet (.xlsx) or its JSON (.json)."""
        state = self.store.state(run_id)
        out = write_output(state, path)
        if actor:
            self.store.log_event(actor, "export", run_id, {"path": str(out)})
        return out


def solve_flags(**args) -> np.ndarray:
    """Which proposals :func:`solve` flags (cheap: no flow), to check capacities before solving."""
    flagged, _, _ = triage(args["affinity"], args["max_cap"], args["allowed"], args["hold"], args["penalty"],
                           args["flag_below"])
    return flagged
