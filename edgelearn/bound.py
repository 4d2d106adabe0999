"""The convergence bound Upsilon of Theorem 3.1, eq. (34), and its four terms.

    Upsilon = [ gamma (rho alpha^2 Lambda + rho-hat alpha-hat^2 K Omega)
                + 2 rho-tilde W / gamma + 2 (L(w0) - L_inf) / gamma ] / (M + N)

with Lambda = sum_m 1/D~^(m) and Omega = sum_n 1/B~_tot^(n).  Conventions
(``../shared/paper/NOTES.md``): N = 0 gives Omega = 0 (pre-training only);
M = 0 gives Lambda = 0 and *no* distribution-shift term (training starts on the
task data, and ``loss_gap`` stands for L(w0, B) - L_inf).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .plan import distinct_rows

__all__ = ["BoundTerms", "terms", "upsilon", "upsilon_from_sums", "batch_sums"]


@dataclass(frozen=True)
class BoundTerms:
    """The four terms of (34), each already divided by (M + N); ``total`` is Upsilon."""

    pretrain_variance: float   # gamma rho alpha^2 Lambda / (M+N)
    finetune_variance: float   # gamma rho-hat alpha-hat^2 K Omega / (M+N)
    shift: float               # 2 rho-tilde W / (gamma (M+N)), zero when M = 0
    initial_gap: float         # 2 (L(w0) - L_inf) / (gamma (M+N))

    @property
    def total(self) -> float:
        return self.pretrain_variance + self.finetune_variance + self.shift + self.initial_gap

    def as_dict(self) -> dict[str, float]:
        return dict(pretrain_variance=self.pretrain_variance, finetune_variance=self.finetune_variance,
                    shift=self.shift, initial_gap=self.initial_gap)


def batch_sums(D, B):
    """Lambda = sum_m 1/D~^(m) and Omega = sum_n 1/B~_tot^(n) of Theorem 3.1.

    ``D`` has shape (M,), ``B`` shape (N, K); B~_tot^(n) = sum_k B~_k^(n).  A
    round-invariant stage (a broadcast view, see :class:`~edgelearn.Plan`) costs O(1).
    """
    (D, nD), (B, nB) = distinct_rows(np.asarray(D, float)), distinct_rows(np.asarray(B, float))
    Lam = float(nD * np.sum(1.0 / D)) if D.size else 0.0
    Om = float(nB * np.sum(1.0 / B.sum(axis=-1))) if B.shape[0] else 0.0
    return Lam, Om


def _parts(scenario, M, N, Lam, Om):
    M = np.asarray(M, float)
    N = np.asarray(N, float)
    if np.any(M < 0) or np.any(N < 0) or np.any(M + N < 1):
        raise ValueError(f"rounds M = {M}, N = {N}: need M, N >= 0 and M + N >= 1")
    R = M + N
    g = scenario.gamma
    pre = g * scenario.rho * scenario.alpha2 * np.asarray(Lam, float) / R
    fine = g * scenario.rho_hat * scenario.alpha_hat2 * scenario.K * np.asarray(Om, float) / R
    shift = np.where(M > 0, 2.0 * scenario.rho_tilde * scenario.wasserstein / g, 0.0) / R
    gap = 2.0 * scenario.loss_gap / g / R
    return pre, fine, shift, gap


def upsilon_from_sums(scenario, M, N, Lam, Om):
    """Upsilon of (34) from the rounds and the batch sums Lambda, Omega.

    Broadcasts over numpy arrays (M, N, Lambda, Omega may be grids), which is what
    a solver needs; rounds may be real numbers there.
    """
    pre, fine, shift, gap = _parts(scenario, M, N, Lam, Om)
    return pre + fine + shift + gap


def terms(scenario, plan) -> BoundTerms:
    """The four terms of Upsilon (34) for ``plan``."""
    Lam, Om = batch_sums(plan.D, plan.B)
    return BoundTerms(*(float(x) for x in _parts(scenario, plan.M, plan.N, Lam, Om)))


def upsilon(scenario, plan) -> float:
    """Upsilon(M, N, {D~^(m)}, {B~_k^(n)}) of (34): the bound on the average squared gradient norm."""
    return terms(scenario, plan).total
