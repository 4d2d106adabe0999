"""The bound Upsilon (34) against values worked out by hand, its conventions, and its monotonicity."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import edgelearn as el
from edgelearn import bound


def test_terms_by_hand(hand):
    # gamma 0.01, rho 10, alpha2 4, rho_hat 20, alpha_hat2 6, K 2, rho_tilde 0.5, W 2, loss_gap 3
    # M 3, N 2, D 200, B 100 + 100: Lambda = 3/200, Omega = 2/200, M + N = 5
    plan = el.Plan.uniform(hand, M=3, N=2, D=200, B=100)
    t = bound.terms(hand, plan)
    assert t.pretrain_variance == pytest.approx(0.01 * 10 * 4 * 0.015 / 5)     # 0.0012
    assert t.finetune_variance == pytest.approx(0.01 * 20 * 6 * 2 * 0.01 / 5)  # 0.0048
    assert t.shift == pytest.approx(2 * 0.5 * 2 / 0.01 / 5)                     # 40
    assert t.initial_gap == pytest.approx(2 * 3 / 0.01 / 5)                     # 120
    assert bound.upsilon(hand, plan) == pytest.approx(160.006)


def test_fine_tuning_only_has_no_shift_term(hand):
    t = bound.terms(hand, el.Plan.uniform(hand, M=0, N=5, B=100))
    assert t.shift == 0 and t.pretrain_variance == 0
    assert t.total == pytest.approx(0.01 * 20 * 6 * 2 * (5 / 200) / 5 + 2 * 3 / 0.01 / 5)


def test_pre_training_only_has_no_fine_tuning_variance(hand):
    t = bound.terms(hand, el.Plan.uniform(hand, M=4, N=0, D=100))
    assert t.finetune_variance == 0 and t.shift == pytest.approx(2 * 0.5 * 2 / 0.01 / 4)


def test_upsilon_from_sums_broadcasts_over_grids(hand):
    M, N = np.meshgrid(np.arange(0, 4), np.arange(1, 4), indexing="ij")
    grid = bound.upsilon_from_sums(hand, M, N, M / 100, N / 200)
    one = bound.upsilon(hand, el.Plan.uniform(hand, M=2, N=3, D=100, B=100))
    assert grid.shape == (4, 3) and grid[2, 2] == pytest.approx(one)


def test_zero_rounds_are_rejected(hand):
    with pytest.raises(ValueError, match="M \\+ N >= 1"):
        bound.upsilon_from_sums(hand, 0, 0, 0.0, 0.0)


@given(D=st.floats(1, 700), B=st.floats(1, 700), k=st.floats(1.01, 10), M=st.integers(0, 50), N=st.integers(0, 50))
def test_upsilon_falls_when_every_batch_grows(D, B, k, M, N):
    s = el.scenarios.mnist()
    if M + N == 0:
        return
    small = el.Plan.uniform(s, M=M, N=N, D=D, B=B)
    large = el.Plan.uniform(s, M=M, N=N, D=D * k, B=B * k)
    assert bound.upsilon(s, large) < bound.upsilon(s, small)


@given(R=st.integers(1, 1000))
def test_remark_3_2_limit_as_N_grows(R):
    # fixed batches: Upsilon -> gamma rho_hat alpha_hat^2 K / B_tot as N -> infinity
    s = el.scenarios.mnist()
    B = 300.0
    limit = s.gamma * s.rho_hat * s.alpha_hat2 * s.K / (s.K * B)
    M, N = R, 10**9
    far = bound.upsilon_from_sums(s, M, N, M / 100.0, N / (s.K * B))
    assert far == pytest.approx(limit, rel=1e-2)
    near = bound.upsilon_from_sums(s, M, 10, M / 100.0, 10 / (s.K * B))
    assert near > far
