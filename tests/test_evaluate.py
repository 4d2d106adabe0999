"""evaluate(): the report, its slacks and feasibility."""
import pytest

import edgelearn as el


def test_report_public_attributes(hand):
    plan = el.Plan.uniform(hand, M=3, N=2, D=200, f=1e9, B=100, f_hat=4e8, p=0.5)
    rep = el.evaluate(hand, plan)
    assert isinstance(rep.bound, float) and isinstance(rep.delay, float) and isinstance(rep.energy, float)
    assert rep.feasible is True
    assert rep.slack["delay"] == pytest.approx(100 - 8.16)
    assert rep.slack["energy"] == pytest.approx(50 - 7.1392)


def test_violations_are_found_and_named(hand):
    plan = el.Plan.uniform(hand, M=0, N=30, B=100, f_hat=4e8, p=0.8)  # 30 x 4.05 s > 100 s; p above P_ave
    rep = el.evaluate(hand, plan)
    names = {c.name for c in rep.violated}
    assert rep.feasible is False and {"delay", "average power"} <= names
    assert "peak power" not in names                       # 0.8 <= P_max = 1
    assert "VIOLATED" in str(rep)


def test_batch_and_clock_limits_are_checked(hand):
    plan = el.Plan.uniform(hand, M=1, N=1, D=600, f=3e9, B=500, f_hat=6e8, p=0.5)
    names = {c.name for c in el.evaluate(hand, plan).violated}
    assert {"pre-train batch", "server clock", "fine-tune batch", "device clock"} <= names


def test_report_prints_a_readable_table(hand):
    text = str(el.evaluate(hand, el.Plan.uniform(hand, M=1, N=1, D=10, B=10)))
    for word in ("Upsilon", "pre-training", "fine-tuning", "delay (35e)", "energy (35f)", "feasible: True"):
        assert word in text


# ---------------------------------------------------------------- extreme magnitudes (issue 14)
def test_an_overflow_that_decides_feasibility_is_explained_without_warnings(hand):
    import warnings

    s = hand.replace(beta=1e300, W_up=1e-300, N0=1e-300)
    with warnings.catch_warnings():
        warnings.simplefilter("error")                     # any RuntimeWarning fails the test
        rep = el.evaluate(s, el.Plan.uniform(s, 10, 10))
        text = str(rep)
    assert rep.feasible is False
    assert "delay (35e)" in rep.why and "is not <= 100 s" in rep.why
    assert "Float64 arithmetic met a division by zero" in rep.why and "why:" in text


def test_an_infinite_delay_is_never_feasible_and_says_so(hand):
    import warnings

    s = hand.replace(beta=1e308, n_flop=1e308, c_hat=1e-300)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        rep = el.evaluate(s, el.Plan.uniform(s, 1, 1, B=1e300, f_hat=1e-300))
    assert rep.delay == float("inf") and not rep.feasible
    assert "the value is inf s, not a finite number" in rep.why
    assert any("device compute time (15)" in n and "inf s" in n for n in rep.numerics)


def test_a_nan_bound_is_never_feasible(hand):
    # alpha^2 = 0 and 1/D overflowing: 0 * inf = NaN in the pre-training term of (34)
    s = hand.replace(alpha2=0.0)
    rep = el.evaluate(s, el.Plan.uniform(s, 1, 1, D=1e-320))
    assert rep.bound != rep.bound and not rep.feasible and "Upsilon (34) is NaN" in rep.why


def test_a_feasible_report_has_no_why_and_no_numerics(hand):
    rep = el.evaluate(hand, el.Plan.uniform(hand, 3, 2, D=200, f=1e9, B=100, f_hat=4e8, p=0.5))
    assert rep.feasible and rep.why == "" and rep.numerics == ()


def test_evaluate_checks_its_argument_types(hand):
    with pytest.raises(TypeError, match=r"evaluate: plan = 3 \(int\): must be a Plan"):
        el.evaluate(hand, 3)
    with pytest.raises(TypeError, match=r"evaluate: scenario = .*must be a Scenario"):
        el.evaluate(None, el.Plan.uniform(hand, 1, 1))


def test_input_type_error_is_public_and_catchable_as_both_kinds(hand):
    """``edgelearn.InputTypeError`` is exported, and it is a TypeError and a ValueError."""
    with pytest.raises(el.InputTypeError, match=r"evaluate: plan = .*must be a Plan"):
        el.evaluate(hand, "not a plan")
    assert issubclass(el.InputTypeError, TypeError) and issubclass(el.InputTypeError, ValueError)
    assert "InputTypeError" in el.__all__
