"""Pieces shared by every solver: schemes, the infeasible-budget error, scaled units,
the round-invariant constants of a scenario, and turning solver variables into a :class:`~edgelearn.Plan`.

Scaled units (the solver never sees raw SI numbers): time in units of the delay
budget tau0, energy in units of the energy budget E0, rounds of each stage in units of a
typical number of rounds of that stage, samples in those units times D_max.  With
these, every coefficient of the convex programs is of order one.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .. import system as _system

__all__ = ["SCHEMES", "InfeasibleBudgetError", "Constants", "constants", "plan_from_totals",
           "power_from_upload_time", "upload_time_at_power", "symmetrize"]

#: The six designs of Section V: what each one fixes.
SCHEMES = {
    "proposed": "optimise everything (Algorithm 1)",
    "fixed_power": "p_k = P_k^max, optimise the rest",
    "fixed_frequency": "f = f^max and f-hat_k = f-hat_k^max, optimise the rest",
    "fixed_batch": "D = D^max and B_k = B_k^max, optimise the rest",
    "pretrain_only": "N = 0: pre-training at the server only",
    "finetune_only": "M = 0: federated fine-tuning from scratch",
}


class InfeasibleBudgetError(ValueError):
    """No plan meets a budget: carries the budget's name, the minimum it needs and the given value."""

    def __init__(self, budget: str, needed: float, given: float, unit: str, why: str = ""):
        self.budget, self.needed, self.given, self.unit = budget, float(needed), float(given), unit
        msg = (f"{budget} = {given:.6g} {unit} is infeasible: at least {needed:.6g} {unit} is needed"
               + (f" ({why})" if why else ""))
        super().__init__(msg)


def check_scheme(scheme: str) -> str:
    if scheme not in SCHEMES:
        raise ValueError(f"scheme = {scheme!r}: must be one of {sorted(SCHEMES)}")
    return scheme


def upload_time_at_power(s, p):
    """Upload time beta / r_k^u(p) in s for one round (channels fixed over rounds), from (12)."""
    return _system.upload_time(s, p)


def power_from_upload_time(s, u, g_up=None):
    """Inverse of (12): the power that uploads beta bits in time ``u``, p = (W N0/g)(2^(beta/(W u)) - 1)."""
    g = s.g_up if g_up is None else g_up
    W = s.W_up
    return W * s.N0 / g * np.expm1(s.beta / (W * np.asarray(u, float)) * np.log(2.0))


@dataclass(frozen=True)
class Constants:
    """Round-invariant constants of a scenario (channels fixed over rounds), in SI units."""

    a: float            # gamma rho alpha^2: coefficient of Lambda in the numerator of (34)
    b: float            # gamma rho-hat alpha-hat^2 K: coefficient of Omega
    shift: float        # 2 rho-tilde W / gamma (only when M > 0)
    gap: float          # 2 (L(w0) - L_inf) / gamma
    kappa: float        # eta phi (N_FLOP/c)^3: pre-training energy = kappa S^3 / T^2 (J s^2)
    kappa_k: np.ndarray  # the same per device
    rate_s: float       # f_max c / N_FLOP: samples per second at the server's top clock
    rate_k: np.ndarray  # f-hat_k^max c-hat_k / N_FLOP
    d_k: np.ndarray     # download time beta / r_k^d (s), fixed
    E_bc: float         # broadcast energy per fine-tuning round (20), J
    p_bar: np.ndarray   # min(P_ave, P_max): the largest round-invariant power
    u_min: np.ndarray   # upload time at p_bar (s)
    u_pmax: np.ndarray  # upload time at P_max (s)
    a_up: np.ndarray    # beta ln2 / W_k (s): upload energy = (W N0/g)(u e^(a_up/u) - u)
    w_up: np.ndarray    # W_k N0 / g_k (W)


