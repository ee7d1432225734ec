"""Officers' corrections as labelled examples, in the format of ``corpus/labelled/proposals.jsonl``.

Each proposal an officer moved to another panel or whose direction they recorded becomes one row::

    {"id", "text", "labels": [direction] (or [] when no direction fits), "genre": "proposal" (or
     "title" for a proposal known by its title alone), "split": "dev" | "test",
     "source": "officer-correction", "licence": "confidential"}

so ``guide-match evaluate feedback.jsonl --split test`` scores the matcher on them, and the
calibration can fit on their ``dev`` part. The split is fixed by a hash of the proposal id (about
60 % dev), so a proposal stays on its side however often it is exported. Where a proposal was
judged several times, in one run or several, a judgment made outright (a recorded direction or an
override that named one) wins over one inferred from an override, and the latest wins among equals.
Proposals the matcher could not read (an empty or too short text) are left out.

The texts are the proposals' own and confidential, as the routing database is.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

from matcher.errors import InputError
from .store import INFERRED, FeedbackRecord, RoutingStore, Tx

SOURCE = "officer-correction"
LICENCE = "confidential"
"""Proposal texts belong to their applicants: for this office's own evaluation and fitting, not for sharing."""
DEV_SHARE = 0.6


def split_for(proposal_id: str) -> str:
    """``dev`` or ``test``, stable for a proposal id (about :data:`DEV_SHARE` of ids go to dev)."""
    h = int.from_bytes(hashlib.sha256(proposal_id.encode("utf-8")).digest()[:8], "big")
    return "dev" if h / 2**64 < DEV_SHARE else "test"


def _rank(f: FeedbackRecord) -> tuple[bool, str, int]:
    return (f.basis != INFERRED, f.at, f.id)


def _texts(tx: Tx, run_id: str) -> dict[str, tuple[str, str]]:
    """Proposal id -> (text, genre) for the run's proposals the matcher could read (the others teach nothing)."""
    rows = {r.proposal_id: r for r in tx.rows(run_id)}
    read = {pid for pid, r in rows.items() if r.in_scope is not None}
    stored = {p.id: (p.text, "proposal" if p.abstract.strip() else "title") for p in tx.proposals(run_id)}
    if not stored:  # a run stored before texts were kept: its titles are all there is
        stored = {pid: (r.title, "title") for pid, r in rows.items()}
    return {pid: v for pid, v in stored.items() if pid in read and v[0].strip()}


def labelled_examples(store: RoutingStore) -> list[dict]:
    """One labelled row per corrected proposal (by proposal id and text), oldest correction first."""
    with store.reading() as tx:
        best: dict[tuple[str, str], tuple[FeedbackRecord, str, str]] = {}  # (id, text hash) -> (judgment, text, genre)
        texts: dict[str, dict[str, tuple[str, str]]] = {}
        for f in tx.feedback():
            if f.run_id not in texts:
                texts[f.run_id] = _texts(tx, f.run_id)
            if f.proposal_id not in texts[f.run_id]:
                continue
            text, genre = texts[f.run_id][f.proposal_id]
            key = (f.proposal_id, hashlib.sha256(text.encode("utf-8")).hexdigest())
            if key not in best or _rank(f) >= _rank(best[key][0]):
                best[key] = (f, text, genre)
    rows = []
    for (pid, digest), (f, text, genre) in sorted(best.items(), key=lambda kv: _rank(kv[1][0])[1:]):
        rows.append({
            "id": f"officer-{pid}-{digest[:8]}",
            "text": text,
            "labels": [f.direction] if f.direction is not None else [],
            "genre": genre,
            "split": split_for(pid),
            "source": SOURCE,
            "licence": LICENCE,
        })
    return rows


def _jsonl(rows: list[dict]) -> str:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)


def feedback_jsonl(store: RoutingStore) -> bytes:
    """The labelled examples as JSON lines (UTF-8)."""
    return _jsonl(labelled_examples(store)).encode("utf-8")


def write_feedback(store: RoutingStore, path: str | Path) -> tuple[Path, list[dict]]:
    """Write the labelled examples to a ``.jsonl`` file atomically; (the path, the rows)."""
    path = Path(path)
    if path.suffix.lower() != ".jsonl":
        raise InputError(f"output {path}: write the labelled examples to a .jsonl file", "output")
    if not path.parent.exists():
        raise InputError(f"output {path}: folder {path.parent} does not exist", "output")
    rows = labelled_examples(store)
    tmp = path.with_name(path.name + ".part")
    tmp.write_text(_jsonl(rows), encoding="utf-8")
    tmp.replace(path)
    return path, rows
