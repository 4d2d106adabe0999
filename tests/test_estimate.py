"""edgelearn.estimate against independent computations: scipy's 1-D Wasserstein distance,
closed-form Hessians and variances of small linear models, and the exact problem's Hessian."""
import numpy as np
import pytest
import scipy.stats
from hypothesis import given, settings, strategies as st

torch = pytest.importorskip("torch")
ot = pytest.importorskip("ot")

from edgelearn import estimate as est  # noqa: E402
from edgelearn.exact import digits_problem  # noqa: E402


def _mse(out, y):
    return 0.5 * ((out - y) ** 2).sum(-1).mean()


def _linear_problem(n=200, d=6, seed=0):
    g = torch.Generator().manual_seed(seed)
    X = torch.randn(n, d, generator=g, dtype=torch.float64) * torch.linspace(0.5, 3.0, d, dtype=torch.float64)
    y = X @ torch.randn(d, 1, generator=g, dtype=torch.float64) + 0.3 * torch.randn(n, 1, generator=g, dtype=torch.float64)
    model = torch.nn.Linear(d, 1, bias=False).double()
    return model, X, y


def test_wasserstein_of_a_dataset_with_itself_is_zero():
    X = np.random.default_rng(0).normal(size=(300, 8))
    y = np.arange(300) % 10
    assert est.wasserstein(X, X).value == pytest.approx(0.0, abs=1e-6)
    assert est.wasserstein((X, y), (X, y), label_cost=5.0).value == pytest.approx(0.0, abs=1e-6)


@settings(max_examples=20, deadline=None)
@given(n=st.integers(2, 60), m=st.integers(2, 60), shift=st.floats(-3, 3), seed=st.integers(0, 10_000))
def test_wasserstein_matches_scipy_in_one_dimension(n, m, shift, seed):
    rng = np.random.default_rng(seed)
    a, b = rng.normal(size=n), rng.exponential(size=m) + shift
    assert est.wasserstein(a, b).value == pytest.approx(scipy.stats.wasserstein_distance(a, b), rel=1e-7, abs=1e-9)


def test_wasserstein_of_a_translated_sample_is_the_translation():
    # moving every point by the vector v is an optimal transport plan of cost ||v|| (and no plan is cheaper:
    # W1 >= || mean difference ||)
    X = np.random.default_rng(1).normal(size=(150, 3))
    v = np.array([0.3, -0.4, 1.2])
    assert est.wasserstein(X, X + v).value == pytest.approx(np.linalg.norm(v), rel=1e-9)


def test_wasserstein_subsampling_reports_spread_and_floor():
    rng = np.random.default_rng(2)
    a, b = rng.normal(size=(800, 2)), rng.normal(size=(700, 2)) + [2.0, 0.0]
    w = est.wasserstein(a, b, max_samples=200, repeats=4, seed=0)
    assert abs(w.value - 2.0) < 0.3          # true W1 of two unit Gaussians 2 apart is 2
    assert w.error > 0 and 0 < w.details["floor"] < w.value


def test_sinkhorn_over_estimates_the_exact_distance():
    rng = np.random.default_rng(3)
    a, b = rng.normal(size=(100, 2)), rng.normal(size=(100, 2)) + 1.0
    exact = est.wasserstein(a, b).value
    sk = est.wasserstein(a, b, method="sinkhorn", max_samples=50, repeats=3)
    assert est.wasserstein(a, b, method="sinkhorn").value >= exact - 1e-6
    assert sk.value > 0


def test_wasserstein_rejects_unknown_method():
    with pytest.raises(ValueError, match="method"):
        est.wasserstein(np.zeros(3), np.ones(3), method="kl")


def test_smoothness_of_a_quadratic_is_its_top_eigenvalue():
    model, X, y = _linear_problem()
    H = (X.T @ X / len(X)).numpy()                 # Hessian of 0.5 mean (x^T w - y)^2
    s = est.smoothness(model, (X, y), loss_fn=_mse, max_samples=None)
    assert s.value == pytest.approx(np.linalg.eigvalsh(H)[-1], rel=1e-5)


