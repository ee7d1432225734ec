"""The options of one routing run (shared by the command line and the API)."""
from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from ..errors import InputError
from .affinity import EXPERTISE_WEIGHT
from .assign import ELIGIBLE_FLOOR, FLAG_BELOW, RECUSAL_PENALTY
from .panels import CONFLICT_RULES

_ROOM = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9_.-]*)\s*[=:]\s*\+?(\d+)\s*$")


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
            if isinstance(v, bool) or not isinstance(v, int) or v < 0:
                raise InputError(f"extra room for panel {k} must be a whole number ≥ 0, got {v!r}", "extra_room")
        object.__setattr__(self, "extra_room", dict(sorted(room.items())))
        if self.conflict_rule is not None and self.conflict_rule not in CONFLICT_RULES:
            raise InputError(
                f"conflict rule must be one of {', '.join(CONFLICT_RULES)}, got {self.conflict_rule!r}", "conflict_rule"
            )
        for name in ("flag_below", "eligible_floor", "expertise_weight", "recusal_penalty"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 <= v <= 1:
                raise InputError(f"{name} must be a number from 0 to 1, got {v!r}", name)

    def to_dict(self) -> dict:
        return {
            "closed": sorted(self.closed),
            "extra_room": dict(self.extra_room),
            "conflict_rule": self.conflict_rule,
            "flag_below": self.flag_below,
            "eligible_floor": self.eligible_floor,
            "expertise_weight": self.expertise_weight,
            "recusal_penalty": self.recusal_penalty,
        }

    @classmethod
    def from_dict(cls, d: Mapping) -> "RoutingOptions":
        return cls(**{k: (tuple(v) if k == "closed" else v) for k, v in d.items()})


def parse_extra_room(values: Iterable[str] | None, field_name: str = "--extra-room") -> dict[str, int]:
    """``["P06=20", "P05=+5"]`` -> ``{"P06": 20, "P05": 5}``; repeated panels add up."""
    out: dict[str, int] = {}
    for value in values or ():
        m = _ROOM.match(value)
        if not m:
            raise InputError(f"{field_name} {value!r}: write PANEL=N, e.g. P06=20", field_name)
        out[m.group(1)] = out.get(m.group(1), 0) + int(m.group(2))
    return out


def parse_closed(values: Iterable[str] | None) -> tuple[str, ...]:
    """``["P03", "P04,P05"]`` -> ``("P03", "P04", "P05")``."""
    return tuple(p.strip() for v in values or () for p in str(v).split(",") if p.strip())
