"""Solution's named fields, strict set(), the edge cases of issue 11, statelessness, per-round channels, imports."""
import ast
import pathlib
import warnings

import numpy as np
import pytest

import edgelearn as el
from edgelearn.solver import InfeasibleBudgetError, solve
from edgelearn.solver.exact import formulation

from test_solver import small


def test_solution_fields_are_named_and_consistent():
    s = small()
    sol = solve(s, progress=False)
    assert sol.bound == sol.upsilon == sol.report.bound
    assert sol.lower_bound <= sol.pair_bound * (1 + 1e-7)
    assert sol.integrality_gap == pytest.approx(sol.bound - sol.lower_bound)
    assert sol.integrality_gap >= -1e-6 * sol.bound
    assert isinstance(sol.pair, tuple) and len(sol.pair) == 2
    i = int(np.argmin(sol.landscape.upsilon))
    assert (sol.landscape.M[i], sol.landscape.N[i]) == sol.pair
    assert sol.landscape.upsilon[i] == pytest.approx(sol.pair_bound)
    assert sol.history[-1] == pytest.approx(sol.pair_bound)
    assert sol.regime in el.solver.REGIMES
    assert sol.certified_gap == 0.0
    # the old stats keys still answer, with the same numbers
    assert sol.stats["lower_bound"] == sol.lower_bound and sol.stats["pair"] == sol.pair
    assert sol.stats["pair_optimum"] == sol.pair_bound
    assert sol.stats["integrality_gap"] == pytest.approx(sol.integrality_gap)


def test_set_rejects_a_misspelt_parameter():
    from edgelearn.solver.perround import PerRoundProgram
    from edgelearn.solver.sca import SCAProblem
    F = formulation(3, "proposed", "pair")
    with pytest.raises(KeyError, match="lambda_cof"):
        F.set(lambda_cof=1.0)
    with pytest.raises(KeyError, match="omega"):
        SCAProblem(3, "proposed", True, True).set(omega=1.0)
    with pytest.raises(KeyError, match="pb"):
        PerRoundProgram(2, 2, "proposed").set(pb=1.0)


def test_schemes_have_one_definition():
    from edgelearn import plots
    assert plots.SCHEMES is el.solver.SCHEMES


@pytest.mark.parametrize("name, scenario, scheme", [
    ("tiny energy budget", lambda: el.scenarios.mnist().replace(E0=1e-10), "proposed"),
    ("tiny energy budget 2", lambda: el.scenarios.mnist().replace(E0=1e-8), "proposed"),
    ("one round just fits", lambda: el.scenarios.cifar().replace(tau0=2.34), "finetune_only"),
    ("zero compute time candidate", lambda: el.scenarios.cifar().replace(c=16, c_hat=16, wasserstein=2), "proposed"),
    ("huge budgets", lambda: el.scenarios.mnist().replace(tau0=1e6, E0=3e5), "proposed"),
])
def test_feasible_edge_cases_solve_without_warnings(name, scenario, scheme):
    s = scenario()
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        sol = solve(s, scheme, progress=False)
    assert sol.report.feasible and sol.plan.integer_batches
    assert sol.bound >= sol.lower_bound * (1 - 1e-6)


def test_the_least_feasible_plan_of_the_first_edge_case_exists():
    """The plan the issue found by hand is feasible, so solve must not call E0 = 1e-10 infeasible."""
    s = el.scenarios.mnist().replace(E0=1e-10)
    by_hand = el.Plan.uniform(s, 1, 0, D=1, f=s.n_flop / (s.c * s.tau0))   # one sample spread over tau0
    assert el.evaluate(s, by_hand).feasible
    assert solve(s, progress=False).bound <= el.evaluate(s, by_hand).bound


@pytest.mark.parametrize("changes, budget", [(dict(E0=1e-20), "energy budget E0"), (dict(tau0=1e-5), "delay budget tau0")])
def test_infeasible_budget_names_a_finite_least_value_above_the_given_one(changes, budget):
    s = el.scenarios.cifar().replace(**changes)
    with pytest.raises(InfeasibleBudgetError) as e:
        solve(s, progress=False)
    assert e.value.budget == budget
    assert np.isfinite(e.value.needed) and e.value.needed > e.value.given


