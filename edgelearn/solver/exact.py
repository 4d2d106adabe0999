"""The exact convex reformulation of (P2), and of (P1) with the rounds relaxed to real numbers.

Change of variables (channels fixed over rounds, round-invariant plans; see the book's
chapter "From (P1) to (P3.o)" for why round-invariance loses nothing):

* server: per-round compute time t instead of the clock, f = D N_FLOP/(c t).  The clock
  bound (35c) becomes linear, D <= (f_max c/N_FLOP) t, and the energy of a round (17) is
  kappa D^3/t^2 with kappa = eta phi (N_FLOP/c)^3, a power-cone term;
* device k: compute time t_k (same trick, (15), (18)) and upload time u_k instead of the
  power, p = (W N0/g)(2^(beta/(W u)) - 1) by inverting (12).  The power bounds (10)-(11)
  become u_k >= u_min,k and the upload energy (19) p u = (W N0/g)(u e^(beta ln2/(W u)) - u)
  is the perspective of an exponential (an exponential cone);
* stage totals: S = M D samples and T = M t seconds (per device S_k, T_k, U_k, and the
  fine-tuning wall time T_f).  Then the pre-training energy is kappa S^3/T^2 whatever M is,
  M Lambda-term = M^2/S, and every per-round overhead (download, broadcast, the power
  bound) is linear in N.  The whole problem is jointly convex in (M, N, totals), and the
  objective (34) is a convex numerator over M + N.

The ratio is handled exactly by the Charnes-Cooper (perspective) transformation: scale
every variable by theta = 1/(M+N) (budgets and the constant of (34) pick up a factor theta)
and fix M + N.  One convex solve then gives the optimum over real (M, N).

Every problem is compiled once per (K, scheme, kind) with cvxpy Parameters (DPP) and
re-solved with new values: the scenario itself enters only through Parameters.
"""
from __future__ import annotations

import functools
import warnings
from dataclasses import dataclass

import cvxpy as cp
import numpy as np

from .problem import constants, plan_from_totals

__all__ = ["Formulation", "formulation", "Scale", "coefficients", "solve_cvx"]

BIG = 1e7  # an upper bound on scaled rounds that never binds


@dataclass(frozen=True)
class Scale:
    """Units of the scaled problem: pre-training rounds R_M (samples R_M D_max), fine-tuning
    rounds R_N (samples R_N D_max), time tau0, energy E0.  The objective is divided by R_M + R_N."""

    R_M: float
    R_N: float
    tau0: float
    E0: float
    D_M: float   # batch unit of pre-training (samples)
    D_N: float   # batch unit of fine-tuning (samples)

    @classmethod
    def of(cls, s, R_M, R_N, D_M=None, D_N=None):
        """Units for scenario ``s`` around R_M pre-training and R_N fine-tuning rounds (each >= 1)
        and batches D_M, D_N (default D_max)."""
        return cls(float(max(R_M, 1.0)), float(max(R_N, 1.0)), s.tau0, s.E0,
                   float(D_M or s.D_max), float(D_N or s.D_max))

    @property
    def S_M(self):
        return self.R_M * self.D_M

    @property
    def S_N(self):
        return self.R_N * self.D_N

    @property
    def R_o(self):
        return self.R_M + self.R_N


def coefficients(s, scale: Scale) -> dict:
    """The value of every Parameter of :class:`Formulation` for scenario ``s`` in units ``scale``."""
    k = constants(s)
    RM, RN, Ro, t0, E0 = scale.R_M, scale.R_N, scale.R_o, scale.tau0, scale.E0
    SM, SN, R = scale.S_M, scale.S_N, RN
    w = k.w_up * t0 / E0
    return dict(
        pa=k.a * RM / (scale.D_M * Ro), pb=k.b * RN / (scale.D_N * Ro), nM=RM / Ro, nN=RN / Ro,
        smaxM=s.D_max / scale.D_M, sminM=1.0 / scale.D_M, sminN=1.0 / scale.D_N,
        kp3=(k.kappa * SM**3 / (E0 * t0**2)) ** (1 / 3),
        clock_s=k.rate_s * t0 / SM,
        kk3=(k.kappa_k * SN**3 / (E0 * t0**2)) ** (1 / 3),
        clock_k=k.rate_k * t0 / SN,
        bmax=s.B_max / scale.D_N, dfix=s.D_max / scale.D_M, bfix=s.B_max / scale.D_N,
        dk=k.d_k * R / t0,
        aup=k.a_up * R / t0,
        lnw=np.log(w), w=w,
        umin=k.u_min * R / t0,
        upmax=k.u_pmax * R / t0,
        bE=k.E_bc * R / E0,
    )


