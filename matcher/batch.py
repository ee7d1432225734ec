"""`guide-match batch`: match every row of a proposals table, in order, with a progress bar."""
from __future__ import annotations

import sys

from tqdm import tqdm

from .errors import InputError
from .results import MatchResult
from .tables import check_output, read_table, require_column, write_table


def result_row(row_id: str, result: MatchResult | InputError) -> dict:
    """The JSONL shape of one output row."""
    if isinstance(result, InputError):
        return {"id": row_id, "in_scope": None, "directions": [], "clusters": [], "error": result.message}
    return {
        "id": row_id,
        "in_scope": result.in_scope,
        "in_scope_score": result.in_scope_score,
        "directions": [
            {"id": d.id, "title": d.title, "score": d.score, "cluster": d.cluster, "matched_terms": list(d.matched_terms)}
            for d in result.directions
        ],
        "clusters": [{"name": c.name, "score": c.score} for c in result.clusters],
        "also_fits": list(result.also_fits),
        "error": None,
    }


def flat_row(row: dict, top_k: int) -> dict:
    """One spreadsheet row: the top directions flattened into numbered columns."""
    flat = {"id": row["id"], "in_scope": row["in_scope"], "in_scope_score": row.get("in_scope_score")}
    for k in range(top_k):
        d = row["directions"][k] if k < len(row["directions"]) else None
        n = k + 1
        flat[f"direction_{n}_id"] = d["id"] if d else None
        flat[f"direction_{n}_title"] = d["title"] if d else None
        flat[f"direction_{n}_score"] = d["score"] if d else None
        flat[f"direction_{n}_cluster"] = d["cluster"] if d else None
        flat[f"direction_{n}_matched_terms"] = "、".join(d["matched_terms"]) if d else None
    top_cluster = row["clusters"][0] if row["clusters"] else None
    flat["cluster"] = top_cluster["name"] if top_cluster else None
    flat["cluster_score"] = top_cluster["score"] if top_cluster else None
    flat["also_fits"] = ",".join(map(str, row.get("also_fits") or []))
    flat["error"] = row["error"]
    return flat


def run_batch(args) -> int:
    from .matcher import Matcher

    output = check_output(args.output)
    df = read_table(args.input)
    require_column(df, args.text_column, args.input, "--text-column")
    if args.id_column in df.columns:
        ids = [str(v) for v in df[args.id_column]]
    elif args.id_column != "id":
        require_column(df, args.id_column, args.input, "--id-column")
    else:
        ids = [str(i) for i in range(1, len(df) + 1)]
    texts = list(df[args.text_column])
    matcher = Matcher.load(model_dir=args.model_dir)
    top_k = matcher.check_top_k(args.top_k)
    with tqdm(total=len(texts), desc="matching", unit="text", file=sys.stderr) as bar:
        results = matcher.match_many(texts, top_k=top_k, on_error="return", progress=bar.update)
    rows = [result_row(i, r) for i, r in zip(ids, results)]
    write_table(rows, [flat_row(r, top_k) for r in rows], output)
    bad = [(r["id"], r["error"]) for r in rows if r["error"]]
    for row_id, message in bad:
        print(f"guide-match: row {row_id}: {message}", file=sys.stderr)
    print(f"{len(rows)} rows → {output} ({len(rows) - len(bad)} matched, {len(bad)} with errors)", file=sys.stderr)
    return 0
