"""Expert panels: load and validate ``panels.yaml`` into dataclasses.

Every problem in the file is reported at once, each with the line it is on, because the
file is edited by hand by program officers::

    corpus/panels.yaml: 2 problems
      line 31: panel P03: min (30) is greater than max (20)
      line 58: panel P05, member 2: 'organisation' is missing

Capacities are checked twice: the file alone (``min <= max``, every direction covered by an
open panel) when it is loaded, and against the number of proposals of a run by
:meth:`PanelSet.check_capacity` once that number is known.
"""
from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

import yaml

from corpus import CORPUS_DIR, N_DIRECTIONS

from matcher.errors import InputError

from .options import CONFLICT_RULES

DEFAULT_PANELS_PATH = CORPUS_DIR / "panels.yaml"

_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,31}$")
_MEMBER_TEXT = re.compile(r"^\s*(?P<name>[^（(]+?)\s*[（(](?P<org>.+)[）)]\s*$")
_TOP_KEYS = ("rules", "panels")
_RULE_KEYS = ("conflict", "quorum")
_PANEL_KEYS = ("id", "name", "directions", "min", "max", "quorum", "members")
_MEMBER_KEYS = ("name", "organisation", "expertise")


class PanelsError(InputError):
    """A panels file (or a run's panel options) that cannot be used; ``problems`` are (line, text) pairs."""

    def __init__(self, source: str, problems: list[tuple[int | None, str]], field: str | None = "panels"):
        self.source = source
        self.problems = problems
        lines = [f"line {ln}: {text}" if ln else text for ln, text in problems]
        if len(lines) == 1:
            message = f"{source}, {lines[0]}" if problems[0][0] else f"{source}: {lines[0]}"
        else:
            message = f"{source}: {len(lines)} problems\n" + "\n".join("  " + ln for ln in lines)
        super().__init__(message, field)


@dataclass(frozen=True)
class Member:
    name: str
    organisation: str
    expertise: tuple[int, ...] = ()

    @property
    def label(self) -> str:
        return f"{self.name}（{self.organisation}）"


@dataclass(frozen=True)
class Panel:
    id: str
    name: str
    directions: tuple[int, ...]
    min: int
    max: int
    members: tuple[Member, ...]
    quorum: int
    line: int | None = field(default=None, compare=False)
    """Line of the panel in its file, for messages; None for panels built in code."""

    @property
    def closed(self) -> bool:
        return self.max == 0

    @property
    def label(self) -> str:
        return f"{self.id} {self.name}"

    def where(self) -> str:
        return f"{self.id} (line {self.line})" if self.line else self.id

    def to_dict(self) -> dict:
        return {
            "id": self.id,
            "name": self.name,
            "directions": list(self.directions),
            "min": self.min,
            "max": self.max,
            "quorum": self.quorum,
            "members": [
                {"name": m.name, "organisation": m.organisation, "expertise": list(m.expertise)} for m in self.members
            ],
        }

    @classmethod
    def from_dict(cls, d: Mapping) -> "Panel":
        return cls(
            id=d["id"],
            name=d["name"],
            directions=tuple(d["directions"]),
            min=int(d["min"]),
            max=int(d["max"]),
            quorum=int(d["quorum"]),
            members=tuple(Member(m["name"], m["organisation"], tuple(m.get("expertise") or ())) for m in d["members"]),
            line=d.get("line"),
        )


