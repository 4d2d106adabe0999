"""Fuzz (hypothesis) of every entry point with bad and extreme input (issue 14).

* random bad values in one field of a Scenario, of ``Plan`` and of ``Plan.uniform``: the only
  errors are ``ValueError``/``TypeError``s that name the field;
* ``evaluate`` on valid scenarios and plans with magnitudes up to 1e+-308: it never raises, never
  warns, never calls a plan with a NaN or infinite delay, energy or bound feasible, and says why a
  plan is not feasible;
* ``solve`` on random valid scenarios: a feasible plan, or ``InfeasibleBudgetError`` whose needed
  value is finite and above the given one.

The examples are derandomized (a fixed seed) and bounded so the module takes ~15-25 s.  Counts
of the inputs tried and the outcomes: ``pytest tests/test_fuzz.py -s`` prints them, and
``EDGELEARN_FUZZ_REPORT=path`` writes them as JSON.
"""
import collections
import json
import math
import os
import re
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import edgelearn as el
from edgelearn.plan import distinct_rows
from edgelearn.solver.problem import SCHEMES

COUNTS = collections.Counter()
FAST = settings(max_examples=400, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])


@pytest.fixture(scope="module", autouse=True)
def _report_counts():
    yield
    table = dict(sorted(COUNTS.items()))
    print("\nfuzz counts:\n" + "\n".join(f"  {k}: {v}" for k, v in table.items()))
    if os.environ.get("EDGELEARN_FUZZ_REPORT"):
        with open(os.environ["EDGELEARN_FUZZ_REPORT"], "w") as f:
            json.dump(table, f, indent=1)


BASE = el.scenarios.mnist()

# ---------------------------------------------------------------- bad values
finite = st.floats(allow_nan=False, allow_infinity=False, width=64)
any_float = st.floats(allow_nan=True, allow_infinity=True, width=64)
odd = st.sampled_from([object(), b"1", [None], [[1, "a"]], np.array(["x"]), np.zeros((2, 2, 2)), {1: 2}, {1.0},
                       (), [], [[]], np.array(1 + 1j), np.bool_(True), np.datetime64("2024-01-01"), float,
                       "1e3", "", [[1, 2], [3]], [1, [2, 3]], 10**400, -(10**400), 2.6e19, 4.2e9])
bad_value = st.one_of(
    st.text(max_size=4), st.none(), st.booleans(), st.complex_numbers(allow_nan=False, max_magnitude=10), odd,
    any_float, st.integers(-(10**25), 10**25),
    st.lists(any_float, max_size=5), st.lists(st.one_of(finite, st.text(max_size=2), st.none()), max_size=4),
    st.lists(st.lists(finite, max_size=4), max_size=4),
)


def _names_field(message: str, field: str) -> bool:
    return re.search(rf"\b{re.escape(field)}\b", message) is not None


def _is_number_like(value) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, (bool, np.bool_))


@FAST
@given(field=st.sampled_from(el.Scenario.field_names()), value=bad_value)
def test_bad_scenario_fields_get_clear_errors_naming_the_field(field, value):
    COUNTS["scenario: inputs tried"] += 1
    try:
        s = BASE.replace(**{field: value})
    except (TypeError, ValueError) as e:
        COUNTS[f"scenario: {type(e).__name__}"] += 1
        assert _names_field(str(e), field) or "Scenario.gamma" in str(e), f"{field}={value!r}: {e}"
        assert "Scenario." in str(e)
        return
    COUNTS["scenario: accepted (a valid value)"] += 1
    # what got in is a number or an array of numbers, never a string, None, a bool or a complex number
    assert not isinstance(value, (str, bytes, bool, complex, type(None), np.bool_)), (field, value)
    stored = getattr(s, field)
    assert np.all(np.isfinite(stored)) and np.asarray(stored).dtype.kind in "fi"


def _plan_parts(scenario, M=3, N=2):
    K = scenario.K
    return dict(M=M, N=N, D=np.full(M, 100.0), f=np.full(M, 1e9), B=np.full((N, K), 50.0),
                f_hat=np.full((N, K), 1e8), p=np.full((N, K), 0.1))


plan_bad_value = st.one_of(bad_value, st.sampled_from([np.ones(2), np.ones((4, 3)), np.ones((2, 4)), np.ones((1, 1, 3)),
                                                       -np.ones(3), np.zeros((2, 3)), 10**13, -1, 1.5]))


@FAST
@given(field=st.sampled_from(["M", "N", "D", "f", "B", "f_hat", "p"]), value=plan_bad_value,
       uniform=st.booleans())