class Formulation:
    """One compiled convex program in scaled totals.

    ``kind``:
      * ``"relax"``: real (M, N); theta is a variable, M + N = nu; optimum = Upsilon * nu;
      * ``"pair"``: theta = 1, (M, N) pinned by the bounds; objective = (M + N) * Upsilon;
      * ``"box"``: theta = 1, the constraint numerator <= lam (M + N); minimise cM M + cN N
        (the extent of the lam-sublevel set of the landscape);
      * ``"extent"``: theta = 1, minimise cM M + cN N over every feasible plan (M_max, N_max);
      * ``"energy"``: theta = 1, batches pinned; minimise the energy under the delay budget
        (times ``dlim``, a hair below one, so that rounding the clocks to their bounds is safe);
      * ``"center"``: theta = 1, batches pinned; minimise max(delay/tau0, energy/E0).
    """

    def __init__(self, K: int, scheme: str, kind: str, fix_batch: bool = False):
        self.K, self.scheme, self.kind = K, scheme, kind
        fix_batch = fix_batch or scheme == "fixed_batch"
        P = lambda name, shape=(), nonneg=True: self._param(name, shape, nonneg)  # noqa: E731
        self.params = {}
        pa, pb, pC = P("pa"), P("pb"), P("pC")
        smaxM, sminM, sminN = P("smaxM"), P("sminM"), P("sminN")
        kp3, clock_s = P("kp3"), P("clock_s")
        kk3, clock_k, bmax = P("kk3", K), P("clock_k", K), P("bmax", K)
        dk, aup, lnw, w = P("dk", K), P("aup", K), P("lnw", K, False), P("w", K)
        umin, upmax, bE = P("umin", K), P("upmax", K), P("bE")
        lbM, ubM, lbN, ubN = P("lbM"), P("ubM"), P("lbN"), P("ubN")
        nM, nN = P("nM"), P("nN")

        v = self.vars = dict(
            M=cp.Variable(nonneg=True), N=cp.Variable(nonneg=True),
            S=cp.Variable(nonneg=True), T=cp.Variable(nonneg=True), e=cp.Variable(nonneg=True),
            Sk=cp.Variable(K, nonneg=True), Tk=cp.Variable(K, nonneg=True), Uk=cp.Variable(K, nonneg=True),
            zk=cp.Variable(K, nonneg=True), ek=cp.Variable(K, nonneg=True), Tf=cp.Variable(nonneg=True),
        )
        M, N, S, T, e = v["M"], v["N"], v["S"], v["T"], v["e"]
        Sk, Tk, Uk, zk, ek, Tf = v["Sk"], v["Tk"], v["Uk"], v["zk"], v["ek"], v["Tf"]
        th = cp.Variable(nonneg=True) if kind == "relax" else 1.0
        self.theta = th

        c = [M >= lbM * th, M <= ubM * th, N >= lbN * th, N <= ubN * th]
        # (35a)/(35b): 1 <= D <= D_max, 1 <= B_k <= B_k^max, in totals
        if fix_batch and kind not in ("energy", "center"):  # D = dfix D_M, B_k = bfix_k D_N (in batch units)
            c += [S == P("dfix") * M, Sk == cp.multiply(P("bfix", K), N)]
        else:
            c += [S <= smaxM * M, S >= sminM * M, Sk <= cp.multiply(bmax, N), Sk >= sminN * N]
        # (35c)/(35d): clock bounds, linear in compute time
        if scheme == "fixed_frequency":
            c += [S == clock_s * T, Sk == cp.multiply(clock_k, Tk)]
        else:
            c += [S <= clock_s * T, Sk <= cp.multiply(clock_k, Tk)]
        # compute energy (17)/(18): e T^2 >= kp3^3 S^3 (power cone)
        c += [cp.PowCone3D(cp.hstack([e]), cp.hstack([T]), cp.hstack([kp3 * S]), 1 / 3),
              cp.PowCone3D(ek, Tk, cp.multiply(kk3, Sk), 1 / 3)]
        # upload energy (19): z_k >= w_k U_k exp(aup_k N / U_k) (exponential cone)
        c += [cp.constraints.ExpCone(cp.multiply(aup, N) + cp.multiply(lnw, Uk), Uk, zk)]
        # power budgets (10)-(11) as a lower bound on the upload time
        c += [Uk == cp.multiply(upmax, N)] if scheme == "fixed_power" else [Uk >= cp.multiply(umin, N)]
        # every device finishes download + compute + upload within the round, (16)
        c += [cp.multiply(dk, N) + Tk + Uk <= Tf]
        delay = T + Tf
        energy = e + cp.sum(ek) + cp.sum(zk - cp.multiply(w, Uk)) + bE * N
        numerator = pa * cp.quad_over_lin(M, S) + pb * cp.quad_over_lin(N, cp.sum(Sk)) + pC * th
        self.delay_expr, self.energy_expr, self.numerator = delay, energy, numerator

        if kind == "energy":
            Sp, Skp = P("Sfix"), P("Skfix", K)
            c += [S == Sp, Sk == Skp, delay <= P("dlim")]
            obj = energy
        elif kind == "center":
            Sp, Skp = P("Sfix"), P("Skfix", K)
            tc = cp.Variable(nonneg=True)
            c += [S == Sp, Sk == Skp, delay <= tc, energy <= tc]
            obj = tc
        else:
            c += [delay <= th, energy <= th]
            if kind == "relax":
                nu = P("nu")
                c += [nM * M + nN * N == nu]
                obj = numerator
            elif kind == "pair":
                obj = numerator
            elif kind == "box":
                c += [numerator <= P("lamM") * M + P("lamN") * N]  # lam * (M + N) in scaled units
                obj = P("cM", (), False) * M + P("cN", (), False) * N
            elif kind == "extent":
                obj = P("cM", (), False) * M + P("cN", (), False) * N
            else:
                raise ValueError(f"kind = {kind!r}: must be relax, pair, box, extent, energy or center")
        self.problem = cp.Problem(cp.Minimize(obj), c)
        assert self.problem.is_dcp(dpp=True), "formulation must be DPP"

    def _param(self, name, shape, nonneg):
        p = cp.Parameter(shape, name=name, nonneg=nonneg) if nonneg else cp.Parameter(shape, name=name)
        self.params[name] = p
        return p

    def set(self, **values):
        for k, val in values.items():
            if k in self.params:
                self.params[k].value = np.broadcast_to(np.asarray(val, float), self.params[k].shape).copy() \
                    if self.params[k].shape else float(val)

    def solve(self, stats=None):
        """Solve with CLARABEL, falling back to SCS; returns the status string."""
        return solve_cvx(self.problem, stats)

    def value(self, name):
        x = self.vars[name].value
        return None if x is None else np.asarray(x, float)


