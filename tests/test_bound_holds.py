"""Theorem 3.1 checked on a problem whose constants are known exactly (edgelearn.exact):
every constant is a valid bound, every step of the proof holds, and the bound (34) holds."""
import numpy as np
import pytest

pytest.importorskip("sklearn")
pytest.importorskip("ot")

from edgelearn.exact import digits_problem  # noqa: E402


@pytest.fixture(scope="module")
def prob():
    return digits_problem(shift=1.0, lam=0.01, K=3, seed=0)


@pytest.fixture(scope="module")
def gamma(prob):
    return prob.max_gamma()


def _random_ws(prob, count=5, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.normal(scale=s, size=prob.zeros().shape) for s in np.geomspace(0.1, 10, count)]


def test_smoothness_bound_dominates_the_hessian_everywhere(prob):
    for w in _random_ws(prob):
        for which in "DB":
            assert prob.local_smoothness(w, which) <= prob.smoothness(which) + 1e-12


def test_variance_bound_dominates_the_exact_variance_everywhere(prob):
    for w in _random_ws(prob):
        for which in "DB":
            assert prob.variance(w, which) <= prob.variance_bound(which)


def test_certified_loss_floor_is_below_the_loss(prob):
    L_inf = prob.loss_inf("B")
    for w in _random_ws(prob) + [prob.zeros()]:
        assert prob.loss(w, "B") >= L_inf


def test_kantorovich_rubinstein_step_holds_at_any_w(prob):
    # (48)-(51): L(w, B) - L(w, D) <= rho-tilde(w) W(P-hat, P) for every w
    for w in _random_ws(prob, count=8, seed=3):
        assert abs(prob.loss(w, "B") - prob.loss(w, "D")) <= prob.local_rho_tilde(w) * prob.wasserstein


def test_sgd_never_leaves_the_ball_of_radius_R(prob, gamma):
    run = prob.run(100, 100, 4, [2, 2, 2], gamma, seed=1)
    assert run.max_norm <= prob.radius(gamma)


@pytest.mark.parametrize("which,batch", [("D", 8), ("B", [2, 3, 4])])
def test_one_step_descent_inequality_holds(prob, gamma, which, batch):
    w = prob.run(30, 0, 8, [1, 1, 1], gamma, seed=2).w_M
    chk = prob.step_check(w, which, batch, gamma, draws=200, seed=0)
    assert chk.pathwise                      # (42)/(45): smoothness inequality, draw by draw
    assert chk.lhs + 3 * chk.lhs_se <= chk.rhs   # (43)/(46) in expectation


@pytest.mark.parametrize("M,N", [(50, 50), (200, 20), (20, 200), (0, 100), (100, 0)])
def test_bound_holds_on_the_exact_problem(prob, gamma, M, N):
    chk = prob.check_theorem(M, N, 8, [4, 4, 4], gamma, seeds=range(5))
    for name, (lhs, se, rhs) in chk.rows.items():
        assert lhs + 3 * se <= rhs, name