def test_bad_plan_fields_get_clear_errors_naming_the_field(field, value, uniform):
    COUNTS["plan: inputs tried"] += 1
    try:
        if uniform:
            kw = dict(M=3, N=2)
            kw[field] = value
            plan = el.Plan.uniform(BASE, kw.pop("M"), kw.pop("N"), **kw)
        else:
            parts = _plan_parts(BASE)
            parts[field] = value
            plan = el.Plan(**parts)
    except (TypeError, ValueError) as e:
        COUNTS[f"plan: {type(e).__name__}"] += 1
        assert f"Plan.{field}" in str(e) or (f"Plan.uniform: {field} " in str(e)) or (
            field in "B f_hat p" and ("Plan: the device axis" in str(e) or f"Plan.{field} has shape" in str(e))) or (
            field in ("M", "N") and ("Plan.M + Plan.N = 0" in str(e) or re.match(
                r"Plan\.(D|f|B|f_hat|p) has shape .*: must have shape", str(e)))), f"{field}={value!r}: {e}"
        return
    COUNTS["plan: accepted (a valid value)"] += 1
    if not (uniform and value is None):             # None: Plan.uniform's documented default
        assert not isinstance(value, (str, bytes, bool, complex, type(None), np.bool_)), (field, value)
    for a in (plan.D, plan.f, plan.B, plan.f_hat, plan.p):
        rows = distinct_rows(a)[0]            # M may be 10^12: look at the stored rows, not the broadcast view
        assert np.all(np.isfinite(rows)) and np.all(rows > 0)


def test_uniform_rejects_a_non_scenario():
    for thing in (None, "mnist", 3, el.Plan.uniform(BASE, 1, 1)):
        with pytest.raises(TypeError, match="Plan.uniform: scenario = .*must be a Scenario"):
            el.Plan.uniform(thing, 1, 1)


# ---------------------------------------------------------------- extreme magnitudes in evaluate
def _magnitude(lo, hi):
    return st.floats(lo, hi).map(lambda e: float(min(10.0 ** e, 1.7e308)))


# each field: its allowed extreme range (log10) respecting the lower bounds of Scenario
_EXTREME = {name: (-308, 308) for name in el.Scenario.field_names()}
_EXTREME.update(eta=(0, 308), eta_hat=(0, 308), D_max=(0, 308), B_max=(0, 308), gamma=(-308, -2),
                rho=(-308, 1.9), rho_hat=(-308, 1.9))
del _EXTREME["K"]


@st.composite
def extreme_case(draw):
    fields = draw(st.lists(st.sampled_from(sorted(_EXTREME)), min_size=1, max_size=6, unique=True))
    changes = {f: draw(_magnitude(*_EXTREME[f])) for f in fields}
    for f in ("alpha2", "alpha_hat2", "rho_tilde", "wasserstein", "loss_gap"):
        if f in changes and draw(st.booleans()):
            changes[f] = 0.0
    M = draw(st.sampled_from([0, 1, 7, 10**6, 10**12]))
    N = draw(st.sampled_from([1, 3, 10**9])) if M == 0 else draw(st.sampled_from([0, 1, 3, 10**9]))
    plan_kw = {k: draw(st.one_of(st.none(), _magnitude(-308, 308))) for k in ("D", "f", "B", "f_hat", "p")}
    return changes, M, N, {k: v for k, v in plan_kw.items() if v is not None}