#: Attempts, in order: CLARABEL with its defaults, CLARABEL without equilibration and with
#: more iterations, CLARABEL at 1e-7 tolerances, then SCS.  An "inaccurate" status moves on.
_CLARABEL = dict(equilibrate_enable=True, max_iter=200, tol_feas=1e-8, tol_gap_abs=1e-8, tol_gap_rel=1e-8)
# Every attempt spells out every setting: cvxpy re-uses the CLARABEL solver object between
# solves and keeps settings that a call does not mention, which would make results depend on history.
ATTEMPTS = (
    ("CLARABEL", _CLARABEL),
    ("CLARABEL", {**_CLARABEL, "equilibrate_enable": False, "max_iter": 1000}),
    ("CLARABEL", {**_CLARABEL, "tol_feas": 1e-7, "tol_gap_abs": 1e-7, "tol_gap_rel": 1e-7, "max_iter": 1000}),
    ("SCS", dict(eps=1e-9, max_iters=100000)),
)


def solve_cvx(problem, stats=None, attempts=ATTEMPTS):
    """Solve through ``attempts`` until one is accurate; counts solves and fallbacks in ``stats``."""
    status = None
    for solver, kw in attempts:
        i = next(j for j, a in enumerate(ATTEMPTS) if a[0] == solver and a[1] is kw)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # an inaccurate answer is retried below, not used
                problem.solve(solver=solver, **kw)
            status = problem.status
        except cp.error.SolverError:
            status = "solver_error"
        if stats is not None:
            stats["convex_solves"] = stats.get("convex_solves", 0) + 1
            stats.setdefault("solvers", {})
            key = solver if i == 0 or solver == "SCS" else f"{solver} (retry {i})"
            stats["solvers"][key] = stats["solvers"].get(key, 0) + 1
        if status in ("optimal", "infeasible", "unbounded"):
            if i and stats is not None:
                stats["fallbacks"] = stats.get("fallbacks", 0) + 1
                if solver == "SCS":
                    stats["scs_fallbacks"] = stats.get("scs_fallbacks", 0) + 1
            return status
    return status


