"""What a fit was made from, and what differs now: stored in ``models/fusion.json``, checked at load.

Weights fitted on one corpus, labelled set, model export or runtime and used with another give
scores that mean something else; the matcher says so instead of carrying on silently.
"""
from __future__ import annotations

import hashlib
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from corpus import Direction


def corpus_hash(directions: tuple[Direction, ...], stopwords: frozenset[str]) -> str:
    """The directions' wording and terms and the stop words: everything the signals read from the corpus."""
    h = hashlib.sha256()
    for d in directions:
        h.update(f"{d.id}|{d.title}|{d.text}|{'、'.join(d.terms)}\n".encode())
    h.update("、".join(sorted(stopwords)).encode())
    return h.hexdigest()[:16]


def file_hash(path: str | Path) -> str | None:
    try:
        return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:16]
    except OSError:
        return None


def runtime_versions() -> dict[str, str]:
    out = {}
    for package in ("onnxruntime", "numpy", "jieba", "bm25s"):
        try:
            out[package] = version(package)
        except PackageNotFoundError:
            out[package] = "absent"
    return out


def differences(fitted: dict, current: dict) -> list[str]:
    """One short phrase per recorded item that differs (items the fit did not record are not compared)."""
    names = {"corpus": "the corpus (directions, terms, stop words)", "model": "the model or its export",
             "labelled": "the labelled file"}
    out = []
    for key, label in names.items():
        if fitted.get(key) and current.get(key) and fitted[key] != current[key]:
            out.append(label)
    for package, v in (fitted.get("runtime") or {}).items():
        now = (current.get("runtime") or {}).get(package)
        if now and now != v:
            out.append(f"{package} {now} (fitted with {v})")
    for key, v in (fitted.get("settings") or {}).items():
        now = (current.get("settings") or {}).get(key)
        if now is not None and now != v:
            out.append(f"{key}={now} (fitted with {v})")
    return out
