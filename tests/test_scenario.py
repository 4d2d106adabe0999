"""Scenario: validation with clear errors, replace(), presets."""
import numpy as np
import pytest

import edgelearn as el
from conftest import hand_scenario


def test_per_device_scalar_is_broadcast_to_K(hand):
    assert hand.B_max.shape == (2,) and np.all(hand.B_max == 400)


def test_negative_power_names_field_index_value_and_range(hand):
    with pytest.raises(ValueError, match=r"Scenario\.P_max\[1\] = -0\.5 W: must be > 0"):
        hand.replace(P_max=[1.0, -0.5])


def test_wrong_length_array_is_rejected(hand):
    with pytest.raises(ValueError, match=r"Scenario\.phi_hat has shape \(3,\): .*\(K,\) = \(2,\)"):
        hand.replace(phi_hat=[1e-27, 1e-27, 1e-27])


@pytest.mark.parametrize("value", [np.nan, np.inf])
def test_non_finite_values_are_rejected(hand, value):
    with pytest.raises(ValueError, match="Scenario.E0 = .*must be finite"):
        hand.replace(E0=value)


def test_learning_rate_above_theorem_limit_is_rejected(hand):
    # rho_hat = 20 => gamma must be <= 1/20 = 0.05
    with pytest.raises(ValueError, match=r"Scenario\.gamma = 0\.06: must be <= min\(1/rho, 1/rho_hat\) = 0\.05"):
        hand.replace(gamma=0.06)


def test_batch_limit_below_one_sample_is_rejected(hand):
    with pytest.raises(ValueError, match=r"Scenario\.D_max = 0\.5 samples: must be >= 1"):
        hand.replace(D_max=0.5)


def test_channel_per_round_must_end_with_K(hand):
    with pytest.raises(ValueError, match=r"Scenario\.g_up has shape \(4, 3\)"):
        hand.replace(g_up=np.ones((4, 3)))
    per_round = hand.replace(g_up=np.ones((4, 2)) * 1e-5)
    assert per_round.per_round_channels and per_round.max_channel_rounds == 4


def test_unknown_field_in_replace_is_rejected(hand):
    with pytest.raises(ValueError, match="no field"):
        hand.replace(P_maximum=1.0)


def test_replace_returns_a_new_equal_except_for_the_change(hand):
    other = hand.replace(E0=60.0)
    assert other.E0 == 60.0 and hand.E0 == 50.0
    assert other != hand and other.replace(E0=50.0) == hand
    assert hash(other.replace(E0=50.0)) == hash(hand)


def test_arrays_are_read_only(hand):
    with pytest.raises(ValueError):
        hand.P_max[0] = 3.0


def test_presets_carry_the_papers_stated_values():
    s = el.scenarios.mnist()
    assert (s.K, s.gamma, s.beta, s.n_flop, s.tau0, s.E0) == (3, 0.01, 0.2e6, 1e6, 1000.0, 300.0)
    assert np.allclose(s.phi_hat, [1.09e-27, 1.56e-27, 2.34e-27]) and s.D_max == 700
    c = el.scenarios.cifar()
    assert (c.beta, c.n_flop, c.tau0, c.E0, c.f_max, c.D_max) == (24e6, 4e9, 3500.0, 2700.0, 4e9, 500)


def test_preset_channels_depend_on_seed_and_have_the_papers_path_loss():
    a, b = el.scenarios.mnist(seed=0), el.scenarios.mnist(seed=1)
    assert not np.array_equal(a.g_up, b.g_up)
    assert a == el.scenarios.mnist(seed=0)
    g_up, _ = el.scenarios.rayleigh_gains(K=20000, seed=3)
    # |h|^2 is exponential with unit mean: the sample mean of 20000 draws is within 3% of 1e-5
    assert abs(g_up.mean() / 1e-5 - 1) < 0.03


def test_describe_lists_every_field_with_symbol_and_unit():
    rows = el.Scenario.describe()
    assert [r["field"] for r in rows] == el.Scenario.field_names()
    assert {r["field"]: r["unit"] for r in rows}["P_max"] == "W"


# ---------------------------------------------------------------- types (issue 14)
@pytest.mark.parametrize("field, value, message", [
    ("gamma", "0.01", r"Scenario\.gamma = '0\.01' \(str\): must be a real number"),
    ("eta", True, r"Scenario\.eta = True \(bool\): must be a real number"),
    ("gamma", None, r"Scenario\.gamma = None \(NoneType\): must be a real number"),
    ("gamma", 1 + 2j, r"Scenario\.gamma = \(1\+2j\) \(complex\): must be a real number"),
    ("K", None, r"Scenario\.K = None \(NoneType\): must be a whole number in \[1, 1,000,000\]"),
    ("K", [1, 2], r"Scenario\.K = \[1, 2\] \(list of int\): must be a whole number"),
    ("K", "3", r"Scenario\.K = '3' \(str\): must be a whole number"),
    ("K", np.True_, r"Scenario\.K = .*True.*: must be a whole number"),
    ("P_max", ["a", 1], r"Scenario\.P_max = \['a', 1\] \(list of int/str\): .*not of strings"),
    ("P_max", [1.0, None], r"Scenario\.P_max = \[1\.0, None\] .*found None"),
    ("P_max", [True, False], r"Scenario\.P_max = .*not of booleans"),
    ("g_up", {"a": 1}, r"Scenario\.g_up = \{'a': 1\} \(dict\)"),
])
def test_wrong_types_are_type_errors_naming_field_value_and_type(hand, field, value, message):
    with pytest.raises(TypeError, match=message) as err:
        hand.replace(**{field: value})
    assert isinstance(err.value, ValueError)     # InputTypeError is both, so `except ValueError` still works


@pytest.mark.parametrize("value", [2.6e19, 4.2e9, 10**6 + 1, 0, -3, 2.5, np.inf, np.nan])
def test_K_out_of_range_is_a_clear_value_error(hand, value):
    with pytest.raises(ValueError, match=r"Scenario\.K = .*: must be a whole number in \[1, 1,000,000\]"):
        hand.replace(K=value)


def test_a_ragged_array_is_a_clear_value_error(hand):
    with pytest.raises(ValueError, match=r"Scenario\.g_up = .*rectangular array"):
        hand.replace(g_up=[[1e-5, 1e-5], [1e-5]])


def test_numpy_and_whole_float_inputs_are_accepted(hand):
    s = hand.replace(K=np.int64(2), E0=np.float32(60), P_max=np.array([1, 2]), D_max=500.0)
    assert s.K == 2 and isinstance(s.K, int) and s.E0 == 60.0 and s.P_max.tolist() == [1.0, 2.0]
    assert hand.replace(K=2.0).K == 2
