"""Evaluation metrics, the evaluate/calibrate commands, the report and the benchmark command."""
from __future__ import annotations

import json

import numpy as np
import pytest

from matcher.evaluation import Ranking, calibration, metrics

IDS = list(range(1, 41))


def _scores(best: list[int]) -> np.ndarray:
    s = np.zeros((len(best), 40))
    for i, d in enumerate(best):
        s[i, d - 1] = 1.0
        s[i, (d % 40)] = 0.5  # the next direction comes second
    return s


def test_metrics_on_a_known_ranking():
    labels = [[22], [23], [40], [], []]
    texts = ["a" * 20, "b" * 200, "c" * 400, "d", "e"]
    # text 0 right at 1; text 1 right at 2 (22 first, 23 second); text 2 wrong (40 ranks last)
    r = Ranking("t", _scores([22, 22, 5, 3, 9]), np.array([True, True, True, False, True]))
    m = metrics(r, labels, texts, IDS)
    assert m.top1 == pytest.approx(1 / 3) and m.top3 == pytest.approx(2 / 3)
    assert m.mrr == pytest.approx((1 + 0.5 + 1 / 40) / 3)
    assert m.oos_recall == pytest.approx(0.5) and m.oos_precision == pytest.approx(1.0)
    assert m.false_flag_rate == 0.0
    assert m.per_direction_recall == {22: 1.0, 23: 0.0, 40: 0.0}
    assert (23, 22, 1) in m.confused_pairs and (40, 5, 1) in m.confused_pairs


def test_calibration_bins_count_every_in_scope_pair():
    r = Ranking("t", _scores([22, 22]), np.array([True, True]))
    bins = calibration(r, [[22], [23]], IDS)
    assert sum(b["pairs"] for b in bins) == 80
    top = next(b for b in bins if b["bin"].startswith("0.9"))
    assert top["pairs"] == 2 and top["right"] == 0.5


@pytest.fixture
def small_labelled(tmp_path):
    rows = [
        ("开发碳包覆纳米磷酸铁锂正极材料连续化制备工艺，压实密度≥2.6 g/cm³", [22]),
        ("150 kW质子交换膜燃料电池电堆与低铂膜电极开发", [20]),
        ("基于忆阻器阵列的存算一体AI芯片研制", [7]),
        ("研究鲁迅小说中的女性形象与五四时期的叙事策略", []),
        ("碲化铋热电材料与微型热电制冷器件研制", [6]),
        ("明清江南宗族祠堂建筑形制与祭祀礼仪研究", []),
    ]
    path = tmp_path / "labelled.jsonl"
    path.write_text(
        "".join(json.dumps({"id": str(i), "text": t, "labels": l, "split": "dev"}, ensure_ascii=False) + "\n"
                for i, (t, l) in enumerate(rows)),
        encoding="utf-8",
    )
    return path


def test_evaluate_command_prints_three_rankers_and_writes_report(cli_run, small_labelled, tmp_path):
    code, out, err = cli_run("evaluate", small_labelled, "--split", "dev", "--report", tmp_path / "rep")
    assert code == 0, err
    for ranker in ("lexical", "dense", "fused"):
        assert ranker in out
    assert "calibration" in out and "most confused" in out
    report = (tmp_path / "rep" / "report.md").read_text(encoding="utf-8")
    assert "| fused |" in report
    for png in ("confusion.png", "scores.png", "by_length.png", "by_genre.png"):
        assert (tmp_path / "rep" / png).read_bytes()[:4] == b"\x89PNG"


@pytest.fixture(scope="module")
def labelled_sample(tmp_path_factory):
    """A small slice of the project's labelled set (every direction, every genre, out-of-scope texts), both splits."""
    import corpus

    rows = [json.loads(line) for line in corpus.LABELLED_PATH.read_text(encoding="utf-8").splitlines()]
    picked, seen = [], {}
    for r in rows:
        key = (r["split"], r["labels"][0] if r["labels"] else 0)
        if seen.get(key, 0) < (3 if r["split"] == "dev" else 1) or (not r["labels"] and seen.get(key, 0) < 24):
            seen[key] = seen.get(key, 0) + 1
            picked.append(r)
    path = tmp_path_factory.mktemp("labelled") / "sample.jsonl"
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in picked), encoding="utf-8")
    return path


def test_calibrate_chooses_by_cross_validation_and_records_a_manifest(cli_run, labelled_sample, tmp_path):
    out_path = tmp_path / "fusion.json"
    code, out, err = cli_run("calibrate", labelled_sample, "--folds", "3", "-o", out_path)
    assert code == 0, err
    assert "chosen by 3-fold cross-validation" in out and "reading:" in out and "out of fold: top-1" in out
    data = json.loads(out_path.read_text(encoding="utf-8"))
    assert len(data["head_coef"]) == 384 and data["model"] == "e5-small"
    m = data["manifest"]
    assert m["split"] == "dev" and m["labelled_file"] == "sample.jsonl" and len(m["labelled"]) == 16
    assert m["corpus"] and m["model"] and "onnxruntime" in m["runtime"]
    assert set(m["cv"]["choices"]) >= {"reading", "dense_top_terms", "pair_C", "head_C", "scope_C", "scope_threshold"}
    assert data["settings"] == m["settings"] and set(data["settings"]) == {"query_max_tokens", "dense_top_terms",
                                                                        "long_text_windows"}


