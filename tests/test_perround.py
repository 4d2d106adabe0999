"""Per-round channels at scale (issue 11): the relaxed tail, the growing explicit rows, the non-DPP programs."""
import numpy as np
import pytest

import edgelearn as el
from edgelearn.solver import perround, solve

from test_solver import small

ROWS = 12


def fading():
    """small() with ROWS rows of Rayleigh channels around its own (as the best/worst-channel test in test_solver_api)."""
    s = small()
    g_up, g_down = el.scenarios.rayleigh_gains(s.K, seed=3, N=ROWS)
    return s.replace(g_up=g_up * s.g_up.mean() / 1e-5, g_down=g_down * s.g_down.mean() / 1e-5)


def test_the_tail_is_a_relaxation_of_the_explicit_rows():
    """Rows 4..12 as a tail (best channel, stage totals) bound the problem with every row explicit from below;
    with the search's real optimum far below the tail's it stays a bound, not an equality."""
    s = fading()
    few, full = perround._Search(s, "proposed", 3, {}), perround._Search(s, "proposed", ROWS, {})
    units = (10.0, 5.0)
    for n_range in ((1, ROWS), (4, ROWS), (6, 9)):
        v_tail = few.relax((1, 40), n_range, units)[0]
        v_full = full.relax((1, 40), n_range, units)[0]
        assert np.isfinite(v_tail) and np.isfinite(v_full)
        assert v_tail <= v_full * (1 + 1e-7), n_range
    # with N inside the explicit rows the tail is absent: the same problem as with every row explicit
    # (to the 1e-5 within which pair() accepts a solve's value against its checked plan)
    assert few.pair(9, 3)[0] == pytest.approx(full.pair(9, 3)[0], rel=1e-5)


def test_the_answer_does_not_depend_on_the_first_explicit_rows(monkeypatch):
    s = fading()
    monkeypatch.setattr(perround, "EXPLICIT_CELLS", 0)      # the explicit rows grow from R_FIRST, with a tail
    monkeypatch.setattr(perround, "R_FIRST", 1)
    grown = solve(s, progress=False)
    monkeypatch.setattr(perround, "R_FIRST", ROWS)
    whole = solve(s, progress=False)
    assert grown.stats["explicit_rows"] > 1       # it had to grow
    assert whole.stats["explicit_rows"] == ROWS
    for sol in (grown, whole):
        assert sol.report.feasible and sol.plan.integer_batches
        assert sol.certified_gap <= perround.RTOL
        assert sol.lower_bound <= sol.pair_bound * (1 + 1e-9)
    assert grown.pair_bound == pytest.approx(whole.pair_bound, rel=perround.RTOL)
    assert grown.lower_bound <= whole.pair_bound and whole.lower_bound <= grown.pair_bound


def test_large_programs_compile_without_dpp_to_the_same_value(monkeypatch):
    s = fading()
    perround._program.cache_clear()
    v_dpp, _ = perround.solve_pair_per_round(s, 9, 4)
    assert perround._program(s.K, 4, "proposed").dpp
    monkeypatch.setattr(perround, "DPP_CELLS", 0)
    perround._program.cache_clear()
    try:
        assert not perround._program(s.K, 4, "proposed").dpp
        v_plain, plan = perround.solve_pair_per_round(s, 9, 4)
    finally:
        perround._program.cache_clear()
    assert plan is not None and v_plain == pytest.approx(v_dpp, rel=1e-7)


def test_more_channel_rows_never_raise_the_lower_bound():
    """The rows are a prefix: a scenario with more rows has every plan of the shorter one, so its
    lower bound (and best pair) can only be lower or equal (issue 11 saw N = 50 above N = 10)."""
    s = fading()
    short = solve(s.replace(g_up=s.g_up[:6], g_down=s.g_down[:6]), progress=False)
    long = solve(s, progress=False)
    assert long.lower_bound <= short.lower_bound * (1 + 1e-7)
    assert long.pair_bound <= short.pair_bound * (1 + perround.RTOL)


def test_average_power_budget_with_a_higher_peak_power():
    """P_max > P_ave: (10) is a constraint of its own (exponential cones per round) and must still hold.
    With repeated channels the optimum is the round-invariant one at min(P_ave, P_max)."""
    from edgelearn.solver.exact import solve_pair
    s = small()
    s = s.replace(P_max=2 * np.asarray(s.P_ave, float))
    rep = s.replace(g_up=np.tile(s.g_up, (4, 1)), g_down=np.tile(s.g_down, (4, 1)))
    assert perround._Search(rep, "proposed", 4, {}).programs[False].params.keys() >= {"power_ratio"}
    v, plan = perround.solve_pair_per_round(rep, 9, 3)
    assert plan is not None and v == pytest.approx(solve_pair(s, 9, 3).upsilon, rel=1e-5)
    g_up, g_down = el.scenarios.rayleigh_gains(s.K, seed=3, N=ROWS)
    sol = solve(s.replace(g_up=g_up * s.g_up.mean() / 1e-5, g_down=g_down * s.g_down.mean() / 1e-5), progress=False)
    assert sol.report.feasible and sol.certified_gap <= perround.RTOL


@pytest.mark.parametrize("scheme", ["proposed", "finetune_only"])
def test_per_round_fine_tuning_at_ten_devices_is_certified_and_between_best_and_worst_channels(scheme):
    """K = 10, W = 1 (fine-tuning only pays: static optimum (0, 110)) with 200 rows of Rayleigh fading.
    The search used to end uncertified here: proposed at (139, 0), 9.618 (gap inf); finetune_only at the
    one-round fallback (0, 1), Upsilon 684 (the tail program and the M >= 1, N >= 1 relaxation at N -> 1
    stalled in CLARABEL)."""
    from edgelearn.solver.bench import with_devices, with_fading
    s = with_devices(el.scenarios.cifar(), 10).replace(wasserstein=1.0)
    f = with_fading(s, 200, seed=1)
    pr = solve(f, scheme, progress=False)
    best = solve(s.replace(g_up=f.g_up.max(axis=0), g_down=f.g_down.max(axis=0)), scheme, progress=False)
    worst = solve(s.replace(g_up=f.g_up.min(axis=0), g_down=f.g_down.min(axis=0)), scheme, progress=False)
    assert pr.plan.N >= 50 and best.plan.N >= 50          # fine-tuning rounds, as with the fixed channels
    assert el.evaluate(f, pr.plan).feasible and pr.plan.integer_batches
    assert pr.certified_gap <= perround.RTOL and "unsolved" not in pr.stats
    assert worst.pair[1] <= 200                             # the worst-channel plan fits in the 200 rows
    assert best.lower_bound <= pr.lower_bound * (1 + 1e-6)  # best channels: a relaxation of the per-round problem
    assert best.pair_bound <= pr.pair_bound * (1 + 1e-6)
    assert pr.lower_bound <= pr.pair_bound * (1 + 1e-9)
    assert pr.pair_bound <= worst.pair_bound * (1 + 1e-6)   # the worst-channel plan is feasible on every row
