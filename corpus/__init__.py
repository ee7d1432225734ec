"""The 2024 guide as typed, validated data.

Everything downstream (matcher, service, web page) reads the guide through these
loaders, so a hand edit that breaks the YAML is caught here with a message naming
the direction and field, not deep inside a ranking run.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

CORPUS_DIR = Path(__file__).parent
N_DIRECTIONS = 40
LABELLED_PATH = CORPUS_DIR / "labelled" / "proposals.jsonl"
"""The project's labelled texts (see labelled/README.md)."""


@dataclass(frozen=True)
class Direction:
    id: int
    title: str
    text: str
    en: str
    """The official wording rendered in English, as an engineer would name the direction."""
    clusters: tuple[str, ...]
    cluster_note: str | None
    terms: tuple[str, ...]


@dataclass(frozen=True)
class Cluster:
    name: str
    en: str
    description: str


# libyaml's loader when PyYAML was built with it: it reads directions.yaml about 10x faster,
# which is a good part of the matcher's start-up.
_SafeLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _yaml(path: str | Path | None, default: str) -> Any:
    return yaml.load(Path(path or CORPUS_DIR / default).read_text(encoding="utf-8"), Loader=_SafeLoader)


def load_clusters(path: str | Path | None = None) -> tuple[Cluster, ...]:
    """The 7 clusters of 项目定位, in the guide's order."""
    rows = _yaml(path, "clusters.yaml")
    try:
        return tuple(Cluster(str(r["name"]), str(r["en"]), str(r["description"])) for r in rows)
    except (KeyError, TypeError) as e:
        raise ValueError(f"clusters.yaml: every entry needs name, en, description ({e})") from e


def _direction(row: Any, cluster_names: set[str]) -> Direction:
    """Build one Direction, raising ValueError that names the id and the field."""
    if not isinstance(row, dict) or not isinstance(row.get("id"), int):
        raise ValueError(f"direction entry without an integer id: {row!r:.80}")
    did = row["id"]

    def bad(field: str, why: str) -> ValueError:
        return ValueError(f"direction {did}: field {field!r} {why}")

    for field in ("title", "text", "en"):
        if not isinstance(row.get(field), str) or not row[field].strip():
            raise bad(field, "must be a non-empty string")
    clusters = row.get("clusters")
    if not isinstance(clusters, list):
        raise bad("clusters", "must be a list (may be empty)")
    unknown = [c for c in clusters if c not in cluster_names]
    if unknown:
        raise bad("clusters", f"has unknown cluster(s) {unknown}; allowed: {sorted(cluster_names)}")
    note = row.get("cluster_note")
    if note is not None and (not isinstance(note, str) or not note.strip()):
        raise bad("cluster_note", "must be null or a non-empty string")
    if not clusters and note is None:
        raise bad("cluster_note", "is required when clusters is empty")
    terms = row.get("terms")
    if not isinstance(terms, list) or not terms:
        raise bad("terms", "must be a non-empty list")
    if not all(isinstance(t, str) and t.strip() == t and t for t in terms):
        raise bad("terms", "must be non-empty strings without surrounding spaces (quote numbers)")
    dups = sorted({t for t in terms if terms.count(t) > 1})
    if dups:
        raise bad("terms", f"has duplicates {dups}")
    return Direction(did, row["title"], row["text"], row["en"], tuple(clusters), note, tuple(terms))


def load_directions(path: str | Path | None = None) -> tuple[Direction, ...]:
    """All 40 directions ordered by id; raises ValueError on any schema problem."""
    rows = _yaml(path, "directions.yaml")
    if not isinstance(rows, list):
        raise ValueError("directions.yaml must be a list of directions")
    names = {c.name for c in load_clusters()}
    dirs = [_direction(r, names) for r in rows]
    ids = [d.id for d in dirs]
    dup = sorted({i for i in ids if ids.count(i) > 1})
    if dup:
        raise ValueError(f"direction id(s) {dup} appear more than once")
    missing = sorted(set(range(1, N_DIRECTIONS + 1)) - set(ids))
    extra = sorted(set(ids) - set(range(1, N_DIRECTIONS + 1)))
    if missing or extra:
        raise ValueError(f"direction ids must be 1..{N_DIRECTIONS}: missing {missing}, unexpected {extra}")
    return tuple(sorted(dirs, key=lambda d: d.id))


def load_rules(path: str | Path | None = None) -> dict[str, Any]:
    """The guide's funding and assessment rules (see rules.yaml for the schema)."""
    data = _yaml(path, "rules.yaml")
    if not isinstance(data, dict) or not isinstance(data.get("rules"), dict):
        raise ValueError("rules.yaml must be a mapping with a 'rules' mapping")
    return data


def load_stopwords(path: str | Path | None = None) -> frozenset[str]:
    """Boilerplate words; '# ' lines are comments, blank lines ignored."""
    text = Path(path or CORPUS_DIR / "stopwords.txt").read_text(encoding="utf-8")
    return frozenset(w for line in text.splitlines() if (w := line.strip()) and not line.startswith("# "))


def all_terms(directions: tuple[Direction, ...] | list[Direction]) -> dict[str, tuple[int, ...]]:
    """Term -> ids of the directions that list it (shared terms map to several)."""
    out: dict[str, list[int]] = {}
    for d in directions:
        for t in d.terms:
            out.setdefault(t, []).append(d.id)
    return {t: tuple(ids) for t, ids in out.items()}