def test_one_round_just_too_slow_is_a_delay_error():
    from edgelearn.solver.solve import least_needed
    s = el.scenarios.cifar()
    fastest = least_needed(s, "finetune_only", [(0, 1)])[0]      # one sample per device, top clocks and power
    with pytest.raises(InfeasibleBudgetError) as e:
        solve(s.replace(tau0=fastest * 0.999999), "finetune_only", progress=False)
    assert e.value.budget == "delay budget tau0"
    assert e.value.needed == pytest.approx(fastest) and e.value.needed > e.value.given
    assert solve(s.replace(tau0=fastest * 1.01), "finetune_only", progress=False).report.feasible


def test_solve_is_stateless():
    """The same solve does the same work before and after a solve that needed fallbacks."""
    s = small()
    a = solve(s, progress=False)
    solve(el.scenarios.mnist().replace(E0=1e-10), progress=False)   # needs CLARABEL retries
    b = solve(s, progress=False)
    assert (a.plan.M, a.plan.N, a.pair) == (b.plan.M, b.plan.N, b.pair)
    assert a.bound == pytest.approx(b.bound, rel=1e-12)
    assert a.stats["convex_solves"] == b.stats["convex_solves"]
    assert a.stats["solvers"] == b.stats["solvers"]


def test_rounding_is_polynomial_in_the_number_of_devices():
    from edgelearn.solver.bench import scaling_base, with_devices
    s = with_devices(scaling_base(), 12).replace(c=16.0, c_hat=16.0)
    sol = solve(s, "finetune_only", progress=False)
    assert sol.report.feasible and sol.plan.integer_batches
    assert sol.stats["convex_solves"] < 200     # 2^12 = 4096 roundings would need thousands


def test_per_round_bound_lies_between_the_best_and_worst_channel_static_solves():
    s = small()
    g_up, g_down = el.scenarios.rayleigh_gains(s.K, seed=3, N=12)
    g_up, g_down = g_up * s.g_up.mean() / 1e-5, g_down * s.g_down.mean() / 1e-5
    pr = solve(s.replace(g_up=g_up, g_down=g_down), progress=False)
    best = solve(s.replace(g_up=g_up.max(axis=0), g_down=g_down.max(axis=0)), progress=False)
    worst = solve(s.replace(g_up=g_up.min(axis=0), g_down=g_down.min(axis=0)), progress=False)
    assert worst.stats["N_max"] <= 12 and best.pair[1] <= 12
    assert best.pair_bound <= pr.pair_bound * (1 + 1e-6)
    assert pr.pair_bound <= worst.pair_bound * (1 + 1e-6)
    assert pr.report.feasible and pr.plan.integer_batches


def _imports(path, package_root):
    """edgelearn modules imported anywhere in ``path`` (top level and inside functions)."""
    mod = ".".join(path.relative_to(package_root.parent).with_suffix("").parts)
    if mod.endswith(".__init__"):
        mod = mod[: -len(".__init__")]
    pkg = mod if path.name == "__init__.py" else mod.rsplit(".", 1)[0]
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = pkg.split(".")[: len(pkg.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            names = [f"{target}.{a.name}" for a in node.names]
            out |= {n for n in names + [target] if n.startswith("edgelearn")}
        elif isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name.startswith("edgelearn")}
    return mod, out


def test_no_import_cycle_in_the_solver_and_the_layers_below_it():
    root = pathlib.Path(el.__file__).parent
    files = [*sorted((root / "solver").glob("*.py")), root / "bound.py", root / "system.py", root / "plan.py",
             root / "evaluate.py", root / "scenario.py", root / "scenarios.py", root / "plots.py"]
    graph = {}
    for f in files:
        mod, deps = _imports(f, root)
        graph[mod] = deps
    known = set(graph)
    graph = {m: {d for d in deps if d in known and d != m} for m, deps in graph.items()}
    # a package's __init__ is not an edge back into it: importing edgelearn.solver.x runs it first anyway
    state = {}

    def visit(m, stack):
        state[m] = 1
        for d in graph[m]:
            if state.get(d) == 1:
                raise AssertionError("import cycle: " + " -> ".join(stack[stack.index(d):] + [d]))
            if d not in state:
                visit(d, stack + [d])
        state[m] = 2

    for m in graph:
        if m not in state:
            visit(m, [m])