@dataclass(frozen=True)
class PanelSet:
    panels: tuple[Panel, ...]
    conflict_rule: str = "quorum"
    source: str = "panels"

    def __post_init__(self):
        if self.conflict_rule not in CONFLICT_RULES:
            raise InputError(f"conflict rule must be one of {', '.join(CONFLICT_RULES)}, got {self.conflict_rule!r}", "conflict_rule")

    def __len__(self) -> int:
        return len(self.panels)

    def __iter__(self):
        return iter(self.panels)

    @property
    def ids(self) -> tuple[str, ...]:
        return tuple(p.id for p in self.panels)

    def get(self, panel_id: str) -> Panel:
        for p in self.panels:
            if p.id == panel_id:
                return p
        raise InputError(f"no panel {panel_id!r}; panels: {', '.join(self.ids)}", "panel_id")

    def covering(self, direction_id: int, open_only: bool = True) -> tuple[Panel, ...]:
        return tuple(p for p in self.panels if direction_id in p.directions and not (open_only and p.closed))

    def uncovered(self, direction_ids: Iterable[int] | None = None) -> list[int]:
        """Directions no open panel covers."""
        ids = range(1, N_DIRECTIONS + 1) if direction_ids is None else direction_ids
        return [d for d in ids if not self.covering(d)]

    def with_options(self, closed: Iterable[str] = (), extra_room: Mapping[str, int] | None = None,
                     conflict_rule: str | None = None) -> "PanelSet":
        """The panels of one run: some closed (capacity 0), some with extra room, without editing the file."""
        closed = list(dict.fromkeys(closed))
        extra_room = dict(extra_room or {})
        problems: list[tuple[int | None, str]] = []
        for pid in closed:
            if pid not in self.ids:
                problems.append((None, f"cannot close panel {pid!r}: no such panel (panels: {', '.join(self.ids)})"))
        for pid, room in extra_room.items():
            if pid not in self.ids:
                problems.append((None, f"cannot give extra room to panel {pid!r}: no such panel (panels: {', '.join(self.ids)})"))
            elif isinstance(room, bool) or not isinstance(room, int) or room < 0:
                problems.append((None, f"extra room for panel {pid} must be a whole number of proposals ≥ 0, got {room!r}"))
            elif pid in closed:
                problems.append((None, f"panel {pid} is both closed and given extra room; choose one"))
        if problems:
            raise PanelsError("run options", problems, "panels_closed" if closed and not extra_room else "extra_room")
        panels = []
        for p in self.panels:
            if p.id in closed:
                p = replace(p, min=0, max=0)
            elif p.id in extra_room:
                p = replace(p, max=p.max + extra_room[p.id])
            panels.append(p)
        return PanelSet(tuple(panels), conflict_rule or self.conflict_rule, self.source)

    def check_capacity(self, n: int) -> None:
        """Raise :class:`~routing.assign.RoutingInfeasible` when ``n`` proposals cannot fit the
        open panels' minimums and maximums taken together."""
        from .assign import RoutingInfeasible

        open_ = [p for p in self.panels if not p.closed]
        low = sum(p.min for p in open_)
        high = sum(p.max for p in open_)
        if not open_:
            raise RoutingInfeasible(f"{self.source}: every panel is closed; reopen at least one", [])
        if n < low:
            mins = ", ".join(f"{p.where()} min {p.min}" for p in open_ if p.min)
            raise RoutingInfeasible(
                f"{self.source}: the open panels' minimums add up to {low} but only {n} proposals are to be routed "
                f"({mins}); lower some minimums or close a panel",
                [{"panel": p.id, "kind": "min", "min": p.min} for p in open_ if p.min],
            )
        if n > high:
            maxes = ", ".join(f"{p.where()} max {p.max}" for p in open_)
            raise RoutingInfeasible(
                f"{self.source}: {n} proposals are to be routed but the open panels take at most {high} ({maxes}); "
                f"short by {n - high}: raise some maximums or give extra room (--extra-room PANEL=N)",
                [{"panel": p.id, "kind": "max", "max": p.max} for p in open_],
            )

    def to_dict(self, with_lines: bool = False) -> dict:
        """The panels as data; ``with_lines`` adds each panel's line and the file's name, for messages
        about a run that is routed later from this copy (they are not part of a run's identity)."""
        if not with_lines:
            return {"conflict_rule": self.conflict_rule, "panels": [p.to_dict() for p in self.panels]}
        return {"conflict_rule": self.conflict_rule, "source": Path(self.source).name,  # a name, never a server path
                "panels": [p.to_dict() | ({"line": p.line} if p.line else {}) for p in self.panels]}

    @classmethod
    def from_dict(cls, d: Mapping, source: str = "panels") -> "PanelSet":
        return cls(tuple(Panel.from_dict(p) for p in d["panels"]), d.get("conflict_rule", "quorum"), d.get("source", source))


# -- YAML with line numbers ----------------------------------------------------------------------
class _Map(dict):
    line: int = 0
    key_lines: dict


class _Seq(list):
    line: int = 0
    item_lines: list


class _Loader(yaml.SafeLoader):
    duplicates: list


def _construct_map(loader: _Loader, node: yaml.MappingNode) -> _Map:
    loader.flatten_mapping(node)
    out = _Map()
    out.line = node.start_mark.line + 1
    out.key_lines = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        try:
            hash(key)
        except TypeError:
            key = str(key)
        if key in out:
            loader.duplicates.append((key_node.start_mark.line + 1, f"key {key!r} appears twice in this entry"))
        out[key] = loader.construct_object(value_node, deep=True)
        out.key_lines[key] = key_node.start_mark.line + 1
    return out


def _construct_seq(loader: _Loader, node: yaml.SequenceNode) -> _Seq:
    out = _Seq(loader.construct_object(n, deep=True) for n in node.value)
    out.line = node.start_mark.line + 1
    out.item_lines = [n.start_mark.line + 1 for n in node.value]
    return out


_Loader.add_constructor("tag:yaml.org,2002:map", _construct_map)
_Loader.add_constructor("tag:yaml.org,2002:seq", _construct_seq)


