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
from dataclasses import dataclass

import cvxpy as cp
import numpy as np

from .conic import ATTEMPTS, Program
from .problem import constants, plan_from_totals

__all__ = ["Formulation", "formulation", "Scale", "coefficients", "PairSolution", "solve_pair",
           "bounds", "stages", "totals_to_plan"]

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


#: Values for the Parameters of a stage that is absent (its rounds pinned at zero): every
#: variable of that stage is then zero whatever they are, and values of order one keep the
#: program well conditioned (a broadcast energy of 1e9 budgets times zero rounds is not).  The bound
#: terms of an absent stage get a zero coefficient: its rounds are pinned at zero only to solver
#: accuracy (~1e-9), and M^2/S with S = 0 would make the objective infinite.
_IDLE_SERVER = dict(server_energy_root=1.0, server_rate=1.0, lambda_coef=0.0, m_idle=1e-2)
_IDLE_DEVICES = dict(device_energy_root=1.0, device_rate=1.0, download=0.0, upload_exponent=1.0,
                     log_upload_power=0.0, upload_power=1.0, upload_min=1.0, upload_pmax=1.0,
                     broadcast_energy=0.0, omega_coef=0.0, n_idle=1e-2)


def coefficients(s, scale: Scale, M=None, pretraining=True, finetuning=True) -> dict:
    """The value of every common Parameter of :class:`Formulation` for scenario ``s`` in units ``scale``.

    ``M`` (a number of pre-training rounds, or True/False for a branch with/without them)
    decides whether the shift term of (34) is in the constant; None leaves ``constant`` out.
    ``pretraining``/``finetuning`` False: that stage is absent (see ``_IDLE_SERVER``).
    """
    k = constants(s)
    RM, RN, Ro, t0, E0 = scale.R_M, scale.R_N, scale.R_o, scale.tau0, scale.E0
    SM, SN = scale.S_M, scale.S_N
    w = k.w_up * t0 / E0
    out = dict(
        lambda_coef=k.bound.pretrain * RM / (scale.D_M * Ro), omega_coef=k.bound.finetune * RN / (scale.D_N * Ro),
        m_unit=RM / Ro, n_unit=RN / Ro,
        d_max=s.D_max / scale.D_M, d_min=1.0 / scale.D_M, b_min=1.0 / scale.D_N,
        server_energy_root=(k.kappa * SM**3 / (E0 * t0**2)) ** (1 / 3),
        server_rate=k.rate_s * t0 / SM,
        device_energy_root=(k.kappa_k * SN**3 / (E0 * t0**2)) ** (1 / 3),
        device_rate=k.rate_k * t0 / SN,
        b_max=s.B_max / scale.D_N, d_fixed=s.D_max / scale.D_M, b_fixed=s.B_max / scale.D_N,
        download=k.d_k * RN / t0,
        upload_exponent=k.a_up * RN / t0,
        log_upload_power=np.log(w), upload_power=w,
        upload_min=k.u_min * RN / t0,
        upload_pmax=k.u_pmax * RN / t0,
        broadcast_energy=k.E_bc * RN / E0,
        m_rounds=RM, n_rounds=RN, m_idle=0.0, n_idle=0.0,
    )
    if M is not None:
        out["constant"] = k.bound.constant(int(bool(M))) / Ro
    if not pretraining:
        out.update(_IDLE_SERVER)
    if not finetuning:
        out.update({n: np.broadcast_to(v, np.shape(out[n])).copy() if np.ndim(out[n]) else v
                    for n, v in _IDLE_DEVICES.items()})
    return out


def stages(M_range, N_range):
    """Which stages a range of rounds can use: ``dict(pretraining=..., finetuning=...)``."""
    up = lambda r: r[1] is None or r[1] > 0  # noqa: E731
    return dict(pretraining=up(M_range), finetuning=up(N_range))


