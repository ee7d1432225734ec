"""The assignment solver on synthetic affinity matrices (no model)."""
from __future__ import annotations

import itertools

import numpy as np
import pytest

from routing.assign import (
    BEST, CAPACITY, HELD, LOW, MINIMUM, NO_PANEL, RoutingInfeasible, solve, triage,
)


def brute_force(aff, mins, maxs, allowed=None):
    """Best total affinity over every assignment (tiny instances only)."""
    n, p = aff.shape
    allowed = np.ones_like(aff, dtype=bool) if allowed is None else allowed
    best = -np.inf
    for combo in itertools.product(range(p), repeat=n):
        if not all(allowed[i, j] for i, j in enumerate(combo)):
            continue
        load = np.bincount(combo, minlength=p)
        if (load < mins).any() or (load > maxs).any():
            continue
        best = max(best, sum(aff[i, j] for i, j in enumerate(combo)))
    return best


def test_everyone_gets_their_best_panel_when_there_is_room():
    aff = np.array([[0.9, 0.1, 0.3], [0.2, 0.8, 0.1], [0.3, 0.2, 0.7], [0.6, 0.5, 0.1]])
    s = solve(aff, [0, 0, 0], [10, 10, 10], eligible_floor=0.0)
    assert s.panel.tolist() == [0, 1, 2, 0]
    assert set(s.why) == {BEST}
    assert s.load.tolist() == [2, 1, 1]
    assert s.total_affinity == pytest.approx(0.9 + 0.8 + 0.7 + 0.6)
    # every assigned proposal has a backup that is another panel
    assert (s.backup >= 0).all() and (s.backup != s.panel).all()
    assert s.backup.tolist()[0] == 2  # its second-best panel


def test_tight_capacity_spills_the_cheapest_proposal_and_is_optimal():
    aff = np.array([[0.9, 0.8], [0.9, 0.3], [0.9, 0.2]])
    s = solve(aff, [0, 0], [2, 5], eligible_floor=0.0)
    # panel 0 holds 2: the one that loses least by moving (row 0: 0.9 -> 0.8) goes to panel 1
    assert s.panel.tolist() == [1, 0, 0]
    assert s.why[0] == CAPACITY and s.why[1] == BEST
    assert s.load.tolist() == [2, 1]
    assert s.total_affinity == pytest.approx(brute_force(aff, np.array([0, 0]), np.array([2, 5])))


@pytest.mark.parametrize("seed", range(6))
def test_matches_brute_force_on_random_tight_instances(seed):
    rng = np.random.default_rng(seed)
    n, p = 7, 3
    aff = rng.random((n, p)).round(3)
    mins = np.array([1, 2, 0])
    maxs = np.array([3, 3, 2])
    allowed = rng.random((n, p)) > 0.15
    allowed[np.arange(n), aff.argmax(1)] = True
    expected = brute_force(aff, mins, maxs, allowed)
    if not np.isfinite(expected):
        with pytest.raises(RoutingInfeasible):
            solve(aff, mins, maxs, allowed=allowed, flag_below=0.0, eligible_floor=0.0)
        return
    s = solve(aff, mins, maxs, allowed=allowed, flag_below=0.0, eligible_floor=0.0)
    assert s.total_affinity == pytest.approx(expected, abs=1e-5)
    assert ((s.load >= mins) & (s.load <= maxs)).all()
    assert all(allowed[i, s.panel[i]] for i in range(n))


def test_minimum_pulls_a_proposal_and_says_why():
    aff = np.array([[0.9, 0.5], [0.9, 0.2], [0.9, 0.1]])
    s = solve(aff, [0, 1], [5, 5], eligible_floor=0.0)
    assert s.load.tolist() == [2, 1]
    assert s.panel[0] == 1 and s.why[0] == MINIMUM


def test_over_capacity_is_infeasible_and_names_the_short_panel():
    aff = np.array([[0.9, 0.05], [0.9, 0.05], [0.9, 0.05], [0.1, 0.9]])
    with pytest.raises(RoutingInfeasible) as e:
        solve(aff, [0, 0], [2, 5], eligible_floor=0.1, labels=["P06 电池", "P07 钢铁"])
    err = e.value
    assert "P06 电池" in err.message and "full at its maximum of 2" in err.message and "extra room needed: 1" in err.message
    assert "--extra-room" in err.message
    assert err.short == [{"panel": "P06 电池", "index": 0, "kind": "max", "max": 2, "load": 2, "short_by": 1}]


def test_unreachable_minimum_is_infeasible_and_names_the_panel():
    aff = np.array([[0.9, 0.01], [0.8, 0.01], [0.7, 0.3]])
    with pytest.raises(RoutingInfeasible) as e:
        solve(aff, [0, 2], [5, 5], eligible_floor=0.05, labels=["P01", "P10 航空"])
    err = e.value
    assert "P10 航空 needs at least 2 proposals but can be given only 1" in err.message
    assert "(1 of the 3 routed proposals fit it)" in err.message
    assert err.short[0]["kind"] == "min" and err.short[0]["short_by"] == 1
    assert err.field == "panels"


