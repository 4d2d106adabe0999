"""Pieces shared by every solver: schemes, the infeasible-budget error, the round-invariant
constants of a scenario, and turning solver variables into a :class:`~edgelearn.Plan`.

Scaled units (the solver never sees raw SI numbers): time in units of the delay
budget tau0, energy in units of the energy budget E0, rounds of each stage in units of a
typical number of rounds of that stage, samples in those units times D_max.  With
these, every coefficient of the convex programs is of order one.

Every coefficient comes from its one home: the bound's from :func:`edgelearn.bound.coefficients`,
the delay and energy ones from the closed forms at the end of :mod:`edgelearn.system`.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .. import bound as _bound
from .. import system as _system
from ..plan import Plan

__all__ = ["SCHEMES", "SCHEME_DESCRIPTIONS", "InfeasibleBudgetError", "Constants", "constants", "plan_from_totals",
           "check_scheme", "symmetrize"]

#: What each of the six designs of Section V fixes (iteration order = the book's order).
SCHEME_DESCRIPTIONS = {
    "proposed": "optimise everything (Algorithm 1)",
    "fixed_power": "p_k = P_k^max, optimise the rest",
    "fixed_frequency": "f = f^max and f-hat_k = f-hat_k^max, optimise the rest",
    "fixed_batch": "D = D^max and B_k = B_k^max, optimise the rest",
    "pretrain_only": "N = 0: pre-training at the server only",
    "finetune_only": "M = 0: federated fine-tuning from scratch",
}

#: The proposed design and the paper's five benchmarks, in the order the book lists them (a tuple,
#: as :data:`edgelearn.plots.SCHEMES` always was).
SCHEMES = tuple(SCHEME_DESCRIPTIONS)


class InfeasibleBudgetError(ValueError):
    """No plan meets a budget: carries the budget's name, the least value it needs and the given value."""

    def __init__(self, budget: str, needed: float, given: float, unit: str, why: str = ""):
        self.budget, self.needed, self.given, self.unit = budget, float(needed), float(given), unit
        msg = (f"{budget} = {given:.6g} {unit} is infeasible: at least {needed:.6g} {unit} is needed"
               + (f" ({why})" if why else ""))
        super().__init__(msg)


def check_scheme(scheme: str) -> str:
    if scheme not in SCHEMES:
        raise ValueError(f"scheme = {scheme!r}: must be one of {sorted(SCHEMES)}")
    return scheme


@dataclass(frozen=True)
class Constants:
    """Round-invariant constants of a scenario (channels fixed over rounds), in SI units."""

    bound: _bound.Coefficients  # the coefficients of (34)
    kappa: float         # server: S samples in T s cost kappa S^3/T^2 J (17)
    kappa_k: np.ndarray  # the same per device (18)
    rate_s: float        # samples per second at the server's top clock (14)
    rate_k: np.ndarray   # the same per device (15)
    d_k: np.ndarray      # download time beta / r_k^d (s), fixed (13)
    E_bc: float          # broadcast energy per fine-tuning round (20), J
    p_bar: np.ndarray    # min(P_ave, P_max): the largest round-invariant power
    u_min: np.ndarray    # upload time at p_bar (s)
    u_pmax: np.ndarray   # upload time at P_max (s)
    a_up: np.ndarray     # beta ln2 / W_k (s): upload energy = w_up (u e^(a_up/u) - u)
    w_up: np.ndarray     # W_k N0 / g_k (W)


def constants(s) -> Constants:
    """The constants of :class:`Constants` for a scenario with channels fixed over rounds."""
    if s.per_round_channels:
        raise ValueError("constants(): the scenario has per-round channels (g_up or g_down of shape (N, K))")
    p_bar = _system.average_power_cap(s)
    a_up, w_up = _system.upload_energy_coefficients(s)
    return Constants(
        bound=_bound.coefficients(s),
        kappa=_system.server_energy_coefficient(s),
        kappa_k=_system.device_energy_coefficient(s),
        rate_s=_system.server_sample_rate(s),
        rate_k=_system.device_sample_rate(s),
        d_k=np.asarray(_system.download_time(s), float),
        E_bc=float(_system.broadcast_energy(s)),
        p_bar=p_bar,
        u_min=np.asarray(_system.upload_time(s, p_bar), float),
        u_pmax=np.asarray(_system.upload_time(s, s.P_max), float),
        a_up=a_up, w_up=w_up,
    )