def constants(s) -> Constants:
    """The constants of :class:`Constants` for a scenario with channels fixed over rounds."""
    if s.per_round_channels:
        raise ValueError("constants(): the scenario has per-round channels (g_up or g_down of shape (N, K))")
    p_bar = np.minimum(s.P_ave, s.P_max)
    return Constants(
        a=s.gamma * s.rho * s.alpha2,
        b=s.gamma * s.rho_hat * s.alpha_hat2 * s.K,
        shift=2 * s.rho_tilde * s.wasserstein / s.gamma,
        gap=2 * s.loss_gap / s.gamma,
        kappa=s.eta * s.phi * (s.n_flop / s.c) ** 3,
        kappa_k=s.eta_hat * s.phi_hat * (s.n_flop / s.c_hat) ** 3,
        rate_s=s.f_max * s.c / s.n_flop,
        rate_k=s.f_hat_max * s.c_hat / s.n_flop,
        d_k=np.asarray(_system.download_time(s), float),
        E_bc=float(_system.broadcast_energy(s)),
        p_bar=p_bar,
        u_min=np.asarray(upload_time_at_power(s, p_bar), float),
        u_pmax=np.asarray(upload_time_at_power(s, s.P_max), float),
        a_up=s.beta * np.log(2.0) / s.W_up,
        w_up=s.W_up * s.N0 / s.g_up,
    )


def plan_from_totals(s, M, N, D, T, B, Tk, U, scheme="proposed"):
    """A round-invariant :class:`~edgelearn.Plan` from per-round batch sizes and times (SI units).

    ``D`` samples per pre-training round computed in ``T`` s; device k: ``B[k]`` samples in
    ``Tk[k]`` s and an upload of ``U[k]`` s.  Clocks f = D N_FLOP/(c T) and powers from the
    inverse of (12).  Values that exceed their bound by rounding error of the solver
    (relative 1e-3: interior-point accuracy on badly scaled pairs) are set to the bound; the final
    integer plan is re-checked with :func:`~edgelearn.evaluate`; larger excesses are a bug and raise.
    """
    from ..plan import Plan

    def cap(name, x, hi):
        x = np.asarray(x, float)
        if np.any(x > hi * (1 + 1e-3)):
            raise RuntimeError(f"solver returned {name} = {x} above its bound {hi}")
        return np.minimum(x, hi)

    fixf = scheme == "fixed_frequency"
    f = cap("f", D * s.n_flop / (s.c * T), s.f_max) if M and not fixf else s.f_max
    if N:
        f_hat = s.f_hat_max if fixf else cap("f_hat", B * s.n_flop / (s.c_hat * Tk), s.f_hat_max)
        p = s.P_max if scheme == "fixed_power" else cap("p", power_from_upload_time(s, U),
                                                         np.minimum(s.P_ave, s.P_max))
    else:
        f_hat = s.f_hat_max
        p = np.minimum(s.P_ave, s.P_max)
    return Plan.uniform(s, M, N, D=D if M else 1.0, f=f, B=B if N else 1.0, f_hat=f_hat, p=p)


def symmetrize(s, plan):
    """The round-invariant plan that averages ``plan`` over the rounds of each stage, in the
    convex variables: batch, compute time and upload time (channels fixed over rounds).

    Why it is never worse (the round-invariance argument): in (batch, time) variables every
    delay is linear and every energy and the bound's 1/batch terms are convex, so by Jensen's
    inequality the averaged plan uses no more delay and energy than ``plan`` and has no
    larger Upsilon; the power budgets (10)-(11) are convex in the upload time too.
    """
    from .. import system as _system
    M, N = plan.M, plan.N
    kw = {}
    if M:
        D = float(np.mean(plan.D))
        t = float(np.mean(_system.pretrain_delay(s, plan.D, plan.f)))
        kw.update(D=D, T=t)
    if N:
        B = plan.B.mean(axis=0)
        Tk = _system.compute_time(s, plan.B, plan.f_hat).mean(axis=0)
        U = _system.upload_time(s, plan.p).mean(axis=0)
        kw.update(B=B, Tk=Tk, U=U)
    return plan_from_totals(s, M, N, kw.get("D"), kw.get("T"), kw.get("B"), kw.get("Tk"), kw.get("U"))
