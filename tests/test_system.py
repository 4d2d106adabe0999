"""System model (12)-(21) against values worked out by hand on `hand_scenario` (see conftest).

Hand values: uplink SNR 1 and 3 at p = 0.5 W, so the rates are W log2(2) = 1e5 and W log2(4) = 2e5
bit/s; downlink SNR 1, rate 1e5 bit/s; beta = 2e5 bit.
"""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import edgelearn as el
from edgelearn import system


def test_uplink_rate_eq12(hand):
    assert np.allclose(system.uplink_rate(hand, 0.5), [1e5, 2e5])


def test_downlink_rate_eq13(hand):
    assert np.allclose(system.downlink_rate(hand), [1e5, 1e5])


def test_upload_time_and_energy_eq19(hand):
    assert np.allclose(system.upload_time(hand, 0.5), [2.0, 1.0])        # 2e5 bit / rate
    assert np.allclose(system.upload_energy(hand, 0.5), [1.0, 0.5])      # 0.5 W x time


def test_compute_time_eq15_and_energy_eq18(hand):
    # B N_FLOP / (f c) = 100 * 1e6 / (4e8 * 5) = 0.05 s
    assert np.allclose(system.compute_time(hand, [100, 100], 4e8), [0.05, 0.05])
    # eta B N_FLOP / c * phi f^2 = 1 * 100 * 1e6 / 5 * phi * 1.6e17 = 3.2e-3 J (phi = 1e-27), 6.4e-3 J (2e-27)
    assert np.allclose(system.compute_energy(hand, [100, 100], 4e8), [3.2e-3, 6.4e-3])


def test_pretraining_delay_eq14_and_energy_eq17(hand):
    # 200 * 1e6 / (1e9 * 10) = 0.02 s;  2 * 200 * 1e6 / 10 * 1e-27 * 1e18 = 0.04 J
    assert system.pretrain_delay(hand, 200, 1e9) == pytest.approx(0.02)
    assert system.pretrain_energy(hand, 200, 1e9) == pytest.approx(0.04)


def test_one_fine_tuning_round_eq16_eq20_eq21(hand):
    plan = el.Plan.uniform(hand, M=0, N=1, B=100, f_hat=4e8, p=0.5)
    b = system.breakdown(hand, plan)
    # device 0: 2 s down + 0.05 s compute + 2 s up = 4.05 s; device 1: 2 + 0.05 + 1 = 3.05 s
    assert np.allclose(b.device_delay, [[4.05, 3.05]])
    assert b.finetune_delay[0] == pytest.approx(4.05) and b.straggler[0] == 0
    # broadcast 1 W x 2 s = 2 J; compute 3.2e-3 + 6.4e-3 J; upload 1 + 0.5 J
    assert b.broadcast_energy[0] == pytest.approx(2.0)
    assert b.finetune_energy[0] == pytest.approx(2.0 + 9.6e-3 + 1.5)


def test_totals_over_both_stages(hand):
    plan = el.Plan.uniform(hand, M=3, N=2, D=200, f=1e9, B=100, f_hat=4e8, p=0.5)
    rep = el.evaluate(hand, plan)
    assert rep.delay == pytest.approx(3 * 0.02 + 2 * 4.05)
    assert rep.energy == pytest.approx(3 * 0.04 + 2 * 3.5096)
    t, e = rep.breakdown.cumulative()
    assert t.shape == (5,) and t[-1] == pytest.approx(rep.delay) and e[2] == pytest.approx(0.12)


def test_per_round_channels_use_one_row_per_round(hand):
    W, N0 = 1e5, 1e-16
    g = np.array([[1.0, 3.0], [3.0, 1.0]]) * W * N0 / 0.5
    s = hand.replace(g_up=g)
    b = system.breakdown(s, el.Plan.uniform(s, M=0, N=2, B=100, f_hat=4e8, p=0.5))
    assert np.allclose(b.upload_time, [[2.0, 1.0], [1.0, 2.0]])
    with pytest.raises(ValueError, match="describes 2 fine-tuning rounds but the plan has N = 3"):
        system.breakdown(s, el.Plan.uniform(s, M=0, N=3))


def test_plan_for_other_K_is_rejected(hand):
    plan = el.Plan(M=0, N=1, D=[], f=[], B=[[1, 1, 1]], f_hat=[[1e8] * 3], p=[[0.1] * 3])
    with pytest.raises(ValueError, match="K = 3 devices but the scenario has K = 2"):
        system.breakdown(hand, plan)


# ---------------------------------------------------------------- properties (hypothesis)
positive = st.floats(min_value=1.0, max_value=700.0)
clocks = st.floats(min_value=1e7, max_value=2e9)
powers = st.floats(min_value=1e-3, max_value=1.0)
factor = st.floats(min_value=1.01, max_value=5.0)
S = el.scenarios.mnist()