class Formulation(Program):
    """One compiled convex program in scaled totals.

    ``kind``:
      * ``"relax"``: real (M, N); theta is a variable, M + N = nu; optimum = Upsilon * nu;
      * ``"pair"``: theta = 1, (M, N) pinned by the bounds; objective = (M + N) * Upsilon;
      * ``"box"``: theta = 1, the constraint numerator <= lam (M + N); minimise cM M + cN N
        (the extent of the lam-sublevel set of the landscape);
      * ``"extent"``: theta = 1, minimise cM M + cN N over every feasible plan (M_max, N_max);
      * ``"energy"``: theta = 1, batches pinned; minimise the energy under the delay budget
        (times ``delay_limit``, a hair below one, so that rounding the clocks to their bounds is safe);
      * ``"center"``: theta = 1, batches pinned; minimise max(delay/tau0, energy/E0).

    Parameter names say what each is (in the scaled units of :class:`Scale`): ``lambda_coef`` and
    ``omega_coef`` multiply M^2/S and N^2/sum_k S_k (the Lambda and Omega terms of (34)),
    ``constant`` is the rest of its numerator, ``server_energy_root`` = (kappa S_unit^3/(E0 tau0^2))^(1/3)
    and so on; :func:`coefficients` gives their values.
    """

    def __init__(self, K: int, scheme: str, kind: str, fix_batch: bool = False):
        super().__init__()
        if kind not in ("relax", "pair", "box", "extent", "energy", "center"):
            raise ValueError(f"kind = {kind!r}: must be relax, pair, box, extent, energy or center")
        self.K, self.scheme, self.kind = K, scheme, kind
        fix_batch = fix_batch or scheme == "fixed_batch"
        P = self.param
        lam_c, om_c, const = P("lambda_coef"), P("omega_coef"), P("constant")
        d_max, d_min, b_min = P("d_max"), P("d_min"), P("b_min")
        kp, rate_s = P("server_energy_root"), P("server_rate")
        kk, rate_k, b_max = P("device_energy_root", K), P("device_rate", K), P("b_max", K)
        down, a_up = P("download", K), P("upload_exponent", K)
        ln_w, w = P("log_upload_power", K, False), P("upload_power", K)
        u_min, u_pmax, E_bc = P("upload_min", K), P("upload_pmax", K), P("broadcast_energy")
        lbM, ubM, lbN, ubN = P("m_lower"), P("m_upper"), P("n_lower"), P("n_upper")
        m_unit, n_unit = P("m_unit"), P("n_unit")
        d_fixed, b_fixed = P("d_fixed"), P("b_fixed", K)

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
        if fix_batch and kind not in ("energy", "center"):
            c += [S == d_fixed * M, Sk == cp.multiply(b_fixed, N)]
        else:
            c += [S <= d_max * M, S >= d_min * M, Sk <= cp.multiply(b_max, N), Sk >= b_min * N]
        # (35c)/(35d): clock bounds, linear in compute time
        if scheme == "fixed_frequency":
            c += [S == rate_s * T, Sk == cp.multiply(rate_k, Tk)]
        else:
            c += [S <= rate_s * T, Sk <= cp.multiply(rate_k, Tk)]
        # compute energy (17)/(18): e T^2 >= kp^3 S^3 (power cone)
        c += [cp.PowCone3D(cp.hstack([e]), cp.hstack([T]), cp.hstack([kp * S]), 1 / 3),
              cp.PowCone3D(ek, Tk, cp.multiply(kk, Sk), 1 / 3)]
        # upload energy (19): z_k >= w_k U_k exp(a_k N / U_k) (exponential cone)
        c += [cp.constraints.ExpCone(cp.multiply(a_up, N) + cp.multiply(ln_w, Uk), Uk, zk)]
        # power budgets (10)-(11) as a lower bound on the upload time
        c += [Uk == cp.multiply(u_pmax, N)] if scheme == "fixed_power" else [Uk >= cp.multiply(u_min, N)]
        # every device finishes download + compute + upload within the round, (16)
        c += [cp.multiply(down, N) + Tk + Uk <= Tf]
        # no round lasts longer than tau0 (implied by the delay budget); with no rounds of a stage
        # this pins its times to zero, which keeps the optimum unique and the solves well conditioned
        # (an absent stage gets a little room, ``*_idle``, so that its cones keep an interior)
        c += [T <= P("m_rounds") * M + P("m_idle"), Tk <= P("n_rounds") * N + P("n_idle"),
              Uk <= P("n_rounds") * N + P("n_idle")]
        delay = T + Tf
        energy = e + cp.sum(ek) + cp.sum(zk - cp.multiply(w, Uk)) + E_bc * N
        numerator = lam_c * cp.quad_over_lin(M, S) + om_c * cp.quad_over_lin(N, cp.sum(Sk)) + const * th
        self.delay_expr, self.energy_expr, self.numerator = delay, energy, numerator

        if kind in ("energy", "center"):
            c += [S == P("samples_fixed"), Sk == P("device_samples_fixed", K)]
            if kind == "energy":
                c += [delay <= P("delay_limit")]
                obj = energy
            else:
                tc = cp.Variable(nonneg=True)
                c += [delay <= tc, energy <= tc]
                obj = tc
        else:
            c += [delay <= th, energy <= th]
            if kind == "relax":
                c += [m_unit * M + n_unit * N == P("rounds_total")]
                obj = numerator
            elif kind == "pair":
                obj = numerator
            else:
                if kind == "box":   # numerator <= lam (M + N), in scaled units
                    c += [numerator <= P("level_m") * M + P("level_n") * N]
                obj = P("weight_m", (), False) * M + P("weight_n", (), False) * N
        self.problem = cp.Problem(cp.Minimize(obj), c)
        assert self.problem.is_dcp(dpp=True), "formulation must be DPP"


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
    """Parameter values pinning m_lower <= M <= m_upper (in rounds) in scaled units."""
    (m0, m1), (n0, n1) = M_range, N_range
    f = lambda x, R: BIG if x is None or np.isinf(x) else x / R  # noqa: E731
    return dict(m_lower=m0 / scale.R_M, m_upper=f(m1, scale.R_M), n_lower=n0 / scale.R_N, n_upper=f(n1, scale.R_N))


