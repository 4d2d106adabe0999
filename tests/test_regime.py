"""Regimes of the optimal plan: Solution.regime for the presets and known cases, and the regime map."""
import math

import numpy as np
import pytest

import edgelearn as el
from edgelearn.regime import CELL_REGIMES, RegimeMap, apply_axis, regime_map, stage_shares


def test_preset_regimes():
    assert el.solve(el.scenarios.mnist(), progress=False).regime == "pretrain_only"
    assert el.solve(el.scenarios.cifar(), progress=False).regime == "two_stage"


def test_old_server_device_ratio_is_a_corner_for_both_presets():
    for s in (el.scenarios.mnist(), el.scenarios.cifar()):
        assert el.solve(s.replace(c=16.0, c_hat=4.0), progress=False).regime == "pretrain_only"


def test_issue_counterexample_cifar_equal_flops_no_shift_mixes_and_beats_both_corners():
    """c = c_hat = 8, W = 0 and the earlier learning constants: (M, N) = (224, 153), Upsilon ~ 2.362."""
    s = el.scenarios.cifar().replace(rho=20.0, rho_hat=20.0, alpha2=100.0, alpha_hat2=100.0, wasserstein=0.0)
    sol = el.solve(s, progress=False)
    assert sol.regime == "two_stage" and (sol.plan.M, sol.plan.N) == (224, 153)
    assert sol.upsilon == pytest.approx(2.362, abs=1e-3)
    pre = el.solve(s, "pretrain_only", progress=False).upsilon
    fine = el.solve(s, "finetune_only", progress=False).upsilon
    assert pre == pytest.approx(2.397, abs=1e-3) and fine == pytest.approx(2.577, abs=1e-3)
    assert sol.upsilon < pre < fine


def test_large_shift_drops_pretraining():
    assert el.solve(el.scenarios.cifar().replace(wasserstein=1.0), progress=False).regime == "finetune_only"


def test_stage_shares_of_a_two_stage_plan_are_strictly_between_zero_and_one():
    sol = el.solve(el.scenarios.cifar(), progress=False)
    e, t = stage_shares(sol.report)
    b = sol.report.breakdown
    assert e == pytest.approx(b.pretrain_total_energy / (b.pretrain_total_energy + b.finetune_total_energy))
    assert 0 < e < 1 and 0 < t < 1


def test_c_ratio_keeps_the_geometric_mean_and_four_gives_the_old_preset():
    s = apply_axis(el.scenarios.cifar(), "c_ratio", 4.0)
    assert s.c == pytest.approx(16.0) and np.allclose(s.c_hat, 4.0)
    s2 = apply_axis(el.scenarios.cifar(), "c_ratio", 0.25)
    assert math.sqrt(s2.c * s2.c_hat[0]) == pytest.approx(8.0) and s2.c == pytest.approx(4.0)


def test_derived_budget_axes():
    base = el.scenarios.mnist()
    s = apply_axis(base, "E0_per_tau0", 0.5)
    assert s.tau0 == base.tau0 and s.E0 == pytest.approx(0.5 * base.tau0)
    s = apply_axis(base, "budget_scale", 3.0)
    assert s.tau0 == pytest.approx(3 * base.tau0) and s.E0 == pytest.approx(3 * base.E0)


def test_bad_axes_are_named():
    s = el.scenarios.mnist()
    with pytest.raises(ValueError, match="'nonsense' is neither a Scenario field"):
        apply_axis(s, "nonsense", 1.0)
    with pytest.raises(ValueError, match="same axis 'tau0'"):
        regime_map(s, ("tau0", [1.0]), ("tau0", [2.0]), cache=False, progress=False)
    with pytest.raises(ValueError, match="c_ratio = -1.0: must be > 0"):
        apply_axis(s, "c_ratio", -1.0)
    with pytest.raises(ValueError, match="Scenario"):
        regime_map(s, ("wasserstein", [-1.0]), ("tau0", [1.0]), cache=False, progress=False)


@pytest.fixture(scope="module")
def small_map(tmp_path_factory):
    d = tmp_path_factory.mktemp("cache")
    s = el.scenarios.cifar()
    return s, d, regime_map(s, ("c_ratio", [1.0, 4.0]), ("wasserstein", [0.0, 1.0]), progress=False, cache_dir=d)


def test_each_cell_is_the_direct_solve(small_map):
    s, _, rm = small_map
    assert rm.regime.shape == (2, 2)
    for rec in rm.records():
        sc = apply_axis(apply_axis(s, "c_ratio", rec["c_ratio"]), "wasserstein", rec["wasserstein"])
        sol = el.solve(sc, progress=False)
        assert (rec["regime"], rec["M"], rec["N"]) == (sol.regime, sol.plan.M, sol.plan.N)
        assert rec["bound"] == pytest.approx(sol.upsilon, rel=1e-12)
        b = sol.report.breakdown
        assert (rec["energy"], rec["delay"]) == pytest.approx((b.total_energy, b.total_delay), rel=1e-12)
        assert rec["batch"] == sol.plan.D[0] if sol.plan.M else math.isnan(rec["batch"])
    assert rm.cell(1.0, 0.0)["regime"] == "two_stage"
    assert rm.cell(4.0, 0.0)["regime"] == "pretrain_only"
    assert rm.cell(1.0, 1.0)["regime"] == "finetune_only"
    assert sum(rm.counts().values()) == 4


def test_map_is_cached_on_disk_and_reloads_equal(small_map):
    s, d, rm = small_map
    files = list((d / "regimes").glob("*.bin"))
    assert len(files) == 1
    again = regime_map(s, ("c_ratio", [1.0, 4.0]), ("wasserstein", [0.0, 1.0]), progress=False, cache_dir=d)
    assert again.to_json() == rm.to_json()             # (records hold nan, e.g. no batch without pre-training)
    assert RegimeMap.from_json(rm.to_json()).to_json() == rm.to_json()


def test_infeasible_cells_are_marked():
    s = el.scenarios.mnist()
    rm = regime_map(s, ("tau0", [1e-6, 1000.0]), ("E0", [300.0]), progress=False, cache=False)
    assert list(rm.regime[0]) == ["infeasible", "pretrain_only"]
    assert np.isnan(rm.bound[0, 0]) and set(rm.regime.ravel()) <= set(CELL_REGIMES)


def test_regime_map_figure_draws_every_present_regime(small_map):
    import matplotlib
    matplotlib.use("Agg")
    from edgelearn.plots import REGIME_LABELS, regime_map_figure
    ax = regime_map_figure(small_map[2], marks={"preset": (1.0, 0.1)})
    labels = {t.get_text() for t in ax.get_legend().get_texts()}
    assert labels == {REGIME_LABELS[r] for r in ("pretrain_only", "finetune_only", "two_stage")}
