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