@settings(max_examples=300, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(extreme_case())
def test_evaluate_on_extreme_valid_input_never_warns_and_never_calls_nan_feasible(case):
    changes, M, N, plan_kw = case
    COUNTS["evaluate: inputs tried"] += 1
    try:
        s = BASE.replace(**changes)
    except ValueError as e:     # only the learning-rate limit of Theorem 3.1 can reject these values
        assert "Scenario.gamma" in str(e) and "min(1/rho, 1/rho_hat)" in str(e), str(e)
        COUNTS["evaluate: scenario rejected (gamma > 1/rho)"] += 1
        return
    plan = el.Plan.uniform(s, M, N, **plan_kw)
    with warnings.catch_warnings():
        warnings.simplefilter("error")          # a RuntimeWarning fails the example
        rep = el.evaluate(s, plan)
        text = str(rep)
    values = [rep.bound, rep.delay, rep.energy]
    if any(math.isnan(v) for v in values):
        COUNTS["evaluate: NaN in bound, delay or energy"] += 1
    if any(math.isinf(v) for v in values):
        COUNTS["evaluate: inf in bound, delay or energy"] += 1
    if rep.numerics:
        COUNTS["evaluate: float64 problem explained in numerics"] += 1
    if rep.feasible:
        COUNTS["evaluate: feasible"] += 1
        assert not math.isnan(rep.bound) and math.isfinite(rep.delay) and math.isfinite(rep.energy)
        assert all(math.isfinite(c.value) for c in rep.constraints) and "why:" not in text
    else:
        COUNTS["evaluate: infeasible"] += 1
        assert rep.why and "why:" in text
        if not all(math.isfinite(c.value) for c in rep.constraints):
            assert "not a finite number" in rep.why
        if math.isnan(rep.bound):
            assert "Upsilon (34) is NaN" in rep.why


# ---------------------------------------------------------------- solve on random valid scenarios
def _log_uniform(draw, lo, hi):
    return 10.0 ** (lo + (hi - lo) * draw(st.integers(0, 1000)) / 1000)


@st.composite
def solve_case(draw):
    K = draw(st.integers(1, 3))
    d = BASE.to_dict()
    for k, v in d.items():
        if isinstance(v, list):
            d[k] = v[:K]
    d["K"] = K
    d.update(tau0=_log_uniform(draw, -3, 5), E0=_log_uniform(draw, -9, 4),
             wasserstein=draw(st.sampled_from([0.0, 0.1, 1.0])))
    if draw(st.booleans()):
        d.update(P_ave=[_log_uniform(draw, -3, 0) for _ in range(K)], W_up=[_log_uniform(draw, 4, 7) for _ in range(K)])
    if draw(st.booleans()):
        d.update(f_max=_log_uniform(draw, 7, 10), D_max=float(draw(st.integers(1, 2000))),
                 B_max=float(draw(st.integers(1, 2000))))
    gains = None
    if draw(st.integers(0, 4)) == 0:                  # one channel draw per fine-tuning round
        gains = dict(K=K, seed=draw(st.integers(0, 99)), N=draw(st.integers(1, 40)))
        g_up, g_down = el.scenarios.rayleigh_gains(**gains)
        d.update(g_up=g_up.tolist(), g_down=g_down.tolist())
    return el.Scenario(**d), draw(st.sampled_from(sorted(SCHEMES))), gains


_SOLVE = []          # (repro, outcome, detail) for every example, filled once by _solve_outcomes


def _repro(s, scheme, gains):
    """A line of Python that repeats the example."""
    base = BASE.to_dict()
    changed = {k: v for k, v in s.to_dict().items() if v != base[k]}
    text = repr(changed)
    if gains:
        changed.pop("g_up"), changed.pop("g_down")
        text = repr(changed)[:-1] + ", 'g_up': g[0], 'g_down': g[1]}"
        text = f"g = el.scenarios.rayleigh_gains(**{gains!r}); " + \
            f"el.solve(el.scenarios.mnist().replace(**{text}), {scheme!r}, progress=False)"
        return text
    return f"el.solve(el.scenarios.mnist().replace(**{text}), {scheme!r}, progress=False)"


@settings(max_examples=16, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(solve_case())
def _solve_fuzz(case):
    s, scheme, gains = case
    COUNTS["solve: inputs tried"] += 1
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            sol = el.solve(s, scheme, progress=False)
    except el.InfeasibleBudgetError as e:
        ok = math.isfinite(e.needed) and e.needed > e.given
        outcome = "InfeasibleBudgetError" if ok else "InfeasibleBudgetError with a bad needed value"
        _SOLVE.append((_repro(s, scheme, gains), outcome, f"{e} (needed = {e.needed!r}, given = {e.given!r})"))
    except Exception as e:  # noqa: BLE001 -- any other exception is a solver bug to report
        _SOLVE.append((_repro(s, scheme, gains), f"raised {type(e).__name__}", str(e)[:200]))
    else:
        rep = el.evaluate(s, sol.plan)
        _SOLVE.append((_repro(s, scheme, gains), "feasible plan" if rep.feasible else "infeasible plan returned",
                       rep.why[:200]))
    COUNTS[f"solve: {_SOLVE[-1][1]}"] += 1


def _solve_outcomes():
    if not _SOLVE:
        _solve_fuzz()
    return _SOLVE


def _listing(rows):
    return "\n".join(f"{r}  ->  {o}: {d}" for r, o, d in rows)


def test_solve_returns_only_feasible_plans_on_random_valid_scenarios():
    outcomes = _solve_outcomes()
    assert len(outcomes) >= 10
    bad = [o for o in outcomes if o[1] == "infeasible plan returned"]
    assert not bad, _listing(bad)
    assert any(o[1] == "feasible plan" for o in outcomes)


def test_solve_infeasible_budget_error_needs_a_finite_value_above_the_given_one():
    outcomes = _solve_outcomes()
    assert any(o[1].startswith("InfeasibleBudgetError") for o in outcomes)
    bad = [o for o in outcomes if o[1] == "InfeasibleBudgetError with a bad needed value"]
    assert not bad, _listing(bad)


def test_solve_raises_nothing_but_infeasible_budget_error():
    outcomes = _solve_outcomes()
    bad = [o for o in outcomes if o[1].startswith("raised")]
    assert not bad, _listing(bad)


def _check_solve(s, scheme="proposed"):
    try:
        sol = el.solve(s, scheme, progress=False)
    except el.InfeasibleBudgetError as e:
        assert math.isfinite(e.needed) and e.needed > e.given, str(e)
    else:
        assert el.evaluate(s, sol.plan).feasible


def test_solve_known_crash_on_a_tiny_energy_budget():
    _check_solve(BASE.replace(E0=1e-8))


def test_solve_known_nan_needed_with_per_round_channels():
    g = el.scenarios.rayleigh_gains(K=3, seed=0, N=1)
    _check_solve(BASE.replace(tau0=0.001, E0=1e-09, g_up=g[0], g_down=g[1]), "finetune_only")
