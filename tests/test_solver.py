"""The solver: exact convex form, certified (M, N) search, integer batches, schemes, errors."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import edgelearn as el
from edgelearn.solver import InfeasibleBudgetError, solve
from edgelearn.solver.exact import solve_pair
from edgelearn.solver.search import round_limits

SCHEMES = list(el.solver.SCHEMES)


def small():
    """A scenario small enough to grid: M_max = 37, N_max = 5, and its optimum uses both stages."""
    return el.scenarios.mnist().replace(phi=1e-24, alpha_hat2=0.5, alpha2=500.0, tau0=10.0, E0=0.5, n_flop=1e8,
                                        c=16.0, c_hat=4.0, rho=20.0, rho_hat=20.0, wasserstein=0.5)


@pytest.fixture(scope="module")
def presets():
    return {"mnist": el.scenarios.mnist(), "cifar": el.scenarios.cifar()}


@pytest.fixture(scope="module")
def grid():
    """v(M, N) (real batches) for every pair of the small scenario: the exhaustive search."""
    s = small()
    M_max, N_max = round_limits(s)
    out = {}
    for M in range(M_max + 1):
        for N in range(N_max + 1):
            if M + N:
                out[(M, N)] = solve_pair(s, M, N).upsilon
    return s, out


def test_search_equals_exhaustive_grid(grid):
    s, values = grid
    sol = solve(s, progress=False)
    best_pair = min(values, key=values.get)
    assert sol.stats["pair"] == best_pair
    assert sol.stats["pair_optimum"] == pytest.approx(values[best_pair], rel=1e-7)
    assert sol.stats["pairs_evaluated"] < len(values) / 4   # it skipped most pairs


def test_small_scenario_uses_both_stages(grid):
    s, values = grid
    M, N = min(values, key=values.get)
    assert M >= 1 and N >= 1


def test_relaxed_optimum_is_a_lower_bound_on_every_pair(grid):
    s, values = grid
    lb = solve(s, progress=False).stats["lower_bound"]
    assert lb <= min(values.values()) * (1 + 1e-7)


def test_paper_ranges_equal_grid_over_positive_rounds(grid):
    s, values = grid
    pos = {k: v for k, v in values.items() if k[0] >= 1 and k[1] >= 1}
    sol = solve(s, ranges="paper", progress=False)
    assert sol.stats["pair"] == min(pos, key=pos.get)
    assert sol.plan.M >= 1 and sol.plan.N >= 1


def test_integer_plan_is_feasible_whole_and_above_the_lower_bound(grid):
    s, values = grid
    sol = solve(s, progress=False)
    assert sol.plan.integer_batches and sol.report.feasible
    assert sol.report.bound >= sol.stats["lower_bound"] * (1 - 1e-6)
    assert sol.report.bound == pytest.approx(el.evaluate(s, sol.plan).bound)


def test_round_limits_by_hand():
    """M_max: M rounds of one sample, each tau0/M long, cost M kappa (M/tau0)^2 (kappa = eta phi (N_FLOP/c)^3)."""
    s = small()
    kappa = s.eta * s.phi * (s.n_flop / s.c) ** 3
    M_max, N_max = round_limits(s)
    assert M_max == int(np.floor(min((s.E0 * s.tau0**2 / kappa) ** (1 / 3), s.tau0 * s.f_max * s.c / s.n_flop)))
    plan = lambda M: el.Plan.uniform(s, M, 0, D=1, f=s.n_flop * M / (s.c * s.tau0))  # noqa: E731
    assert el.evaluate(s, plan(M_max)).feasible
    assert not el.evaluate(s, plan(M_max + 1)).feasible
    # N_max + 1 fine-tuning rounds do not fit even with one-sample batches
    with pytest.raises(InfeasibleBudgetError):
        solve(s, "finetune_only", M=0, N=N_max + 1, progress=False)
    assert solve(s, "finetune_only", M=0, N=N_max, progress=False).report.feasible


@pytest.mark.parametrize("name", ["mnist", "cifar"])
@pytest.mark.parametrize("scheme", SCHEMES)
def test_every_scheme_gives_a_feasible_integer_plan_that_honours_the_scheme(presets, name, scheme):
    s = presets[name]
    sol = solve(s, scheme, progress=False)
    p, rep = sol.plan, sol.report
    assert rep.feasible and p.integer_batches
    assert rep.bound == pytest.approx(el.evaluate(s, p).bound)
    if scheme == "fixed_power" and p.N:
        assert np.all(p.p == s.P_max)
    if scheme == "fixed_frequency":
        assert np.all(p.f == s.f_max) and np.all(p.f_hat == s.f_hat_max)
    if scheme == "fixed_batch":
        assert np.all(p.D == s.D_max) and np.all(p.B == s.B_max)
    if scheme == "pretrain_only":
        assert p.N == 0
    if scheme == "finetune_only":
        assert p.M == 0


@pytest.mark.parametrize("name", ["mnist", "cifar"])
def test_proposed_is_at_least_as_good_as_every_benchmark(presets, name):
    s = presets[name]
    best = solve(s, progress=False).stats["pair_optimum"]
    for scheme in SCHEMES[1:]:
        assert best <= solve(s, scheme, progress=False).stats["pair_optimum"] * (1 + 1e-7)


def test_given_pair_solves_only_that_pair(presets):
    s = presets["mnist"]
    sol = solve(s, M=200, N=20, progress=False)
    assert (sol.plan.M, sol.plan.N) == (200, 20)
    assert sol.report.feasible and sol.plan.integer_batches
    assert sol.stats["pairs_evaluated"] == 1


def test_exact_pair_plan_reproduces_its_objective(presets):
    """The change of variables is exact: the plan built from the solver's times has the solver's Upsilon."""
    s = presets["mnist"]
    r = solve_pair(s, 3000, 50)
    rep = el.evaluate(s, r.plan)
    assert rep.bound == pytest.approx(r.upsilon, rel=1e-7)
    assert rep.delay <= s.tau0 * (1 + 1e-6) and rep.energy <= s.E0 * (1 + 1e-6)


def test_delay_budget_error_names_the_fastest_round(presets):
    s = presets["mnist"].replace(tau0=1e-5)
    with pytest.raises(InfeasibleBudgetError) as e:
        solve(s, progress=False)
    fastest = s.n_flop / (s.c * s.f_max)          # one sample at the top clock: 3.90625e-5 s
    assert e.value.budget == "delay budget tau0"
    assert e.value.needed == pytest.approx(fastest) and e.value.given == 1e-5
    assert "tau0" in str(e.value) and f"{fastest:g}" in str(e.value)
    assert isinstance(e.value, ValueError)


def test_energy_budget_error_names_the_cheapest_round(presets):
    s = presets["mnist"].replace(E0=1e-20)
    with pytest.raises(InfeasibleBudgetError) as e:
        solve(s, progress=False)
    kappa = s.eta * s.phi * (s.n_flop / s.c) ** 3
    assert e.value.budget == "energy budget E0"
    assert e.value.needed == pytest.approx(kappa / s.tau0**2, rel=1e-5)   # one sample spread over tau0
    assert "E0" in str(e.value)


def test_fixed_power_above_average_budget_is_an_error(hand):
    with pytest.raises(InfeasibleBudgetError, match="average power"):
        solve(hand, "fixed_power", progress=False)


def test_bad_arguments_raise_value_error(presets):
    s = presets["mnist"]
    with pytest.raises(ValueError, match="scheme"):
        solve(s, "nope")
    with pytest.raises(ValueError, match="method"):
        solve(s, method="cvx")
    with pytest.raises(ValueError, match="ranges"):
        solve(s, ranges="half", progress=False)
    with pytest.raises(ValueError, match="M"):
        solve(s, M=1.5, N=2)


def test_landscape_marks_the_pairs_evaluated(presets):
    sol = solve(presets["cifar"], progress=False)
    L = sol.landscape
    assert len(L.M) == len(L.N) == len(L.upsilon) == sol.stats["pairs_evaluated"]
    i = np.argmin(L.upsilon)
    assert (L.M[i], L.N[i]) == sol.stats["pair"]


@settings(max_examples=8)
@given(tau0=st.floats(3.0, 30.0), E0=st.floats(0.3, 3.0))
def test_random_budgets_give_feasible_plans_above_the_bound(tau0, E0):
    s = small().replace(tau0=tau0, E0=E0)
    sol = solve(s, progress=False)
    assert sol.report.feasible and sol.plan.integer_batches
    assert sol.report.bound >= sol.stats["lower_bound"] * (1 - 1e-6)
    assert sol.stats["pair_optimum"] >= sol.stats["lower_bound"] * (1 - 1e-6)  # solver accuracy


# ---------------------------------------------------------------- per-round channels
def test_per_round_problem_with_repeated_channels_equals_round_invariant():
    """Channels given per round but all equal: the general problem has the round-invariant optimum."""
    from edgelearn.solver.perround import solve_pair_per_round
    s = small()
    rep = s.replace(g_up=np.tile(s.g_up, (5, 1)), g_down=np.tile(s.g_down, (5, 1)))
    for M, N in ((9, 3), (0, 4), (20, 0)):
        v, _ = solve_pair_per_round(rep, M, N)
        assert v == pytest.approx(solve_pair(s, M, N).upsilon, rel=1e-6)


def test_per_round_channels_give_a_feasible_integer_plan():
    s = small()
    g_up, g_down = el.scenarios.rayleigh_gains(s.K, seed=1, N=5)
    sol = solve(s.replace(g_up=g_up, g_down=g_down), progress=False)
    assert sol.report.feasible and sol.plan.integer_batches and sol.plan.N <= 5
    assert sol.report.bound >= sol.stats["lower_bound"] * (1 - 1e-6)


def test_regime_names_the_stages_a_plan_uses():
    from edgelearn.solver import regime_of
    assert regime_of(5, 0) == "pretrain_only"
    assert regime_of(0, 3) == "finetune_only"
    assert regime_of(2, 7) == "two_stage"
    with pytest.raises(ValueError, match="M \\+ N >= 1"):
        regime_of(0, 0)


def test_whole_batches_are_rounded_in_every_branch_that_could_win():
    """Near a change of regime the real-batch optimum (here fine-tuning only, 8.22400) and the other
    branch's (both stages, 8.22462) are close; whole batches cost them 0.0305 and ~0.009. The plan
    returned must be at least as good as the two-stage plan solved at its own pair."""
    s = el.scenarios.cifar().replace(wasserstein=0.3068)
    sol = solve(s, progress=False)
    at_pair = solve(s, M=53, N=72, progress=False)
    assert sol.report.feasible and sol.plan.integer_batches
    assert sol.bound <= at_pair.bound * (1 + 1e-9)
    assert sol.regime == "two_stage"


def test_an_absent_stage_adds_nothing_to_the_objective():
    """M = 0 pins the pre-training rounds only to solver accuracy (~1e-9); with no pre-training
    samples its M^2/S term must not turn the pair's value into inf (seen with the experiments'
    allconv8 scenario: fine-tuning only fell back to a 6-round plan, Upsilon 77 instead of 12)."""
    s = el.scenarios.cifar().replace(beta=69696.0, n_flop=8155520.0, tau0=3.5, E0=2.7, wasserstein=0.0)
    pair = solve_pair(s, 0, 74, "finetune_only")
    assert np.isfinite(pair.upsilon) and pair.upsilon == pytest.approx(11.9436, rel=1e-4)
    sol = solve(s, "finetune_only", progress=False)
    assert sol.plan.N == 74 and sol.bound < 12.01