def test_smoothness_matches_the_exact_hessian_of_softmax_regression():
    p = digits_problem(shift=0.0, lam=0.0 + 1e-9)
    w = np.random.default_rng(0).normal(scale=2.0, size=p.zeros().shape)
    model = torch.nn.Linear(64, 10, bias=False).double()
    with torch.no_grad():
        model.weight.copy_(torch.as_tensor(w))
    s = est.smoothness(model, (p.X_D, p.y_D), max_samples=None, iters=500)
    assert s.value == pytest.approx(p.local_smoothness(w, "D"), rel=1e-3)
    assert s.value <= p.smoothness("D")            # Boehning's global bound


def test_gradient_variance_of_least_squares_matches_closed_form():
    model, X, y = _linear_problem(n=100)
    w = model.weight.detach().T                     # (d, 1)
    G = X * (X @ w - y)                             # per-sample gradients x_i (x_i^T w - y_i)
    expected = float(((G - G.mean(0)) ** 2).sum(1).mean())
    v = est.gradient_variance(model, (X, y), loss_fn=_mse, max_samples=None, chunk=32)
    assert v.value == pytest.approx(expected, rel=1e-9)


def test_rho_tilde_of_a_linear_model_is_the_weight_norm():
    # for l(w, (x, y)) = 0.5 (w^T x - y)^2 the input gradient is (w^T x - y) w; check the max norm
    model, X, y = _linear_problem(n=50)
    w = model.weight.detach()[0]
    expected = float(((X @ w - y[:, 0]).abs() * w.norm()).max())
    r = est.rho_tilde(model, (X, y), loss_fn=_mse, max_samples=None)
    assert r.value == pytest.approx(expected, rel=1e-9)


def test_loss_gap_of_a_zero_classifier_is_log_of_the_class_count():
    model = torch.nn.Linear(4, 10)
    torch.nn.init.zeros_(model.weight), torch.nn.init.zeros_(model.bias)
    X, y = np.random.default_rng(0).normal(size=(30, 4)), np.arange(30) % 10
    assert est.loss_gap(model, (X, y)).value == pytest.approx(np.log(10), rel=1e-6)


def test_constants_feed_a_scenario():
    import edgelearn as el
    p = digits_problem(shift=1.0)
    model = torch.nn.Linear(64, 10, bias=False)
    torch.nn.init.zeros_(model.weight)
    c = est.constants(model, (p.X_D[:200], p.y_D[:200]), (p.X_B[:200], p.y_B[:200]), max_samples=200,
                      w_samples=200, progress=False)
    assert set(c) == {"rho", "rho_hat", "alpha2", "alpha_hat2", "rho_tilde", "wasserstein", "loss_gap"}
    s = el.scenarios.mnist().replace(gamma=min(0.01, c.max_gamma), **c)
    assert s.wasserstein == c["wasserstein"] and "±" in c.table()


def test_gradient_trace_measures_the_full_gradient_and_takes_sgd_steps():
    # least squares, one pre-training step: the first record is ||X^T (X w0 - y)/n||^2 and the
    # step moves w by -gamma times a mini-batch gradient (so the loss on a quadratic changes)
    model, X, y = _linear_problem(n=64)
    w0 = model.weight.detach().clone()
    g = X.T @ (X @ w0.T - y) / len(X)
    tr = est.gradient_trace(model, (X, y), [(X, y)], M=1, N=1, D=64, B=[64], gamma=0.01, loss_fn=_mse,
                            eval_samples=None, progress=False)
    assert tr.rounds.tolist() == [0, 1]
    assert tr.grad_norm2[0] == pytest.approx(float((g ** 2).sum()), rel=1e-9)
    assert not torch.equal(model.weight.detach(), w0)