def _parse(text: str, source: str):
    loader = _Loader(text)
    loader.duplicates = []
    try:
        data = loader.get_single_data()
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None) or getattr(err, "context_mark", None)
        what = getattr(err, "problem", None) or str(err)
        raise PanelsError(source, [(mark.line + 1 if mark else None, f"not valid YAML: {what}")]) from None
    finally:
        loader.dispose()
    return data, loader.duplicates


# -- validation -----------------------------------------------------------------------------------
def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _line(obj, key=None, default: int | None = None) -> int | None:
    if key is not None and isinstance(obj, _Map) and key in obj.key_lines:
        return obj.key_lines[key]
    return getattr(obj, "line", None) or default


def _unknown_keys(obj: _Map, allowed: tuple[str, ...], what: str, problems: list) -> None:
    for key in obj:
        if key not in allowed:
            close = difflib.get_close_matches(str(key), allowed, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else f"; allowed: {', '.join(allowed)}"
            problems.append((_line(obj, key), f"{what}: unknown key {key!r}{hint}"))


def _direction_list(value, line, what: str, problems: list, allow_empty: bool) -> tuple[int, ...]:
    if value is None and allow_empty:
        return ()
    if not isinstance(value, list) or (not value and not allow_empty):
        problems.append((line, f"{what} must be a list of direction ids (1–{N_DIRECTIONS}), e.g. [22, 23]"))
        return ()
    out: list[int] = []
    for i, d in enumerate(value):
        ln = value.item_lines[i] if isinstance(value, _Seq) else line
        if not _is_int(d) or not 1 <= d <= N_DIRECTIONS:
            problems.append((ln, f"{what}: {d!r} is not a direction id (1–{N_DIRECTIONS})"))
        elif d in out:
            problems.append((ln, f"{what}: direction {d} is listed twice"))
        else:
            out.append(d)
    return tuple(out)


def _member(raw, line, where: str, problems: list) -> Member | None:
    if isinstance(raw, str):
        m = _MEMBER_TEXT.match(raw)
        if not m:
            problems.append((line, f"{where}: write a member as {{name: …, organisation: …}} or '姓名（单位）', got {raw!r}"))
            return None
        return Member(m.group("name").strip(), m.group("org").strip())
    if not isinstance(raw, _Map):
        problems.append((line, f"{where} must be a mapping with name and organisation"))
        return None
    _unknown_keys(raw, _MEMBER_KEYS, where, problems)
    ok = True
    for key in ("name", "organisation"):
        v = raw.get(key)
        if v is None:
            problems.append((raw.line, f"{where}: {key!r} is missing"))
            ok = False
        elif not isinstance(v, str) or not v.strip():
            problems.append((_line(raw, key), f"{where}: {key!r} must be a non-empty text"))
            ok = False
    expertise = _direction_list(raw.get("expertise"), _line(raw, "expertise"), f"{where}: expertise", problems, True)
    return Member(raw["name"].strip(), raw["organisation"].strip(), expertise) if ok else None


def _panel(raw, line, n: int, default_quorum: int | None, problems: list) -> Panel | None:
    if not isinstance(raw, _Map):
        problems.append((line, f"panel {n} must be a mapping with id, name, directions, min, max and members"))
        return None
    pid = raw.get("id")
    if _is_int(pid):
        pid = str(pid)
    where = f"panel {pid}" if isinstance(pid, str) and pid else f"panel {n}"
    before = len(problems)
    _unknown_keys(raw, _PANEL_KEYS, where, problems)
    for key in ("id", "name", "directions", "min", "max", "members"):
        if key not in raw:
            problems.append((raw.line, f"{where}: {key!r} is missing"))
    if "id" in raw and (not isinstance(pid, str) or not _ID.match(pid)):
        problems.append((_line(raw, "id"), f"{where}: id must be a short code of letters, digits, '-', '_' or '.' (e.g. P01), got {raw.get('id')!r}"))
    if "name" in raw and (not isinstance(raw["name"], str) or not raw["name"].strip()):
        problems.append((_line(raw, "name"), f"{where}: name must be a non-empty text"))
    directions = _direction_list(raw.get("directions"), _line(raw, "directions"), f"{where}: directions", problems, False) if "directions" in raw else ()
    caps = {}
    for key in ("min", "max"):
        if key in raw:
            v = raw[key]
            if not _is_int(v) or v < 0:
                problems.append((_line(raw, key), f"{where}: {key} must be a whole number ≥ 0, got {v!r}"))
            else:
                caps[key] = v
    if len(caps) == 2 and caps["min"] > caps["max"]:
        problems.append((_line(raw, "min"), f"{where}: min ({caps['min']}) is greater than max ({caps['max']})"))
    members: list[Member] = []
    raw_members = raw.get("members")
    if "members" in raw:
        if not isinstance(raw_members, list) or not raw_members:
            problems.append((_line(raw, "members"), f"{where}: members must be a non-empty list"))
        else:
            for i, rm in enumerate(raw_members, 1):
                ln = raw_members.item_lines[i - 1] if isinstance(raw_members, _Seq) else _line(raw, "members")
                m = _member(rm, ln, f"{where}, member {i}", problems)
                if m:
                    members.append(m)
            names = [m.name for m in members]
            for nm in sorted({x for x in names if names.count(x) > 1}):
                problems.append((_line(raw, "members"), f"{where}: member {nm!r} is listed twice"))
    quorum = raw.get("quorum", default_quorum)
    if quorum is None:
        quorum = len(members) // 2 + 1
    if not _is_int(quorum) or quorum < 1:
        problems.append((_line(raw, "quorum"), f"{where}: quorum must be a whole number ≥ 1, got {quorum!r}"))
    elif members and quorum > len(members) and len(problems) == before:
        problems.append((_line(raw, "quorum", raw.line),
                         f"{where}: quorum {quorum} is more than its {len(members)} members, so it could never review"))
    if len(problems) > before:
        return None
    return Panel(pid, raw["name"].strip(), directions, caps["min"], caps["max"], tuple(members), quorum, raw.line)


def parse_panels(text: str, source: str = "panels") -> PanelSet:
    """Validate the text of a panels file; :class:`PanelsError` lists every problem with its line."""
    data, problems = _parse(text, source)
    problems = list(problems)
    if isinstance(data, list):
        data_map = _Map(panels=data)
        data_map.line, data_map.key_lines = 1, {"panels": getattr(data, "line", 1)}
        data = data_map
    if not isinstance(data, _Map) or not isinstance(data.get("panels"), list):
        raise PanelsError(source, [(1, "the file must be a mapping with a 'panels' list (and optional 'rules')")])
    _unknown_keys(data, _TOP_KEYS, "top level", problems)
    rules = data.get("rules") or _Map()
    conflict, default_quorum = "quorum", None
    if not isinstance(rules, _Map):
        problems.append((_line(data, "rules"), "rules must be a mapping (conflict, quorum)"))
    else:
        _unknown_keys(rules, _RULE_KEYS, "rules", problems)
        conflict = rules.get("conflict", "quorum")
        if conflict not in CONFLICT_RULES:
            problems.append((_line(rules, "conflict"), f"rules: conflict must be one of {', '.join(CONFLICT_RULES)}, got {conflict!r}"))
            conflict = "quorum"
        default_quorum = rules.get("quorum")
        if default_quorum is not None and (not _is_int(default_quorum) or default_quorum < 1):
            problems.append((_line(rules, "quorum"), f"rules: quorum must be a whole number ≥ 1, got {default_quorum!r}"))
            default_quorum = None
    raw_panels = data["panels"]
    if not raw_panels:
        problems.append((_line(data, "panels"), "panels is empty; list at least one panel"))
    panels: list[Panel] = []
    seen: dict[str, int | None] = {}
    for n, raw in enumerate(raw_panels, 1):
        line = raw_panels.item_lines[n - 1] if isinstance(raw_panels, _Seq) else None
        p = _panel(raw, line, n, default_quorum, problems)
        if p is None:
            continue
        if p.id in seen:
            problems.append((p.line, f"panel id {p.id} is used twice (first on line {seen[p.id]})"))
            continue
        seen[p.id] = p.line
        panels.append(p)
    if not problems:
        ps = PanelSet(tuple(panels), conflict, source)
        missing = ps.uncovered()
        if missing:
            problems.append((_line(data, "panels"),
                             f"direction(s) {', '.join(map(str, missing))} are not covered by any open panel; "
                             "every direction must be covered at least once"))
    if problems:
        raise PanelsError(source, sorted(problems, key=lambda p: (p[0] or 0)))
    return PanelSet(tuple(panels), conflict, source)


def load_panels(path: str | Path | None = None) -> PanelSet:
    """The panels file at ``path`` (default: the packaged ``corpus/panels.yaml``), validated."""
    path = Path(path) if path else DEFAULT_PANELS_PATH
    if path.suffix.lower() not in (".yaml", ".yml"):
        raise InputError(f"panels file {path.name}: must be a .yaml file", "panels")
    if not path.is_file():
        raise InputError(f"panels file {path.name}: no such file", "panels")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise InputError(f"panels file {path.name}: not UTF-8 text; save it as UTF-8", "panels") from None
    return parse_panels(text, path.name)  # messages name the file, not the server's folders
