"""A problem where every constant of Theorem 3.1 is known exactly: L2-regularised softmax
regression on the UCI digits (``sklearn.datasets.load_digits``), trained in two stages.

The server pre-trains on half of the digits (data D, distribution P) by mini-batch SGD,
eq. (3); then K devices fine-tune by FedSGD, eqs. (7)-(9), on the other half (data B,
distribution P-hat), whose images are shifted sideways by ``shift`` pixels to create a
distribution shift.  Each device draws its mini-batch with replacement from B, so every
device's gradient is an unbiased estimate of grad L(w, B), as (27) requires.

The per-sample loss is l(W, (x, y)) = -log softmax(W x)_y + (lam/2) ||W||_F^2 with W of
shape (10, 64) and ||x|| <= 1.  Its constants, each valid for every W the runs can reach:

* rho  <= lam_max(X^T X / n) / 2 + lam (Boehning's bound diag(p) - p p^T <= I/2), eqs. (22)-(23);
* alpha^2 <= 2 mean_i ||x_i||^2, since ||p - e_y||^2 <= 2, eqs. (28)-(29);
* SGD with gamma lam <= 1 keeps ||W||_F <= R = max(||W0||_F, sqrt(2) x_max / lam), and on that
  ball rho-tilde = sqrt(2) R for the ground distance ||x - x'|| + 2 x_max 1[y != y'], eq. (30);
* W(P-hat, P) between the two empirical distributions by exact optimal transport, eq. (31);
* L_inf = min_W L(W, B) by L-BFGS, certified by strong convexity: L(W*) - ||grad||^2 / (2 lam).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

__all__ = ["ExactProblem", "Run", "StepCheck", "TheoremCheck", "digits_problem"]

N_CLASSES = 10


def _one_thread(fn):
    """Run ``fn`` with single-threaded BLAS: on these small matrices threads only add overhead
    (and fight with other processes for the cores)."""
    import functools

    @functools.wraps(fn)
    def wrapped(*args, **kwargs):
        from threadpoolctl import threadpool_limits
        with threadpool_limits(limits=1, user_api="blas"):
            return fn(*args, **kwargs)
    return wrapped


def _softmax(Z):
    Z = Z - Z.max(axis=1, keepdims=True)
    E = np.exp(Z)
    return E / E.sum(axis=1, keepdims=True)


@dataclass(frozen=True)
class Run:
    """One run of the two-stage SGD: M pre-training rounds, then N fine-tuning rounds.

    ``grad_norm2[r]`` is ||grad L(w^(r), D^(r))||^2 with the full gradient of the stage's loss
    (on D for r < M, on B after), the quantity Theorem 3.1 averages.  ``loss_D`` holds
    L(w^(m), D) for m = 0..M, ``loss_B`` holds L(w-hat^(n), B) for n = 0..N.
    """

    M: int
    N: int
    grad_norm2: np.ndarray
    loss_D: np.ndarray
    loss_B: np.ndarray
    w_M: np.ndarray = field(repr=False)
    w_final: np.ndarray = field(repr=False)
    max_norm: float = 0.0

    @property
    def avg_grad_norm2(self) -> float:
        """The left-hand side of (34) for this run: the average of ``grad_norm2``."""
        return float(self.grad_norm2.mean())


@dataclass(frozen=True)
class StepCheck:
    """One SGD step checked against the one-step inequality (46) (pre-training) or (43) (fine-tuning).

    ``lhs`` is the Monte-Carlo mean of L(w_next) - L(w) over ``draws`` mini-batches, ``lhs_se``
    its standard error, ``rhs`` the inequality's right-hand side; ``pathwise`` says whether the
    smoothness inequality (45)/(42) held for every single draw.
    """

    lhs: float
    lhs_se: float
    rhs: float
    pathwise: bool

    @property
    def holds(self) -> bool:
        return self.lhs <= self.rhs


@dataclass(frozen=True)
class TheoremCheck:
    """Both sides of Lemma 3.1 (32), the pre-training sum (47), the shift step (48), Lemma 3.2 (33)
    and Theorem 3.1 (34), averaged over ``runs`` seeds; ``*_se`` are standard errors."""

    rows: dict

    def table(self) -> str:
        lines = [f"{'inequality':<28}{'left side':>14}{'± s.e.':>10}{'right side':>14}  holds"]
        for name, (lhs, se, rhs) in self.rows.items():
            lines.append(f"{name:<28}{lhs:>14.5g}{se:>10.2g}{rhs:>14.5g}  {lhs <= rhs}")
        return "\n".join(lines)

    def __repr__(self) -> str:
        return self.table()

    @property
    def all_hold(self) -> bool:
        return all(lhs <= rhs for lhs, _, rhs in self.rows.values())


@dataclass(frozen=True, eq=False)
class ExactProblem:
    """Softmax regression on two datasets D (server) and B (devices); see the module doc."""

    X_D: np.ndarray = field(repr=False)
    y_D: np.ndarray = field(repr=False)
    X_B: np.ndarray = field(repr=False)
    y_B: np.ndarray = field(repr=False)
    lam: float = 1e-3
    K: int = 3
    shift: float = 0.0

    def __post_init__(self):
        if not self.lam > 0:
            raise ValueError(f"lam = {self.lam}: must be > 0 (the constants rely on strong convexity)")
        if int(self.K) != self.K or self.K < 1:
            raise ValueError(f"K = {self.K}: must be a whole number >= 1")

    # ------------------------------------------------------------ data and loss
    def data(self, which: str):
        if which == "D":
            return self.X_D, self.y_D
        if which == "B":
            return self.X_B, self.y_B
        raise ValueError(f"which = {which!r}: must be 'D' (server data) or 'B' (device data)")

    @property
    def dim(self) -> int:
        return N_CLASSES * self.X_D.shape[1]

    def zeros(self) -> np.ndarray:
        return np.zeros((N_CLASSES, self.X_D.shape[1]))

    def loss(self, w, which: str, idx=None) -> float:
        """L(w, S): mean cross-entropy on S (or on the rows ``idx``) plus (lam/2) ||w||^2."""
        X, y = self.data(which)
        if idx is not None:
            X, y = X[idx], y[idx]
        Z = X @ w.T
        Z = Z - Z.max(axis=1, keepdims=True)
        lse = np.log(np.exp(Z).sum(axis=1))
        return float(np.mean(lse - Z[np.arange(len(y)), y]) + 0.5 * self.lam * np.sum(w * w))

    def loss_and_grad(self, w, which: str):
        """L(w, S) and grad L(w, S) from one pass over S."""
        X, y = self.data(which)
        Z = X @ w.T
        Z = Z - Z.max(axis=1, keepdims=True)
        E = np.exp(Z)
        s = E.sum(axis=1)
        rows = np.arange(len(y))
        L = float(np.mean(np.log(s) - Z[rows, y]) + 0.5 * self.lam * np.sum(w * w))
        P = E / s[:, None]
        P[rows, y] -= 1.0
        return L, P.T @ X / len(y) + self.lam * w

    def per_sample_loss(self, w, which: str):
        X, y = self.data(which)
        Z = X @ w.T
        Zm = Z.max(axis=1, keepdims=True)
        lse = np.log(np.exp(Z - Zm).sum(axis=1)) + Zm[:, 0]
        return lse - Z[np.arange(len(y)), y] + 0.5 * self.lam * np.sum(w * w)

    def grad(self, w, which: str, idx=None) -> np.ndarray:
        """grad L(w, S) (or the mini-batch gradient on rows ``idx``, repeats allowed), shape (10, 64)."""
        X, y = self.data(which)
        if idx is not None:
            X, y = X[idx], y[idx]
        P = _softmax(X @ w.T)
        P[np.arange(len(y)), y] -= 1.0
        return P.T @ X / len(y) + self.lam * w

    def per_sample_grads(self, w, which: str) -> np.ndarray:
        X, y = self.data(which)
        P = _softmax(X @ w.T)
        P[np.arange(len(y)), y] -= 1.0
        return P[:, :, None] * X[:, None, :] + self.lam * w

    def hessian(self, w, which: str) -> np.ndarray:
        """The exact Hessian of L(w, S) w.r.t. vec(w) (row-major), shape (640, 640)."""
        X, _ = self.data(which)
        n, f = X.shape
        P = _softmax(X @ w.T)
        V = (P[:, :, None] * X[:, None, :]).reshape(n, -1)           # rows p_i (x) x_i
        H = -V.T @ V                                                   # - sum_i (p_i p_i^T) (x) x_i x_i^T
        for a in range(N_CLASSES):                                     # + sum_i diag(p_i) (x) x_i x_i^T
            H[a * f:(a + 1) * f, a * f:(a + 1) * f] += (X * P[:, a:a + 1]).T @ X
        return H / n + self.lam * np.eye(self.dim)

    # ------------------------------------------------------------ constants (exact or certified)
    def smoothness(self, which: str) -> float:
        """rho (D) or rho-hat (B) of Assumption 2, valid for every w: lam_max(X^T X/n)/2 + lam."""
        X, _ = self.data(which)
        return 0.5 * float(np.linalg.eigvalsh(X.T @ X / len(X))[-1]) + self.lam

    def local_smoothness(self, w, which: str) -> float:
        """The Hessian's spectral norm at w (<= :meth:`smoothness`)."""
        return float(np.abs(np.linalg.eigvalsh(self.hessian(w, which))).max())

    def variance_bound(self, which: str) -> float:
        """alpha^2 (D) or alpha-hat^2 (B) of Assumption 3, valid for every w: 2 mean ||x_i||^2."""
        X, _ = self.data(which)
        return 2.0 * float(np.mean(np.sum(X * X, axis=1)))

    def variance(self, w, which: str) -> float:
        """The exact per-sample gradient variance at w: mean_i ||g_i - g_bar||^2."""
        G = self.per_sample_grads(w, which).reshape(len(self.data(which)[0]), -1)
        return float(np.mean(np.sum((G - G.mean(0)) ** 2, axis=1)))

    @cached_property
    def x_max(self) -> float:
        return float(max(np.linalg.norm(self.X_D, axis=1).max(), np.linalg.norm(self.X_B, axis=1).max()))

    @property
    def label_cost(self) -> float:
        """kappa of the ground distance ||x - x'|| + kappa 1[y != y']: twice the largest input norm."""
        return 2.0 * self.x_max

    def radius(self, gamma: float, w0=None) -> float:
        """R: every SGD iterate satisfies ||w||_F <= R when gamma lam <= 1 (mini-batch gradients
        of the cross-entropy have norm <= sqrt(2) x_max)."""
        self._check_gamma(gamma)
        n0 = 0.0 if w0 is None else float(np.linalg.norm(w0))
        return max(n0, np.sqrt(2.0) * self.x_max / self.lam)

    def rho_tilde(self, gamma: float, w0=None) -> float:
        """rho-tilde of Assumption 4 on the ball ||w||_F <= R that SGD never leaves: sqrt(2) R."""
        return np.sqrt(2.0) * self.radius(gamma, w0)

    def local_rho_tilde(self, w) -> float:
        """rho-tilde at one w: sqrt(2) ||w||_2 (spectral norm) bounds how fast l(w, d) moves with d
        under the ground distance (input gradient W^T (p - e_y); a label change moves the loss by
        at most sqrt(2) ||w||_2 x_max = ||w||_2 kappa / sqrt(2))."""
        return np.sqrt(2.0) * float(np.linalg.norm(w, 2))

    @cached_property
    def wasserstein(self) -> float:
        """W(P-hat, P) between the two empirical distributions, exact (``ot.emd2``)."""
        from .estimate import wasserstein
        return wasserstein((self.X_D, self.y_D), (self.X_B, self.y_B), label_cost=self.label_cost,
                           max_samples=None).value

    @_one_thread
    def loss_inf(self, which: str = "B") -> float:
        """A certified lower bound on min_w L(w, S) (Assumption 1): L(w*) - ||grad L(w*)||^2 / (2 lam)."""
        from scipy.optimize import minimize
        shape = self.zeros().shape

        def f(v):
            w = v.reshape(shape)
            return self.loss(w, which), self.grad(w, which).ravel()

        res = minimize(f, np.zeros(self.dim), jac=True, method="L-BFGS-B", options=dict(maxiter=5000, gtol=1e-10))
        w = res.x.reshape(shape)
        return self.loss(w, which) - float(np.sum(self.grad(w, which) ** 2)) / (2 * self.lam)

    @cached_property
    def _loss_inf_B(self) -> float:
        return self.loss_inf("B")

    def max_gamma(self) -> float:
        """Largest step Theorem 3.1 allows: min(1/rho, 1/rho-hat) (and gamma lam <= 1)."""
        return min(1.0 / self.smoothness("D"), 1.0 / self.smoothness("B"), 1.0 / self.lam)

    def _check_gamma(self, gamma):
        if not 0 < gamma <= self.max_gamma() * (1 + 1e-12):
            raise ValueError(f"gamma = {gamma}: must be in (0, {self.max_gamma():.4g}] "
                             f"(min(1/rho, 1/rho_hat, 1/lam), Theorem 3.1)")

    def constants(self, gamma: float, w0=None, M: int = 1) -> dict:
        """The seven learning constants, as ``Scenario.replace(**...)`` takes them.

        With M = 0 (fine-tuning only) ``loss_gap`` is L(w0, B) - L_inf (the project's convention)."""
        w0 = self.zeros() if w0 is None else w0
        gap = self.loss(w0, "D" if M > 0 else "B") - self._loss_inf_B
        return dict(rho=self.smoothness("D"), rho_hat=self.smoothness("B"),
                    alpha2=self.variance_bound("D"), alpha_hat2=self.variance_bound("B"),
                    rho_tilde=self.rho_tilde(gamma, w0), wasserstein=self.wasserstein, loss_gap=gap)

    def scenario(self, gamma: float, base=None, w0=None, M: int = 1):
        """``base`` (default: the MNIST preset) with this problem's K, gamma and exact constants."""
        from . import scenarios
        base = scenarios.mnist() if base is None else base
        if base.K != self.K:
            raise ValueError(f"base scenario has K = {base.K} devices but the problem has K = {self.K}")
        return base.replace(gamma=gamma, **self.constants(gamma, w0, M))

    # ------------------------------------------------------------ the two-stage SGD
    def run(self, M: int, N: int, D, B, gamma: float, seed: int = 0, w0=None) -> Run:
        """Two-stage SGD: M steps of (3) on D with batches D^(m), then N FedSGD rounds (7)-(9) on B.

        ``D``: one batch size or M of them; ``B``: K batch sizes (one per device) or an (N, K) array.
        """
        return self._run(M, N, D, B, gamma, seed, w0)

    @_one_thread
    def _run(self, M, N, D, B, gamma, seed, w0) -> Run:
        self._check_gamma(gamma)
        D = np.broadcast_to(np.asarray(D, int), (M,)) if M else np.zeros(0, int)
        B = np.broadcast_to(np.asarray(B, int), (N, self.K)) if N else np.zeros((0, self.K), int)
        if np.any(D < 1) or np.any(B < 1):
            raise ValueError("batch sizes D, B must be whole numbers >= 1")
        from .sgd import two_stage
        st = {"w": self.zeros() if w0 is None else np.array(w0, float)}
        st["max_norm"] = float(np.linalg.norm(st["w"]))
        g2, lD, lB, w_M = [], [], [], []

        def end_pretraining():
            lD.append(self.loss(st["w"], "D"))
            w_M.append(st["w"].copy())

        def before(r):                     # measure ||grad L(w^(r))||^2 of the stage's full loss
            if r == M:
                end_pretraining()
            L, g = self.loss_and_grad(st["w"], "D" if r < M else "B")
            (lD if r < M else lB).append(L)
            g2.append(float(np.sum(g * g)))

        def step(g):
            st["w"] = st["w"] - gamma * g
            st["max_norm"] = max(st["max_norm"], float(np.linalg.norm(st["w"])))

        def pretrain(r, idx):                                                      # (3)
            step(self.grad(st["w"], "D", idx))

        def finetune(r, idxs, wts):                                                # (7)-(9)
            step(sum(wk * self.grad(st["w"], "B", i) for wk, i in zip(wts, idxs)))

        two_stage(D, B, len(self.y_D), [len(self.y_B)] * self.K, pretrain, finetune,
                  rng=np.random.default_rng(seed), before=before)
        if not w_M:
            end_pretraining()
        lB.append(self.loss(st["w"], "B"))
        w, max_norm, w_M = st["w"], st["max_norm"], w_M[0]
        return Run(M, N, np.array(g2), np.array(lD), np.array(lB), w_M, w, max_norm)

    @_one_thread
    def step_check(self, w, which: str, batch, gamma: float, draws: int = 400, seed: int = 0) -> StepCheck:
        """Check one step: (46) for pre-training (``which='D'``, ``batch`` an int) or (43) for a
        FedSGD round (``which='B'``, ``batch`` K device batches), by Monte Carlo over ``draws``."""
        self._check_gamma(gamma)
        rng = np.random.default_rng(seed)
        n = len(self.data(which)[1])
        g = self.grad(w, which)
        L0 = self.loss(w, which)
        g2 = float(np.sum(g * g))
        if which == "D":
            rho, var = self.smoothness("D"), self.variance_bound("D") / int(batch)
        else:
            batch = np.asarray(batch, int)
            rho, var = self.smoothness("B"), self.K * self.variance_bound("B") / batch.sum()
        diffs, ok = [], True
        for _ in range(draws):
            if which == "D":
                gt = self.grad(w, "D", rng.integers(0, n, int(batch)))
            else:
                gt = sum(b / batch.sum() * self.grad(w, "B", rng.integers(0, n, b)) for b in batch)
            w1 = w - gamma * gt
            d = self.loss(w1, which) - L0
            ok &= d <= float(np.sum(g * (w1 - w))) + rho / 2 * float(np.sum((w1 - w) ** 2)) + 1e-12  # (45)/(42)
            diffs.append(d)
        diffs = np.array(diffs)
        rhs = -gamma * g2 + rho * gamma ** 2 / 2 * (g2 + var)
        return StepCheck(float(diffs.mean()), float(diffs.std(ddof=1) / np.sqrt(draws)), float(rhs), bool(ok))

    def check_theorem(self, M: int, N: int, D, B, gamma: float, seeds=range(20), w0=None) -> TheoremCheck:
        """Both sides of (47), (48), Lemma 3.2 (33), Lemma 3.1 (32) and Theorem 3.1 (34), averaged
        over runs with the given seeds (the expectations of the paper become sample means)."""
        from .bound import batch_sums, upsilon_from_sums
        runs = [self.run(M, N, D, B, gamma, seed=s, w0=w0) for s in seeds]
        c = self.constants(gamma, w0, M)
        Dv = np.broadcast_to(np.asarray(D, float), (M,)) if M else np.zeros(0)
        Bv = np.broadcast_to(np.asarray(B, float), (N, self.K)) if N else np.zeros((0, self.K))
        Lam, Om = batch_sums(Dv, Bv)          # Lambda and Omega of (34), from their one home
        k = len(runs)

        def ms(x):
            x = np.asarray(x, float)
            return float(x.mean()), float(x.std(ddof=1) / np.sqrt(k)) if k > 1 else float("nan")

        rows = {}
        cD = gamma * (1 - c["rho"] * gamma / 2)
        cB = gamma * (1 - c["rho_hat"] * gamma / 2)
        if M:
            pre_sum = ms([r.grad_norm2[:M].sum() for r in runs])[0]
            lhs = ms([r.loss_D[-1] - r.loss_D[0] for r in runs])
            rows["(47) pre-training"] = (*lhs, -cD * pre_sum + c["rho"] * c["alpha2"] * gamma ** 2 / 2 * Lam)
            lhs = ms([r.loss_B[0] - r.loss_D[-1] for r in runs])
            rows["(48) distribution shift"] = (*lhs, c["rho_tilde"] * c["wasserstein"])
            lhs = ms([r.loss_B[0] for r in runs])
            rows["(33) Lemma 3.2"] = (*lhs, -cD * pre_sum + c["rho"] * c["alpha2"] * gamma ** 2 / 2 * Lam
                                      + runs[0].loss_D[0] + c["rho_tilde"] * c["wasserstein"])
        if N:
            fine_sum = ms([r.grad_norm2[M:].sum() for r in runs])[0]
            lhs = ms([r.loss_B[-1] - r.loss_B[0] for r in runs])
            rows["(32) Lemma 3.1"] = (*lhs, -cB * fine_sum + c["rho_hat"] * c["alpha_hat2"] * self.K * gamma ** 2 / 2 * Om)
        s = self.scenario(gamma, w0=w0, M=M)
        rows["(34) Theorem 3.1"] = (*ms([r.avg_grad_norm2 for r in runs]), float(upsilon_from_sums(s, M, N, Lam, Om)))
        return TheoremCheck(rows)


def digits_problem(shift: float = 1.0, lam: float = 1e-3, K: int = 3, seed: int = 0) -> ExactProblem:
    """The UCI digits split at random into two halves: D (server) as is, B (devices) with every
    image moved ``shift`` pixels to the right (linear interpolation).  Inputs are scaled to
    ||x|| <= 1 (pixel values / 16 / 8)."""
    from scipy.ndimage import shift as nd_shift
    from sklearn.datasets import load_digits
    if not 0 <= shift <= 4:
        raise ValueError(f"shift = {shift}: must be in [0, 4] pixels")
    digits = load_digits()
    images, y = digits.images / 16.0, digits.target.astype(int)
    perm = np.random.default_rng(seed).permutation(len(y))
    iD, iB = np.sort(perm[: len(y) // 2]), np.sort(perm[len(y) // 2:])
    imB = images[iB]
    if shift:
        imB = np.stack([nd_shift(im, (0, shift), order=1, mode="constant", cval=0.0) for im in imB])
    XD = images[iD].reshape(len(iD), -1) / 8.0
    XB = imB.reshape(len(iB), -1) / 8.0
    return ExactProblem(XD, y[iD], XB, y[iB], lam=lam, K=K, shift=float(shift))
