"""`guide-match check`: one proposal against the guide's rules, or the extraction's precision and recall."""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from matcher.errors import InputError

STRUCTURED = (".json", ".yaml", ".yml")
STATUS_WORDS = {True: "符合指南的形式要求", False: "不符合指南的形式要求", None: "信息不足，尚无法判断"}


def read_input(arg: str) -> dict[str, Any]:
    """A proposal: the fields of a .json/.yaml file, or the text of any other file or of standard input."""
    if arg == "-":
        return {"text": sys.stdin.read()}
    path = Path(arg)
    if not path.is_file():
        raise InputError(f"input {arg}: no such file; give a .json or .yaml file of fields, a text file, or '-'", "input")
    try:
        raw = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise InputError(f"input {arg}: not UTF-8 text; save it as UTF-8", "input") from None
    suffix = path.suffix.lower()
    if suffix not in STRUCTURED:
        return {"text": raw}
    try:
        if suffix == ".json":
            data = json.loads(raw)
        else:
            import yaml

            data = yaml.safe_load(raw)
    except json.JSONDecodeError as err:
        raise InputError(f"input {arg}: not valid JSON (line {err.lineno}: {err.msg})", "input") from None
    except Exception as err:  # yaml.YAMLError and its many subclasses
        mark = getattr(err, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        raise InputError(f"input {arg}: not valid YAML{where}", "input") from None
    return data


def _evidence(check) -> str:
    quoted = [f"“{e.text}”" for e in check.evidence if e.source == "text"]
    return f"（文中：{'、'.join(dict.fromkeys(quoted))}）" if quoted else ""


def print_verdict(verdict) -> None:
    from eligibility import LABELS

    for c in verdict.checks:
        print(f"{c.symbol} {c.title}：{c.message}{_evidence(c)}　指南：「{c.source}」")
    print()
    line = f"结论：{STATUS_WORDS[verdict.eligible]}"
    warned = sum(c.status == "warn" for c in verdict.checks)
    if warned:
        line += f"（{warned}项需注意）"
    if verdict.failed_rules:
        line += "；未通过：" + "、".join(verdict.failed_rules)
    if verdict.missing:
        line += "；请补充：" + "、".join(f"{LABELS[f]}（{f}）" for f in verdict.missing)
    print(line + "。")


def print_evaluation(path: str | None) -> None:
    from eligibility.evaluate import evaluate

    scores = evaluate(path)
    print(f"{'sentences':<10} {'n':>4} {'precision':>10} {'recall':>8} {'spans':>7}  right/made/expected")
    for name in ("dev", "heldout", "unseen", "all"):
        if name in scores:
            s = scores[name]
            print(f"{name:<10} {s.n:>4} {s.precision:>10.3f} {s.recall:>8.3f} {s.span_accuracy:>7.3f}  "
                  f"{s.right}/{s.made}/{s.expected}")
    errors = scores["all"].errors if "all" in scores else []
    for e in errors:
        print("  " + e)


def run_check(args) -> int:
    if args.evaluate:
        print_evaluation(None if args.evaluate is True else args.evaluate)
        return 0
    if args.input is None:
        raise InputError("give INPUT (a .json/.yaml file of fields, a text file, or '-'), or --evaluate", "input")
    from eligibility import check
    from eligibility.config import EligibilitySettings
    from matcher.config import MatcherConfig

    verdict = check(read_input(args.input), args.rules, EligibilitySettings.from_env(),
                    max_text_chars=MatcherConfig.from_env().max_text_chars)
    if args.json:
        print(json.dumps(verdict.to_dict(), ensure_ascii=False, indent=2))
    else:
        print_verdict(verdict)
    return 1 if verdict.eligible is False else 0