@given(B=positive, f=clocks, k=factor)
def test_delay_and_energy_grow_with_batch(B, f, k):
    assert system.compute_time(S, B * k, f)[0] > system.compute_time(S, B, f)[0]
    assert system.compute_energy(S, B * k, f)[0] > system.compute_energy(S, B, f)[0]
    assert system.pretrain_delay(S, B * k, f) > system.pretrain_delay(S, B, f)
    assert system.pretrain_energy(S, B * k, f) > system.pretrain_energy(S, B, f)


@given(B=positive, f=clocks, k=factor)
def test_energy_grows_and_delay_falls_with_clock(B, f, k):
    assert system.pretrain_energy(S, B, f * k) > system.pretrain_energy(S, B, f)
    assert system.pretrain_delay(S, B, f * k) < system.pretrain_delay(S, B, f)
    assert np.all(system.compute_energy(S, B, f * k) > system.compute_energy(S, B, f))


@given(p=powers, k=factor)
def test_upload_time_falls_and_upload_energy_grows_with_power(p, k):
    assert np.all(system.upload_time(S, p * k) < system.upload_time(S, p))
    assert np.all(system.upload_energy(S, p * k) > system.upload_energy(S, p))


@given(p=st.floats(min_value=1e-3, max_value=0.5), h=st.floats(min_value=1e-4, max_value=0.2))
def test_upload_energy_is_concave_in_power(p, h):
    # the SCA of (37)-(38) relies on it: the midpoint value is above the chord
    e = lambda x: system.upload_energy(S, x)  # noqa: E731
    assert np.all(e(p + h / 2) >= (e(p) + e(p + h)) / 2 - 1e-12)


@settings(max_examples=30)
@given(B=st.lists(positive, min_size=3, max_size=3), f=st.lists(clocks, min_size=3, max_size=3), p=powers)
def test_round_delay_is_the_slowest_device(B, f, p):
    per_device = system.download_time(S) + system.compute_time(S, B, f) + system.upload_time(S, p)
    assert system.round_delay(S, B, f, p) == pytest.approx(per_device.max())


# ---------------------------------------------------------------- both forms of a plan (issue 14)
def _materialised(plan):
    """The same plan with every per-round array copied out in full (no broadcast views)."""
    from types import SimpleNamespace

    return SimpleNamespace(M=plan.M, N=plan.N, K=plan.K, **{k: np.array(getattr(plan, k))
                                                             for k in ("D", "f", "B", "f_hat", "p")})


@pytest.mark.parametrize("plan_of", [
    lambda s: el.Plan.uniform(s, 7, 5, D=30, f=1e9, B=[20, 40], f_hat=4e8, p=0.3),          # all compact
    lambda s: el.Plan(M=3, N=4, D=[10, 20, 30], f=1e9, B=[20, 40], f_hat=4e8, p=0.3),         # D per round
    lambda s: el.Plan(M=2, N=3, D=9, f=1e9, B=[[1, 2], [3, 4], [5, 6]], f_hat=4e8, p=[0.1, 0.2]),  # B per round
    lambda s: el.Plan(M=0, N=3, D=[], f=[], B=[1, 2], f_hat=4e8, p=[[0.1, 0.2], [0.3, 0.4], [0.5, 0.5]]),
])
def test_compact_and_full_arrays_give_the_same_breakdown_and_bound(hand, plan_of):
    from edgelearn import bound

    plan = plan_of(hand)
    full = _materialised(plan)
    a, b = system.breakdown(hand, plan), system.breakdown(hand, full)
    for name in ("pretrain_delay", "pretrain_energy", "download_time", "compute_time", "upload_time",
                 "device_delay", "finetune_delay", "straggler", "broadcast_energy", "compute_energy",
                 "upload_energy", "finetune_energy"):
        x, y = getattr(a, name), getattr(b, name)
        assert x.shape == y.shape and np.allclose(x, y, rtol=1e-14, atol=0), name
    for name in ("total_delay", "total_energy", "pretrain_total_energy", "finetune_total_delay"):
        assert getattr(a, name) == pytest.approx(getattr(b, name), rel=1e-13)
    assert np.allclose(a.cumulative(), b.cumulative(), rtol=1e-13)
    assert np.allclose(bound.batch_sums(plan.D, plan.B), bound.batch_sums(full.D, full.B), rtol=1e-13)


def test_per_round_channels_with_a_compact_plan(hand):
    s = hand.replace(g_up=np.vstack([hand.g_up, 3 * hand.g_up, hand.g_up]))
    plan = el.Plan.uniform(s, 1, 3, p=0.5)
    up = system.breakdown(s, plan).upload_time
    assert up.shape == (3, 2) and np.allclose(up[0], up[2]) and not np.allclose(up[0], up[1])
