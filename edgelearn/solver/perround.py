"""Channels that change from round to round (``g_up``/``g_down`` of shape (R, K)): the general per-round problem.

The server has no channel, so pre-training stays round-invariant (stage totals S, T as in
:mod:`~edgelearn.solver.exact`).  Fine-tuning round n gets its own batch B_nk, compute time
t_nk and upload time u_nk per device: the same exact convex form (power cone for compute
energy, exponential cone for upload energy), with the average-power budget (10) written as
(1/N) sum_n (W N0/g_nk)(exp(beta ln2/(W u_nk)) - 1) <= P_ave (convex in u).

The search over (M, N): N runs over 0..min(R, N_max) (the channel rows limit N); for each N,
v(., N) is quasi-convex in M (the problem is jointly convex in M and the pre-training
totals), so Dinkelbach's method gives the real optimum in M and the better of its floor and
ceiling is the integer optimum in M.  Batches are then rounded down (always feasible) and the
clocks and powers re-optimised.  Slower than the fixed-channel search: one problem per N.
"""
from __future__ import annotations

import functools
import math
import time

import cvxpy as cp
import numpy as np

from .. import system as _system
from ..evaluate import evaluate
from .exact import solve_cvx
from .problem import InfeasibleBudgetError, constants

__all__ = ["PerRoundProblem", "solve_pair_per_round", "solve_per_round"]


class PerRoundProblem:
    """Exact convex (P2) for N fine-tuning rounds with per-round channels, M a variable or pinned.

    Units: time tau0, energy E0, samples D_max (per round), pre-training rounds R_M.
    ``mode``: "pair" (M pinned, minimise the numerator), "dinkelbach" (minimise numerator - lam (M+N)),
    "energy" (batches pinned, minimise energy under the delay budget).
    """

    def __init__(self, K, N, scheme, mode):
        P = {}
        par = lambda name, shape=(), nonneg=True: P.setdefault(name, cp.Parameter(shape, name=name, nonneg=nonneg))  # noqa: E731
        self.params = P
        M, S, T, e = (cp.Variable(nonneg=True) for _ in range(4))
        c = [M >= par("lbM"), M <= par("ubM")]
        if scheme == "fixed_batch":
            c += [S == M]
        else:
            c += [S <= M, S >= par("sminM") * M]
        c += [S == par("clock_s") * T] if scheme == "fixed_frequency" else [S <= par("clock_s") * T]
        c += [cp.PowCone3D(cp.hstack([e]), cp.hstack([T]), cp.hstack([par("kp3") * S]), 1 / 3)]
        delay, energy = T, e
        obj_num = par("pa") * cp.quad_over_lin(M, S) + par("pC")
        self.v = dict(M=M, S=S, T=T)
        if N:
            B, t, u, z, eb, pw = (cp.Variable((N, K), nonneg=True) for _ in range(6))
            Tr = cp.Variable(N, nonneg=True)
            bmax, smin = par("bmax", (N, K)), par("smin", (N, K))
            if scheme == "fixed_batch":
                c += [B == bmax]
            else:
                c += [B <= bmax, B >= smin]
            ck = par("clock_k", (N, K))
            c += [B == cp.multiply(ck, t)] if scheme == "fixed_frequency" else [B <= cp.multiply(ck, t)]
            c += [cp.PowCone3D(cp.vec(eb, order="C"), cp.vec(t, order="C"), cp.vec(cp.multiply(par("kk3", (N, K)), B), order="C"), 1 / 3)]
            aup, lnw, w = par("aup", (N, K)), par("lnw", (N, K), False), par("w", (N, K))
            c += [cp.constraints.ExpCone(cp.vec(aup + cp.multiply(lnw, u), order="C"), cp.vec(u, order="C"), cp.vec(z, order="C"))]
            if scheme == "fixed_power":
                c += [u == par("upmax", (N, K))]
            else:
                c += [u >= par("upeak", (N, K))]
                # (10): p = (W N0/g)(exp(a/u) - 1) <= pw, and the mean of pw over rounds <= P_ave
                c += [pw >= cp.exp(cp.multiply(par("a1", (N, K)), cp.inv_pos(u)) + par("lnpcoef", (N, K), False)) - par("pcoef2", (N, K)),
                      cp.sum(pw, axis=0) <= par("pave_N", K)]
            c += [par("dk", (N, K)) + t + u <= Tr[:, None] @ np.ones((1, K))]
            delay = delay + cp.sum(Tr)
            energy = energy + par("bE") + cp.sum(eb) + cp.sum(z - cp.multiply(w, u))
            tot = cp.Variable(N, nonneg=True)
            c += [tot <= cp.sum(B, axis=1)]
            obj_num = obj_num + par("pb") * cp.sum(cp.inv_pos(tot))
            self.v.update(B=B, t=t, u=u)
        if mode == "energy":
            c += [S == par("Sfix")] + ([self.v["B"] == par("Bfix", (N, K))] if N else []) + [delay <= 1 - 1e-7]
            obj = energy
        else:
            c += [delay <= 1, energy <= 1]
            obj = obj_num - (par("lamM") * M if mode == "dinkelbach" else 0)
        self.numerator = obj_num
        self.problem = cp.Problem(cp.Minimize(obj), c)
        assert self.problem.is_dcp(dpp=True), "per-round problem must be DPP"

    def set(self, **vals):
        for k, v in vals.items():
            if k in self.params:
                p = self.params[k]
                p.value = np.broadcast_to(np.asarray(v, float), p.shape).copy() if p.shape else float(v)


