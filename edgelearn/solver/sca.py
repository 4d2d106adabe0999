"""The paper's successive convex approximation (SCA) for (P2) at fixed (M, N): problem (P3.o).

Variables in scaled units: d = D/sqrt(D_max) with its reciprocal auxiliary d' = D' sqrt(D_max)
(so d <= 1/d' is (36c)), s = f/f_max; per device b = B/sqrt(B_k^max) with b', s_k =
f-hat/f-hat_k^max, q = p/P_k^max: batches and their reciprocals both of order one.
At iteration o the local points (d'_o, b'_o, p_o) enter only through cvxpy Parameters, so
the problem is compiled once (DPP) and each iteration is a re-solve:

* (37)-(38): the upload energy E(p) = p beta / r(p) is concave in p, so its tangent at p_o,
  zeta(p) = E(p_o) + E'(p_o)(p - p_o), bounds it from above;
* (39)-(41): the constraint D <= 1/D' is restricted by the tangent of the convex 1/x at
  D'_o (a lower bound): D - 2/D'_o + D'/D'_o^2 <= 0.

Both replacements are conservative, so every iterate is feasible for (P2) and the objective
never increases.  Start (:func:`start_point`): one-sample batches (the largest for
fixed_batch) with the clocks and powers that leave the same fraction of both budgets
unused: feasible for (P2), and (P3.1) contains it.  The tangent (39) lets a batch at most
double per iteration, which is why a start at large batches could be infeasible.
Channels fixed over rounds: one group of rounds per stage (round-invariant); the
fine-tuning terms are multiplied by N.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass, field

import cvxpy as cp
import numpy as np

from .. import bound as _bound
from .. import system as _system
from ..evaluate import evaluate
from ..plan import Plan
from .conic import ATTEMPTS, Program
from .integer import min_energy
from .problem import constants

__all__ = ["sca_pair", "SCASolution", "upload_energy_tangent", "reciprocal_tangent", "SCAProblem", "start_point"]

#: Relative margin inside the budgets: the solver's accuracy (~1e-8 in scaled units, a few 1e-7 of a
#: budget in badly scaled cases) must not make an iterate infeasible.
MARGIN = 1e-6


def upload_energy_tangent(s, p_o, g_up=None):
    """E(p_o) and E'(p_o) of the upload energy (19) E(p) = p beta / r(p), eq. (38)."""
    g = s.g_up if g_up is None else g_up
    W, N0, beta = s.W_up, s.N0, s.beta
    p_o = np.asarray(p_o, float)
    x = g * p_o / (W * N0)
    L = np.log2(1 + x)
    E = p_o * beta / (W * L)
    dE = beta / (W * L) - p_o * beta * g / (W * L**2 * (W * N0 + g * p_o) * np.log(2))
    return E, dE


def reciprocal_tangent(x, x_o):
    """The tangent of 1/x at x_o, 2/x_o - x/x_o^2: a global lower bound on 1/x (x > 0), used in (39)-(41)."""
    x_o = np.asarray(x_o, float)
    return 2.0 / x_o - np.asarray(x, float) / x_o**2


