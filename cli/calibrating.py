"""`guide-match calibrate`: fit on dev by cross-validation, print the choices, and with --extra the
figures before and after on the test split and on the extra file's own test part."""
from __future__ import annotations

from pathlib import Path

from matcher import Matcher, MatcherConfig
from matcher.calibrate import calibrate
from matcher.errors import InputError
from matcher.evaluation import evaluate, load_labelled

from .render import render_table

CANDIDATE = "fusion.candidate.json"


def _figures(matcher: Matcher, path: Path) -> dict:
    ev = evaluate(matcher, path, split="test")
    f = ev.fused
    return {"texts": f.n, "top-1": f.top1, "top-3": f.top3, "out-of-scope recall": f.oos_recall,
            "false flags": f.false_flag_rate}


def run_calibrate(args) -> int:
    config = MatcherConfig.from_env(model_dir=args.model_dir)
    extra = Path(args.extra) if args.extra else None
    if extra is not None:
        load_labelled(extra, "dev")  # a bad file fails here, before minutes of work
    output = Path(args.output) if args.output else (config.fusion_path.with_name(CANDIDATE) if extra else None)
    before = {}
    if extra is not None:
        current = Matcher.load(config)
        before = {"test split": _figures(current, Path(args.file))}
        if _has_test(extra):
            before[f"{extra.name} test part"] = _figures(current, extra)
    cal = calibrate(config, args.file, split=args.split, output=output, extra=extra, folds=args.folds)
    r = cal.report
    print(f"\nchosen by {r.folds}-fold cross-validation on {cal.n_texts} dev texts:")
    for key, value in r.choices.items():
        print(f"  {key}: {value}")
    oof = r.out_of_fold
    print(f"out of fold: top-1 {oof['top1']:.3f}, top-3 {oof['top3']:.3f}, out-of-scope recall {oof['oos_recall']:.3f}, "
          f"in-scope false flags {oof['false_flags']:.3f}")
    print(f"saved to {cal.output} (with the manifest of what was fitted)")
    if before:
        after_matcher = Matcher.load(config.replace(fusion_path=cal.output))
        rows = []
        for where, figures in before.items():
            path = Path(args.file) if where == "test split" else extra
            after = _figures(after_matcher, path)
            for name in ("top-1", "top-3", "out-of-scope recall", "false flags"):
                rows.append((where, name, f"{figures[name]:.3f}", f"{after[name]:.3f}", f"{after[name] - figures[name]:+.3f}"))
        print()
        print(render_table(["texts", "measure", "before", "after", "change"], rows))
        if cal.output != config.fusion_path:
            print(f"\nto adopt the new weights: cp {cal.output} {config.fusion_path}")
    return 0


def _has_test(path: Path) -> bool:
    try:
        return not load_labelled(path, "test").empty
    except InputError:
        return False