@functools.lru_cache(maxsize=64)
def _problem(K, N, scheme, mode):
    return PerRoundProblem(K, N, scheme, mode)


def _coefficients(s, N, R_M, M_shift):
    k = constants(s.replace(g_up=s.g_up[0] if s.g_up.ndim == 2 else s.g_up,
                            g_down=s.g_down[0] if s.g_down.ndim == 2 else s.g_down))
    t0, E0, Dm = s.tau0, s.E0, s.D_max
    SM = R_M * Dm
    out = dict(pa=k.a * R_M / Dm, pb=k.b / Dm, pC=k.gap + (k.shift if M_shift else 0.0),
               sminM=1.0 / Dm, clock_s=k.rate_s * t0 / SM, kp3=(k.kappa * SM**3 / (E0 * t0**2)) ** (1 / 3))
    if N:
        g_up, g_down = _system.channel_gains(s, N)
        W, N0 = s.W_up, s.N0
        a_up = s.beta * np.log(2) / W
        w = W * N0 / g_up * t0 / E0
        d = s.beta / _system.downlink_rate(s, g_down)
        out.update(
            bmax=np.broadcast_to(s.B_max / Dm, (N, s.K)), smin=np.full((N, s.K), 1.0 / Dm),
            clock_k=np.broadcast_to(k.rate_k * t0 / Dm, (N, s.K)),
            kk3=np.broadcast_to((k.kappa_k * Dm**3 / (E0 * t0**2)) ** (1 / 3), (N, s.K)),
            aup=np.broadcast_to(a_up / t0, (N, s.K)), lnw=np.log(w), w=w,
            upmax=s.beta / _system.uplink_rate(s, s.P_max, g_up) / t0,
            upeak=s.beta / _system.uplink_rate(s, s.P_max, g_up) / t0,
            lnpcoef=np.log(W * N0 / g_up), pcoef2=W * N0 / g_up, a1=np.broadcast_to(a_up / t0, (N, s.K)),
            pave_N=N * s.P_ave, dk=d / t0, bE=float((s.P_server * d.max(axis=1)).sum()) / E0)
    return out


def _plan(s, F, M, N, R_M):
    from ..plan import Plan
    g = lambda n: np.asarray(F.v[n].value, float)  # noqa: E731
    if M:
        D = float(g("S")) * R_M * s.D_max / M
        t = float(g("T")) * s.tau0 / M
        f = min(D * s.n_flop / (s.c * t), s.f_max)
    else:
        D, f = 1.0, s.f_max
    if N:
        g_up, _ = _system.channel_gains(s, N)
        B = g("B") * s.D_max
        f_hat = np.minimum(B * s.n_flop / (s.c_hat * g("t") * s.tau0), s.f_hat_max)
        u = g("u") * s.tau0
        p = np.minimum(s.W_up * s.N0 / g_up * np.expm1(s.beta * np.log(2) / (s.W_up * u)), s.P_max)
    else:
        B = f_hat = p = np.ones((0, s.K))
    return Plan(M=M, N=N, D=np.full(M, D), f=np.full(M, f), B=B, f_hat=f_hat, p=p)


def solve_pair_per_round(s, M, N, scheme="proposed", stats=None):
    """(P2) at (M, N) with per-round channels: Upsilon (real batches) and the plan, one convex solve."""
    R_M = max(M, 1)
    F = _problem(s.K, N, scheme, "pair")
    F.set(**_coefficients(s, N, R_M, M > 0), lbM=M / R_M, ubM=M / R_M)
    status = solve_cvx(F.problem, stats)
    if status != "optimal":
        return np.inf, None
    return float(F.problem.value) / (M + N), _plan(s, F, M, N, R_M)


