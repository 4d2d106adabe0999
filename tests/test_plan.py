"""Plan: shapes, validation, the round-invariant constructor."""
import numpy as np
import pytest

import edgelearn as el


def test_uniform_builds_round_invariant_arrays(hand):
    plan = el.Plan.uniform(hand, M=3, N=4, D=10, f=1e9, B=[5, 6], f_hat=4e8, p=0.2)
    assert plan.D.shape == (3,) and plan.B.shape == (4, 2) and plan.p.shape == (4, 2)
    assert plan.round_invariant and plan.integer_batches and plan.K == 2
    assert np.all(plan.B[:, 1] == 6)


def test_uniform_defaults_are_the_largest_allowed(hand):
    plan = el.Plan.uniform(hand, M=1, N=1)
    assert plan.D[0] == hand.D_max and plan.f[0] == hand.f_max
    assert np.all(plan.p[0] == np.minimum(hand.P_ave, hand.P_max))


def test_shape_mismatch_is_rejected():
    with pytest.raises(ValueError, match=r"Plan\.D has shape \(2,\): must have shape \(3,\)"):
        el.Plan(M=3, N=1, D=[1, 2], f=1e9, B=[[1, 1]], f_hat=[[1e8, 1e8]], p=[[0.1, 0.1]])


def test_non_positive_entries_are_rejected():
    with pytest.raises(ValueError, match=r"Plan\.p\[0, 1\] = 0: must be finite and > 0"):
        el.Plan(M=0, N=1, D=[], f=[], B=[[1, 1]], f_hat=[[1e8, 1e8]], p=[[0.1, 0.0]])


def test_zero_rounds_in_total_is_rejected(hand):
    with pytest.raises(ValueError, match="at least one round"):
        el.Plan.uniform(hand, M=0, N=0)


def test_fractional_batches_are_reported(hand):
    assert not el.Plan.uniform(hand, M=2, N=1, D=10.5).integer_batches


# ---------------------------------------------------------------- types and ranges (issue 14)
@pytest.mark.parametrize("args, error, message", [
    ((-1, 2), ValueError, r"Plan\.M = -1: must be a whole number in \[0, 1,000,000,000,000\]"),
    ((1.5, 2), ValueError, r"Plan\.M = 1\.5: must be a whole number"),
    ((1, "2"), TypeError, r"Plan\.N = '2' \(str\): must be a whole number"),
    ((True, 2), TypeError, r"Plan\.M = True \(bool\)"),
    ((None, 2), TypeError, r"Plan\.M = None \(NoneType\)"),
    ((10**13, 0), ValueError, r"Plan\.M = 10000000000000: must be a whole number in \[0, 1,000,000,000,000\]"),
])
def test_uniform_rounds_are_checked(hand, args, error, message):
    with pytest.raises(error, match=message):
        el.Plan.uniform(hand, *args)


def test_strings_in_a_plan_are_a_type_error_not_a_shape_error():
    with pytest.raises(TypeError, match=r"Plan\.B = \[\['a', 'b', 'c'\]\] \(list of str\): .*not of strings"):
        el.Plan(M=1, N=1, D=1, f=1, B=[["a", "b", "c"]], f_hat=1, p=1)


def test_uniform_needs_a_scenario():
    with pytest.raises(TypeError, match=r"Plan\.uniform: scenario = 3 \(int\): must be a Scenario"):
        el.Plan.uniform(3, 1, 1)


# ---------------------------------------------------------------- compact storage (issue 14)
def test_a_billion_rounds_cost_no_memory(hand):
    import tracemalloc

    tracemalloc.start()
    plan = el.Plan.uniform(hand, 10**9, 10**9, D=10, B=[5, 6])
    rep = el.evaluate(hand, plan)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak < 2_000_000                                    # bytes; the full arrays would take ~56 GB
    assert plan.D.shape == (10**9,) and plan.B.shape == (10**9, 2) and plan.compact
    assert plan.D.strides == (0,) and plan.B[123456789].tolist() == [5.0, 6.0]
    one = el.evaluate(hand, el.Plan.uniform(hand, 1, 1, D=10, B=[5, 6]))
    # every delay and energy term repeats: totals are 10^9 times those of one round per stage
    assert rep.delay == pytest.approx(1e9 * one.delay, rel=1e-12)
    assert rep.energy == pytest.approx(1e9 * one.energy, rel=1e-12)


def test_views_are_read_only_and_the_plan_is_frozen(hand):
    import dataclasses

    plan = el.Plan.uniform(hand, 3, 2)
    for a in (plan.D, plan.f, plan.B, plan.f_hat, plan.p):
        with pytest.raises(ValueError):
            a[0] = 1.0
    with pytest.raises(dataclasses.FrozenInstanceError):
        plan.M = 4


def test_equal_rounds_given_in_full_are_stored_once_and_compare_equal(hand):
    compact = el.Plan.uniform(hand, 4, 3, D=10, f=1e9, B=[5, 6], f_hat=4e8, p=0.2)
    full = el.Plan(M=4, N=3, D=[10.0] * 4, f=np.full(4, 1e9), B=[[5, 6]] * 3, f_hat=np.full((3, 2), 4e8),
                   p=np.full((3, 2), 0.2))
    assert full == compact and full.compact and full.round_invariant
    assert full.to_dict() == compact.to_dict() and full.to_dict()["B"] == [[5.0, 6.0]] * 3
    assert el.Plan(**compact.to_dict(compact=True)) == compact
    assert compact.to_dict(compact=True)["D"] == 10.0


def test_rounds_that_differ_are_kept_per_round(hand):
    plan = el.Plan(M=3, N=2, D=[10, 20, 30], f=1e9, B=[[5, 6], [7, 8]], f_hat=4e8, p=0.2)
    assert not plan.compact and not plan.round_invariant
    assert plan.D.tolist() == [10, 20, 30] and plan.B[1].tolist() == [7, 8] and plan.f.strides == (0,)


def test_replace_keeps_a_stage_compact_and_can_change_its_rounds(hand):
    plan = el.Plan.uniform(hand, 3, 2, D=10)
    longer = plan.replace(M=10**8)
    assert longer.compact and longer.D.shape == (10**8,) and longer.D[-1] == 10
    with pytest.raises(ValueError, match="no field"):
        plan.replace(rounds=3)


def test_a_plan_pickles_compactly(hand):
    import pickle

    plan = el.Plan.uniform(hand, 10**9, 10**9)
    blob = pickle.dumps(plan)
    assert len(blob) < 2000 and pickle.loads(blob) == plan


def test_training_a_compact_plan_matches_training_its_materialised_arrays():
    """train.run reads plan.D[m] and plan.B[n] per round: broadcast views and full copies train alike."""
    pytest.importorskip("torch")
    from types import SimpleNamespace

    from edgelearn import train

    s = el.scenarios.mnist()
    plan = el.Plan.uniform(s, 3, 2, D=16, B=[4, 5, 6])
    full = SimpleNamespace(M=plan.M, N=plan.N, K=plan.K, integer_batches=True,
                           **{k: np.array(getattr(plan, k)) for k in ("D", "f", "B", "f_hat", "p")})
    assert full.D.strides != (0,) and plan.D.strides == (0,)
    a = train.run(s, plan, "mnist-mnist", cache=False, progress=False, eval_every=0)
    b = train.run(s, full, "mnist-mnist", cache=False, progress=False, eval_every=0)
    assert np.array_equal(a.loss, b.loss) and np.array_equal(a.time, b.time) and a.samples == b.samples == 3 * 16 + 2 * 15