def test_closed_panel_takes_nothing():
    aff = np.array([[0.9, 0.5, 0.4], [0.8, 0.6, 0.1], [0.7, 0.1, 0.6]])
    s = solve(aff, [0, 0, 0], [0, 5, 5])
    assert (s.panel != 0).all() and s.load[0] == 0
    assert s.panel.tolist() == [1, 1, 2]
    assert 0 not in s.backup.tolist()


def test_conflicts_are_never_assigned_and_best_allowed_panel_wins():
    aff = np.array([[0.9, 0.6, 0.3], [0.9, 0.5, 0.4]])
    allowed = np.array([[False, True, True], [True, True, True]])
    s = solve(aff, [0, 0, 0], [5, 5, 5], allowed=allowed)
    assert s.panel.tolist() == [1, 0]
    assert s.why[0] == BEST and s.best[0] == 1
    assert s.backup[0] == 2  # not the conflicted panel 0


def test_penalty_breaks_near_ties_towards_no_conflict():
    aff = np.array([[0.80, 0.79]])
    s = solve(aff, [0, 0], [5, 5], penalty=np.array([[0.02, 0.0]]))
    assert s.panel.tolist() == [1]


def test_flags_low_held_and_no_panel_without_using_capacity():
    aff = np.array([[0.9, 0.1], [0.1, 0.15], [0.9, 0.8], [0.9, 0.7], [0.6, 0.7]])
    hold = np.array([False, False, True, False, False])
    allowed = np.ones_like(aff, dtype=bool)
    allowed[3] = False
    s = solve(aff, [0, 0], [1, 1], allowed=allowed, hold=hold, flag_below=0.2)
    assert s.flagged.tolist() == [False, True, True, True, False]
    assert [s.why[i] for i in (1, 2, 3)] == [LOW, HELD, NO_PANEL]
    assert (s.panel[s.flagged] == -1).all() and (s.backup[s.flagged] == -1).all()
    assert s.load.tolist() == [1, 1]  # flagged proposals take no room
    flagged, why, best = triage(aff, [1, 1], allowed, hold, None, 0.2)
    assert flagged.tolist() == s.flagged.tolist() and list(why) == list(s.why[:1]) + list(why[1:])


def test_ineligible_panels_are_not_used_for_spill_over():
    # the second proposal fits only panel 0 well; panel 1 is below the eligibility floor for it
    aff = np.array([[0.9, 0.5], [0.9, 0.01]])
    s = solve(aff, [0, 0], [1, 5], eligible_floor=0.05)
    assert s.panel.tolist() == [1, 0]
    assert s.backup[1] == 1  # nothing else fits it: the backup is the best other open panel


def test_backup_prefers_a_panel_that_fits_and_skips_conflicts_and_closed_panels():
    aff = np.array([[0.9, 0.01, 0.3, 0.6], [0.9, 0.01, 0.01, 0.01]])
    allowed = np.array([[True, True, True, False], [True, True, True, True]])
    s = solve(aff, [0, 0, 0, 0], [5, 5, 0, 5], allowed=allowed, eligible_floor=0.05)
    assert s.panel.tolist() == [0, 0]
    assert s.backup.tolist() == [1, 1]  # row 0: panel 3 conflicts, panel 2 is closed; row 1: the best open one
    solo = solve(np.array([[0.9]]), [0], [5])
    assert solo.backup.tolist() == [-1]  # no other panel at all


def test_same_input_gives_the_same_assignment():
    rng = np.random.default_rng(3)
    aff = rng.random((300, 10)).round(2)  # many ties
    a = solve(aff, [5] * 10, [40] * 10)
    b = solve(aff.copy(), [5] * 10, [40] * 10)
    assert a.panel.tolist() == b.panel.tolist() and a.backup.tolist() == b.backup.tolist()


def test_bad_arguments_are_programming_errors():
    aff = np.ones((2, 2))
    with pytest.raises(ValueError):
        solve(aff, [0], [1, 1])
    with pytest.raises(ValueError):
        solve(aff, [2, 0], [1, 1])
    with pytest.raises(ValueError):
        solve(np.array([[np.nan, 1.0]]), [0, 0], [1, 1])


def test_two_thousand_by_ten_is_fast():
    import time

    rng = np.random.default_rng(0)
    aff = rng.random((2000, 10)) ** 3
    t = time.perf_counter()
    s = solve(aff, [20] * 10, [250] * 10, flag_below=0.0)
    assert time.perf_counter() - t < 30
    assert s.load.sum() == 2000 and (s.load <= 250).all()