class SCAProblem(Program):
    """(P3.o) compiled once for a scheme and which stages are present (round-invariant)."""

    def __init__(self, K, scheme, has_M, has_N):
        super().__init__()
        P = self.param
        d, dp, fs = cp.Variable(pos=True), cp.Variable(pos=True), cp.Variable(pos=True)
        b, bp, fh, q = (cp.Variable(K, pos=True) for _ in range(4))
        Tr = cp.Variable(nonneg=True)
        self.vars = dict(d=d, dp=dp, fs=fs, b=b, bp=bp, fh=fh, q=q)
        c, obj, delay, energy = [], P("constant"), 0, 0
        if has_M:
            obj = obj + P("lambda_coef") * cp.inv_pos(d)
            delay = delay + P("server_time") * cp.inv_prod(cp.hstack([fs, dp]))          # (36a), first sum
            energy = energy + P("server_energy") * cp.quad_over_lin(fs, dp)                 # (36b), first sum
            c += [d >= P("d_min"), d <= P("d_max"), fs <= 1,
                  d - 2 * P("d_tangent_point") + P("d_tangent_slope") * dp <= 0]                            # (39)/(41b)
            if scheme == "fixed_batch":
                c += [d == P("d_max")]
            if scheme == "fixed_frequency":
                c += [fs == 1]
        if has_N:
            btot = cp.Variable(pos=True)  # the total batch B_tot = sum_k B_k (in samples)
            c += [btot <= P("b_root_max", K) @ b]
            obj = obj + P("omega_coef") * cp.inv_pos(btot)
            ktk, kek = P("device_time", K), P("device_energy", K)
            ct, cu, ce = (cp.Variable(K, nonneg=True) for _ in range(3))  # epigraph variables
            c += [ct[k] >= cp.inv_prod(cp.hstack([fh[k], bp[k]])) for k in range(K)]      # B/f-hat, (15)
            c += [cu >= cp.inv_pos(cp.log(1 + cp.multiply(P("snr_at_pmax", K), q)))]              # 1/r_k^u, (12)
            c += [ce[k] >= cp.quad_over_lin(fh[k], bp[k]) for k in range(K)]              # B f-hat^2, (18)
            c += [P("download", K) + cp.multiply(ktk, ct) + cp.multiply(P("upload_time_coef", K), cu) <= Tr]  # (36a), max over k
            delay = delay + P("rounds_n") * Tr
            energy = energy + P("broadcast_energy") + kek @ ce
            energy = energy + cp.sum(P("upload_energy_at_point", K, False) + cp.multiply(P("upload_energy_slope", K, False), q))  # zeta, (37)
            c += [b >= P("b_min", K), b <= P("b_max", K), fh <= 1, q <= P("power_cap", K),
                  b - 2 * P("b_tangent_point", K) + cp.multiply(P("b_tangent_slope", K), bp) <= 0]          # (40)/(41c)
            if scheme == "fixed_batch":
                c += [b == P("b_max", K)]
            if scheme == "fixed_frequency":
                c += [fh == 1]
            if scheme == "fixed_power":
                c += [q == 1]
        # budgets (35e)-(35f), MARGIN inside, so that iterates pass evaluate()
        c += [delay <= 1 - MARGIN, energy <= 1 - MARGIN]
        self.problem = cp.Problem(cp.Minimize(obj), c)
        if not self.problem.is_dcp(dpp=True):
            bad = [str(x) for x in c if not x.is_dcp(dpp=True)]
            raise AssertionError(f"(P3.o) is not DPP: {bad}")

@functools.lru_cache(maxsize=None)
def _compiled(K, scheme, has_M, has_N):
    return SCAProblem(K, scheme, has_M, has_N)


def _static_coefficients(s, M, N):
    k = constants(s)
    R = M + N
    Ds, Bs = np.sqrt(s.D_max), np.sqrt(s.B_max)   # batch units: D = Ds d, D' = d'/Ds (d d' = D D')
    out = dict(constant=k.bound.constant(M) / R)
    if M:   # one top-clock second computes rate_s samples; at the top clock a sample costs kappa rate_s^2 J
        out.update(lambda_coef=k.bound.pretrain * M / (Ds * R),
                   server_time=M * Ds / (k.rate_s * s.tau0),
                   server_energy=M * k.kappa * k.rate_s**2 * Ds / s.E0,
                   d_min=1.0 / Ds, d_max=Ds)
    if N:
        out.update(omega_coef=k.bound.finetune * N / R, b_root_max=Bs, b_min=1.0 / Bs, b_max=Bs,
                   download=k.d_k / s.tau0, device_time=Bs / (k.rate_k * s.tau0),
                   upload_time_coef=k.a_up / s.tau0, snr_at_pmax=s.P_max / k.w_up,
                   rounds_n=N, broadcast_energy=N * k.E_bc / s.E0,
                   device_energy=N * k.kappa_k * k.rate_k**2 * Bs / s.E0,
                   power_cap=k.p_bar / s.P_max)
    return out


def _local(s, M, N, d_o, b_o, q_o):
    """Parameters that carry the local point: tangents (39)-(40) and (37)."""
    out = {}
    if M:
        dp_o = 1.0 / d_o
        out.update(d_tangent_point=1.0 / dp_o, d_tangent_slope=1.0 / dp_o**2)
    if N:
        bp_o = 1.0 / b_o
        E, dE = upload_energy_tangent(s, q_o * s.P_max)
        out.update(b_tangent_point=1.0 / bp_o, b_tangent_slope=1.0 / bp_o**2,
                   upload_energy_at_point=N * (E - dE * q_o * s.P_max) / s.E0,
                   upload_energy_slope=N * dE * s.P_max / s.E0)
    return out


@dataclass(frozen=True)
class SCASolution:
    """SCA at one (M, N): final Upsilon and plan (real batches), the trace, and every iterate's plan."""

    M: int
    N: int
    upsilon: float
    plan: object
    status: str
    history: tuple = ()
    iterates: tuple = field(default=(), repr=False)