def _best_M(s, N, scheme, M_range, stats):
    """Integer M in M_range minimising v(M, N): Dinkelbach on real M, then floor/ceil (quasi-convexity)."""
    lo, hi = M_range
    cands = set()
    if lo == 0:
        cands.add(0)
    if hi >= max(lo, 1):
        R_M = max(hi / 10, 1.0)
        F = _problem(s.K, N, scheme, "dinkelbach")
        coef = _coefficients(s, N, R_M, True)
        lam, Mr = 0.0, None
        for _ in range(30):
            F.set(**coef, lbM=max(lo, 1) / R_M, ubM=hi / R_M, lamM=lam * R_M)
            if solve_cvx(F.problem, stats) != "optimal":
                break
            Mr = float(F.v["M"].value) * R_M
            num = float(F.numerator.value)
            new = num / (Mr + N)
            if abs(new - lam) <= 1e-10 * max(abs(new), 1e-300):
                lam = new
                break
            lam = new
        if Mr is not None:
            cands |= {min(max(math.floor(Mr), max(lo, 1)), hi), min(max(math.ceil(Mr), max(lo, 1)), hi)}
    best = (np.inf, None, None)
    for M in sorted(cands):
        if M + N < 1:
            continue
        v, plan = solve_pair_per_round(s, M, N, scheme, stats)
        if v < best[0]:
            best = (v, M, plan)
    return best


def _integer(s, plan, scheme, stats):
    """Round batches down (always feasible) and re-optimise clocks and powers: min energy, delay budget."""
    M, N = plan.M, plan.N
    D = max(1.0, np.floor(plan.D[0] + 1e-6)) if M else 1.0     # 1e-6: solver noise around whole numbers
    B = np.maximum(1.0, np.floor(plan.B + 1e-6))
    F = _problem(s.K, N, scheme, "energy")
    R_M = max(M, 1)
    F.set(**_coefficients(s, N, R_M, M > 0), lbM=M / R_M, ubM=M / R_M, Sfix=M * D / (R_M * s.D_max),
          Bfix=B / s.D_max if N else np.zeros((0, s.K)))
    floored = plan.replace(D=np.full(M, float(D)), B=B) if N else plan.replace(D=np.full(M, float(D)))
    if solve_cvx(F.problem, stats) != "optimal":
        return floored   # same clocks and powers, fewer samples: still feasible
    out = _plan(s, F, M, N, R_M)
    out = out.replace(D=np.full(M, float(D)), B=B) if N else out.replace(D=np.full(M, float(D)))
    return out if evaluate(s, out).feasible else floored


def solve_per_round(s, scheme, *, M, N, method, eps, progress, ranges):
    """:func:`~edgelearn.solve` for per-round channels (exact method only)."""
    from .search import branches, round_limits
    from .solve import Landscape, Solution
    if method != "exact":
        raise NotImplementedError("per-round channels: only method='exact' is implemented")
    t0 = time.perf_counter()
    stats = {"method": method, "scheme": scheme, "per_round": True}
    R = int(s.max_channel_rounds)
    evaluated = {}
    if M is not None and N is not None:
        if N > R:
            raise ValueError(f"N = {N}: the scenario's channels describe only {R} fine-tuning rounds")
        v, plan = solve_pair_per_round(s, int(M), int(N), scheme, stats)
        evaluated[(M, N)] = v
        if plan is None:
            raise InfeasibleBudgetError("delay/energy budgets", np.nan, np.nan, "",
                                        f"no plan with M = {M}, N = {N} meets both budgets")
        stats.update(lower_bound=v, pair=(M, N), pair_optimum=v)
    else:
        first = s.replace(g_up=s.g_up[0] if s.g_up.ndim == 2 else s.g_up,
                          g_down=s.g_down[0] if s.g_down.ndim == 2 else s.g_down)
        M_max, _ = round_limits(first, scheme)
        best = (np.inf, None, None)
        brs = branches(scheme, ranges)
        Ns = range(0, R + 1)
        if progress:
            from tqdm.auto import tqdm
            Ns = tqdm(Ns, desc="fine-tuning rounds N", leave=False)
        for n in Ns:
            for b in brs:
                if not (b.N[0] <= n <= (R if b.N[1] is None else b.N[1])):
                    continue
                v, m, plan = _best_M(s, n, scheme, (b.M[0], M_max if b.M[1] is None else min(b.M[1], M_max)), stats)
                if m is not None:
                    evaluated[(m, n)] = v
                if v < best[0]:
                    best = (v, m, plan)
        if best[2] is None:
            raise InfeasibleBudgetError("delay/energy budgets", np.nan, np.nan, "", "no (M, N) meets both budgets")
        v, _, plan = best
        stats.update(M_max=M_max, N_max=R, lower_bound=v, pair=(plan.M, plan.N), pair_optimum=v)
    plan = _integer(s, plan, scheme, stats)
    report = evaluate(s, plan)
    stats.update(pairs_evaluated=len(evaluated), integrality_gap=report.bound - stats["lower_bound"],
                 solver="CLARABEL", wall_time=time.perf_counter() - t0)
    ks = list(evaluated)
    land = Landscape(np.array([k[0] for k in ks], int), np.array([k[1] for k in ks], int),
                     np.array([evaluated[k] for k in ks], float), np.full(len(ks), np.nan))
    return Solution(s, scheme, plan, report, (stats["pair_optimum"],), land, stats)
