"""The options of one routing run, and their defaults (shared by the command line, the API and the solver)."""
from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields

from matcher.errors import InputError

FLAG_BELOW = 0.2
"""A proposal whose best panel affinity is below this goes to manual review."""
ELIGIBLE_FLOOR = 0.02
"""A panel with affinity below this for a proposal is never given it (not even to fill a minimum)."""
RECUSAL_PENALTY = 0.02
"""Affinity subtracted per recused member when choosing, so a conflict-free panel wins a near tie."""
EXPERTISE_WEIGHT = 0.2
"""How far a panel's affinity moves towards its best-placed member's expertise (see :mod:`routing.affinity`)."""
CONFLICT_RULES = ("quorum", "strict")
"""``quorum``: a conflicted member is recused and the panel may still take the proposal while the
others make a quorum. ``strict``: a proposal never goes to a panel with a conflicted member."""
MAX_EXTRA_ROOM = 100_000
"""Most extra places one panel may be given in a run (more than any call has proposals)."""

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")

_ROOM = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9_.-]{0,31})\s*[=:]\s*\+?(\d{1,6})\s*$")


@dataclass(frozen=True)
class RoutingOptions:
    closed: tuple[str, ...] = ()
    """Panels that take nothing in this run (capacity 0)."""
    extra_room: Mapping[str, int] = field(default_factory=dict)
    """Panel id -> proposals it may take beyond its max in this run."""
    conflict_rule: str | None = None
    """``quorum`` or ``strict``; None: the panels file's rule."""
    flag_below: float = FLAG_BELOW
    eligible_floor: float = ELIGIBLE_FLOOR
    expertise_weight: float = EXPERTISE_WEIGHT
    recusal_penalty: float = RECUSAL_PENALTY

    def __post_init__(self):
        object.__setattr__(self, "closed", tuple(dict.fromkeys(str(c).strip() for c in self.closed)))
        room = dict(self.extra_room or {})
        for k, v in room.items():
            if isinstance(v, bool) or not isinstance(v, int) or not 0 <= v <= MAX_EXTRA_ROOM:
                raise InputError(
                    f"extra room for panel {str(k)[:40]} must be a whole number from 0 to {MAX_EXTRA_ROOM}", "extra_room"
                )
        object.__setattr__(self, "extra_room", dict(sorted(room.items())))
        if self.conflict_rule is not None and self.conflict_rule not in CONFLICT_RULES:
            raise InputError(f"conflict rule must be one of {', '.join(CONFLICT_RULES)}", "conflict_rule")
        for name in ("flag_below", "eligible_floor", "expertise_weight", "recusal_penalty"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 <= v <= 1:
                raise InputError(f"{name} must be a number from 0 to 1", name)

    @classmethod
    def create(cls, **given) -> "RoutingOptions":
        """Options from what a user gave; None (not given) keeps the default."""
        return cls(**{k: v for k, v in given.items() if v is not None})

    def to_dict(self) -> dict:
        d = {f.name: getattr(self, f.name) for f in fields(self)}
        return d | {"closed": sorted(self.closed), "extra_room": dict(self.extra_room)}

    @classmethod
    def from_dict(cls, d: Mapping) -> "RoutingOptions":
        return cls(**{k: (tuple(v) if k == "closed" else v) for k, v in d.items()})


def parse_extra_room(values: Iterable[str] | None, field_name: str = "--extra-room") -> dict[str, int]:
    """``["P06=20", "P05=+5"]`` -> ``{"P06": 20, "P05": 5}``; repeated panels add up."""
    out: dict[str, int] = {}
    for value in values or ():
        m = _ROOM.match(value)
        if not m:
            raise InputError(f"{field_name}: write PANEL=N with N from 0 to {MAX_EXTRA_ROOM}, e.g. P06=20", field_name)
        out[m.group(1)] = min(out.get(m.group(1), 0) + int(m.group(2)), MAX_EXTRA_ROOM + 1)
    return out


def parse_closed(values: Iterable[str] | None) -> tuple[str, ...]:
    """``["P03", "P04,P05"]`` -> ``("P03", "P04", "P05")``."""
    return tuple(p.strip() for v in values or () for p in str(v).split(",") if p.strip())


def check_label(value: str, field: str) -> str:
    """An actor's name or an override's reason, refused when it holds a control character (a line
    break or a terminal escape would forge lines in the logs and the audit trail) or is not valid
    Unicode text."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise InputError(f"{field} contains an unpaired surrogate, which is not valid Unicode text", field,
                         "invalid_text") from None
    if _CONTROL.search(value):
        raise InputError(f"{field} must be one line of text: control characters (line breaks, tabs, escapes) "
                         "are not accepted", field, "invalid_text")
    return value