def _plan(s, M, N, v):
    g = lambda n: np.asarray(v[n].value, float)  # noqa: E731
    kw = {}
    if M:
        kw.update(D=float(g("d")) * np.sqrt(s.D_max), f=min(float(g("fs")), 1.0) * s.f_max)
    else:
        kw.update(D=1.0, f=s.f_max)
    if N:
        kw.update(B=g("b") * np.sqrt(s.B_max), f_hat=np.minimum(g("fh"), 1.0) * s.f_hat_max,
                  p=np.minimum(g("q"), _system.average_power_cap(s) / s.P_max) * s.P_max)
    else:
        kw.update(B=1.0, f_hat=s.f_hat_max, p=_system.average_power_cap(s))
    return Plan.uniform(s, M, N, **kw)


def start_point(s, M, N, scheme="proposed", stats=None):
    """Feasible start: smallest batches (largest for fixed_batch); clocks and powers that leave the
    same fraction of both budgets unused (minimise max(delay/tau0, energy/E0), a convex problem).
    None when even that plan misses a budget: then (P2) is infeasible at (M, N), because
    smaller batches only lower the delay and the energy."""
    D = float(s.D_max) if scheme == "fixed_batch" else 1.0
    B = np.asarray(s.B_max, float) if scheme == "fixed_batch" else np.ones(s.K)
    ratio, plan = min_energy(s, M, N, D, B, scheme, stats, kind="center")
    if plan is None or ratio > 1:
        return None
    return plan


def sca_pair(s, M, N, scheme="proposed", *, eps=1e-6, max_iter=200, stats=None, start=None, rebuild=False):
    """Solve (P2) at (M, N) by SCA (Algorithm 1, lines 4-8); stops when Upsilon drops by less than ``eps``.

    ``rebuild=True`` builds and compiles a new cvxpy problem at every iteration (the plain way,
    as with CVX) instead of re-solving the compiled one with new Parameter values; same answer,
    for the benchmark.
    """
    _ups = _bound.upsilon
    if s.per_round_channels:
        raise NotImplementedError("sca_pair: per-round channels need the per-round problem")
    plan0 = start if start is not None else start_point(s, M, N, scheme, stats)
    if plan0 is None:
        return SCASolution(M, N, np.inf, None, "infeasible")
    F = _compiled(s.K, scheme, M > 0, N > 0)
    F.set(**_static_coefficients(s, M, N))
    d_o = float(plan0.D[0]) / np.sqrt(s.D_max) if M else 1.0
    b_o = plan0.B[0] / np.sqrt(s.B_max) if N else np.ones(s.K)
    q_o = plan0.p[0] / s.P_max if N else np.ones(s.K)
    hist, iterates, prev, plan, status = [], [], _ups(s, plan0), plan0, "optimal"
    for _ in range(max_iter):
        if rebuild:
            F = SCAProblem(s.K, scheme, M > 0, N > 0)
            F.set(**_static_coefficients(s, M, N))
        F.set(**_local(s, M, N, d_o, b_o, q_o))
        status = F.solve(stats, attempts=ATTEMPTS[:-1])
        v = F.vars
        if status != "optimal" and status != "optimal_inaccurate":
            status = F.solve(stats, attempts=ATTEMPTS[-1:])  # SCS, the last resort
        if status not in ("optimal", "optimal_inaccurate") or (M and v["d"].value is None) \
                or (N and v["q"].value is None):
            break
        # an inaccurate answer is still a candidate: it is kept only if evaluate() finds it feasible and no worse
        new = _plan(s, M, N, v)
        val = _ups(s, new)
        # In exact arithmetic every iterate is feasible and no worse (see the module doc); the
        # interior-point solver works to ~1e-8, so an iterate is kept only if that holds.
        if val > prev * (1 + 1e-9) or not evaluate(s, new).feasible:
            if stats is not None:
                stats["sca_rejected"] = stats.get("sca_rejected", 0) + 1
            status = status if status != "optimal" else "stalled"
            break
        hist.append(val)
        iterates.append(new)
        plan = new
        # new local points (Algorithm 1, line 7): D'_o = 1/D of the solution, i.e. the auxiliary
        # variable moved onto its definition D' = 1/D.  The solution stays feasible for the next
        # subproblem (D - 2D + D' D^2 = D (D' D - 1) <= 0), so the objective cannot increase.
        if M:
            d_o = float(v["d"].value)
        if N:
            b_o, q_o = np.asarray(v["b"].value, float), np.asarray(v["q"].value, float)
        if prev - val < eps:
            break
        prev = val
    if stats is not None:
        stats["sca_iterations"] = stats.get("sca_iterations", 0) + len(hist)
    return SCASolution(M, N, hist[-1] if hist else _ups(s, plan0), plan, status, tuple(hist), tuple(iterates))