def test_calibrate_never_chooses_the_opening_alone(cli_run, labelled_sample, tmp_path):
    code, out, err = cli_run("calibrate", labelled_sample, "--folds", "3", "-o", tmp_path / "f.json")
    assert code == 0, err
    assert "opening                              5 nearest terms" in out and "not a candidate" in out
    data = json.loads((tmp_path / "f.json").read_text(encoding="utf-8"))
    s = data["settings"]
    assert s["query_max_tokens"] == 0 or s["long_text_windows"] > 0, s


def test_genre_mean_counts_each_genre_the_same_and_ignores_out_of_scope_texts():
    import numpy as np

    from matcher.calibrate import genre_mean, top1_hits

    hits = top1_hits(np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.5, 0.5]]), [[1], [1], [1], []], [1, 2])
    assert hits[:3].tolist() == [1.0, 0.0, 1.0] and np.isnan(hits[3])
    mean, se = genre_mean(np.array([1.0, 1.0, 1.0, 0.0, np.nan]), ["a", "a", "a", "b", "b"])
    assert mean == 0.5 and se == 0.0  # genre a: 1.0 over three texts, genre b: 0.0 over one
    paired, paired_se = genre_mean(np.array([0.0, 0.0, 1.0, 0.0]), ["a"] * 4)
    assert paired == 0.25 and abs(paired_se - (0.25 * 0.75 / 4) ** 0.5) < 1e-12


@pytest.mark.parametrize("split", ["test", "all"])
def test_calibrate_refuses_to_fit_on_test(cli_run, labelled_sample, tmp_path, split):
    code, _, err = cli_run("calibrate", labelled_sample, "--split", split, "-o", tmp_path / "f.json")
    assert code == 2 and "dev split only" in err and "reporting" in err
    assert not (tmp_path / "f.json").exists()


def test_calibrate_needs_enough_texts(cli_run, small_labelled, tmp_path):
    code, _, err = cli_run("calibrate", small_labelled, "-o", tmp_path / "f.json")
    assert code == 2 and "labelled dev texts" in err


def test_calibrate_with_extra_reports_before_and_after(cli_run, labelled_sample, tmp_path):
    extra = tmp_path / "feedback.jsonl"
    rows = [{"id": f"fb-{i}", "text": t, "labels": l, "genre": "proposal", "split": s, "source": "officer-correction"}
            for i, (t, l, s) in enumerate([
                ("面向储能电站的钠离子电池层状氧化物正极材料中试", [22], "dev"),
                ("质子交换膜燃料电池电堆与低铂膜电极开发", [20], "dev"),
                ("基于忆阻器阵列的存算一体AI芯片研制", [7], "test"),
                ("高纯稀土金属靶材制备与磁控溅射镀膜应用", [28], "test"),
            ])]
    extra.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    code, out, err = cli_run("calibrate", labelled_sample, "--extra", extra, "--folds", "3")
    assert code == 0, err
    assert "before" in out and "after" in out and "feedback.jsonl test part" in out and "test split" in out
    assert "to adopt the new weights: cp" in out
    from matcher import MatcherConfig

    candidate = MatcherConfig.from_env().fusion_path.with_name("fusion.candidate.json")
    try:
        data = json.loads(candidate.read_text(encoding="utf-8"))
        assert data["manifest"]["extra_file"] == "feedback.jsonl" and "feedback.jsonl:dev" in data["fitted_on"]
    finally:
        candidate.unlink(missing_ok=True)


@pytest.mark.parametrize(
    "args,needle",
    [(["nope.jsonl"], "no such file"), (["--split", "train"], "invalid choice")],
)
def test_evaluate_bad_input(cli_run, args, needle, capsys):
    try:
        code, _, err = cli_run("evaluate", *args)
    except SystemExit as exc:  # argparse rejects a bad --split itself, with usage and exit 2
        code, err = exc.code, capsys.readouterr().err
    assert code == 2 and needle in err


def test_bench_prints_a_table_with_ratios(cli_run):
    code, out, err = cli_run("bench", "--n-batch", "10", "--n-single", "2")
    assert code == 0, err
    assert "| measure | guide-match | naive baseline | ratio" in out
    rows = [line for line in out.splitlines() if line.startswith("| ") and "×" in line]
    assert len(rows) == 7
    assert all(float(line.rsplit("|", 2)[1].strip().rstrip("×")) > 0 for line in rows)


def test_bench_can_add_the_torch_column(cli_run):
    code, out, err = cli_run("bench", "--n-batch", "4", "--n-single", "2", "--torch")
    assert code == 0, err
    assert "| measure | guide-match | guide-match on torch, float, whole text | naive baseline |" in out
    rows = [line for line in out.splitlines() if line.startswith("| ") and "×" in line]
    assert len(rows) == 7 and all(line.count("|") == 6 for line in rows)