def solve_pair(s, M: int, N: int, scheme="proposed", scale: Scale | None = None, stats=None) -> PairSolution:
    """Global optimum of (P2) for fixed (M, N) with real batches: one convex solve."""
    scale = scale or Scale.of(s, M, N)
    F = formulation(s.K, scheme, "pair")
    F.set(**coefficients(s, scale, M, **stages((M, M), (N, N))), **bounds((M, M), (N, N), scale))
    status = F.solve(stats)
    if status != "optimal":
        return PairSolution(M, N, np.inf, None, status)
    try:
        plan = totals_to_plan(s, F, M, N, scale, scheme)
    except RuntimeError:    # inaccurate answer: retry with SCS, the last attempt
        status = F.solve(stats, attempts=ATTEMPTS[-1:])
        if status != "optimal":
            return PairSolution(M, N, np.inf, None, status)
        try:
            plan = totals_to_plan(s, F, M, N, scale, scheme)
        except RuntimeError:
            return PairSolution(M, N, np.inf, None, "inaccurate")
    ups = F.value / ((M + N) / scale.R_o)
    return PairSolution(M, N, ups, plan, status)


def totals_to_plan(s, F, M, N, scale, scheme):
    """Per-round values of a solved formulation as a round-invariant Plan (fractional batches)."""
    g = F.get
    D = float(g("S")) * scale.S_M / M if M else None
    T = float(g("T")) * scale.tau0 / M if M else None
    B = g("Sk") * scale.S_N / N if N else None
    Tk = g("Tk") * scale.tau0 / N if N else None
    U = g("Uk") * scale.tau0 / N if N else None
    return plan_from_totals(s, M, N, D, T, B, Tk, U, scheme)
