"""`guide-match batch`: match every row of a proposals table, in order, with a progress bar; with
``--check``, also hold each row against the guide's rules (verdict and failed rules per row)."""
from __future__ import annotations

import sys

from tqdm import tqdm

from matcher import InputError, Matcher, MatchResult
from matcher.tables import check_output, flat_row, read_table, require_column, write_table

from .limits import table_limits


def result_row(row_id: str, result: MatchResult | InputError) -> dict:
    """One output row: the result's own JSON shape (:meth:`MatchResult.to_dict`), its id and its error."""
    if isinstance(result, InputError):
        return {"id": row_id, "in_scope": None, "directions": [], "clusters": [], "error": result.message}
    return {"id": row_id, **result.to_dict(), "error": None}


def add_verdicts(rows: list[dict], flat: list[dict], df, texts: list, max_text_chars: int) -> None:
    """Each row's pre-check verdict (``eligible``, ``failed_rules``…), from its text and any field columns."""
    from eligibility.config import EligibilitySettings
    from eligibility.rows import check_row

    settings = EligibilitySettings.from_env()
    for row, out, cells, text in zip(rows, flat, df.to_dict("records"), texts):
        verdict = check_row(text if isinstance(text, str) else None, cells, settings=settings,
                            max_text_chars=max_text_chars).to_dict()
        row.update(verdict)
        out.update({k: ";".join(v) if isinstance(v, list) else v for k, v in verdict.items()})


def run_batch(args) -> int:
    output = check_output(args.output)
    df = read_table(args.input, table_limits(args))
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
    flat = [flat_row(r, top_k) for r in rows]
    if args.check:
        add_verdicts(rows, flat, df, texts, matcher.config.max_text_chars)
    write_table(rows, flat, output)
    bad = [(r["id"], r["error"]) for r in rows if r["error"]]
    for row_id, message in bad:
        print(f"guide-match: row {row_id}: {message}", file=sys.stderr)
    print(f"{len(rows)} rows → {output} ({len(rows) - len(bad)} matched, {len(bad)} with errors)", file=sys.stderr)
    return 0
