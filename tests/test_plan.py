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