@functools.lru_cache(maxsize=None)
def formulation(K: int, scheme: str, kind: str, fix_batch: bool = False) -> Formulation:
    """The compiled :class:`Formulation` (built once per process: compiling is the slow part)."""
    return Formulation(K, scheme, kind, fix_batch)


@dataclass(frozen=True)
class PairSolution:
    """The optimum of (P2) for one (M, N) with real batch sizes."""

    M: int
    N: int
    upsilon: float   # inf when infeasible
    plan: object     # round-invariant Plan (fractional batches) or None
    status: str


def bounds(M_range, N_range, scale):
    """Parameter values pinning lbM <= M <= ubM (in rounds) in scaled units."""
    (m0, m1), (n0, n1) = M_range, N_range
    f = lambda x, R: BIG if x is None or np.isinf(x) else x / R  # noqa: E731
    return dict(lbM=m0 / scale.R_M, ubM=f(m1, scale.R_M), lbN=n0 / scale.R_N, ubN=f(n1, scale.R_N))


def solve_pair(s, M: int, N: int, scheme="proposed", scale: Scale | None = None, stats=None) -> PairSolution:
    """Global optimum of (P2) for fixed (M, N) with real batches: one convex solve."""
    scale = scale or Scale.of(s, M, N)
    F = formulation(s.K, scheme, "pair")
    C = constants(s)
    F.set(**coefficients(s, scale), **bounds((M, M), (N, N), scale),
          pC=(C.gap + (C.shift if M > 0 else 0.0)) / scale.R_o)
    status = F.solve(stats)
    if status != "optimal":
        return PairSolution(M, N, np.inf, None, status)
    try:
        plan = totals_to_plan(s, F, M, N, scale, scheme)
    except RuntimeError:    # inaccurate answer: retry with SCS, the last attempt
        status = solve_cvx(F.problem, stats, attempts=ATTEMPTS[-1:])
        if status != "optimal":
            return PairSolution(M, N, np.inf, None, status)
        plan = totals_to_plan(s, F, M, N, scale, scheme)
    ups = float(F.problem.value) / ((M + N) / scale.R_o)
    return PairSolution(M, N, ups, plan, status)


def totals_to_plan(s, F, M, N, scale, scheme):
    """Per-round values of a solved formulation as a round-invariant Plan (fractional batches)."""
    g = F.value
    D = float(g("S")) * scale.S_M / M if M else None
    T = float(g("T")) * scale.tau0 / M if M else None
    B = g("Sk") * scale.S_N / N if N else None
    Tk = g("Tk") * scale.tau0 / N if N else None
    U = g("Uk") * scale.tau0 / N if N else None
    return plan_from_totals(s, M, N, D, T, B, Tk, U, scheme)