def _cap(name, x, hi):
    """``x`` with solver noise above its bound ``hi`` (relative 1e-3) set to the bound; more is a bug."""
    x = np.asarray(x, float)
    if np.any(~np.isfinite(x)) or np.any(x > hi * (1 + 1e-3)):
        raise RuntimeError(f"solver returned {name} = {x} above its bound {hi}")
    return np.minimum(x, hi)


def _clock(name, samples, time, rate, top):
    """The clock that computes ``samples`` in ``time`` s, f = top * samples / (rate * time).

    A time of zero (solver noise for a vanishing stage or device) is read as the top clock.
    """
    samples, time = np.broadcast_arrays(np.asarray(samples, float), np.asarray(time, float))
    top = np.broadcast_to(top, samples.shape)
    rate = np.broadcast_to(rate, samples.shape)
    need = samples / rate                      # the least time, at the top clock
    f = np.array(top, float)
    ok = time > need * 1e-12
    f[ok] = top[ok] * need[ok] / time[ok]
    return _cap(name, f, top)


def plan_from_totals(s, M, N, D, T, B, Tk, U, scheme="proposed"):
    """A round-invariant :class:`~edgelearn.Plan` from per-round batch sizes and times (SI units).

    ``D`` samples per pre-training round computed in ``T`` s; device k: ``B[k]`` samples in
    ``Tk[k]`` s and an upload of ``U[k]`` s.  Clocks f = D N_FLOP/(c T) and powers from the
    inverse of (12).  Values that exceed their bound by rounding error of the solver
    (relative 1e-3: interior-point accuracy on badly scaled pairs) are set to the bound; the final
    integer plan is re-checked with :func:`~edgelearn.evaluate`; larger excesses raise RuntimeError
    (the callers treat the answer as failed).
    """
    fixf = scheme == "fixed_frequency"
    f = _clock("f", D, T, _system.server_sample_rate(s), s.f_max) if M and not fixf else s.f_max
    p_bar = _system.average_power_cap(s)
    if N:
        f_hat = s.f_hat_max if fixf else _clock("f_hat", B, Tk, _system.device_sample_rate(s), s.f_hat_max)
        p = s.P_max if scheme == "fixed_power" else _cap("p", _system.power_for_upload_time(s, U), p_bar)
    else:
        f_hat, p = s.f_hat_max, p_bar
    return Plan.uniform(s, M, N, D=D if M else 1.0, f=float(f), B=B if N else 1.0, f_hat=f_hat, p=p)


def symmetrize(s, plan):
    """The round-invariant plan that averages ``plan`` over the rounds of each stage, in the
    convex variables: batch, compute time and upload time (channels fixed over rounds).

    Why it is never worse (the round-invariance argument): in (batch, time) variables every
    delay is linear and every energy and the bound's 1/batch terms are convex, so by Jensen's
    inequality the averaged plan uses no more delay and energy than ``plan`` and has no
    larger Upsilon; the power budgets (10)-(11) are convex in the upload time too.
    """
    M, N = plan.M, plan.N
    D = T = B = Tk = U = None
    if M:
        D = float(np.mean(plan.D))
        T = float(np.mean(_system.pretrain_delay(s, plan.D, plan.f)))
    if N:
        B = plan.B.mean(axis=0)
        Tk = _system.compute_time(s, plan.B, plan.f_hat).mean(axis=0)
        U = _system.upload_time(s, plan.p).mean(axis=0)
    return plan_from_totals(s, M, N, D, T, B, Tk, U)
