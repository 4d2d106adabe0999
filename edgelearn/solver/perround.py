"""Channels that change from round to round (``g_up``/``g_down`` of shape (R, K)): the general per-round problem.

The server has no channel, so pre-training stays round-invariant (stage totals S, T as in
:mod:`~edgelearn.solver.exact`).  Fine-tuning round n gets its own batches, compute and
upload times per device.  A plan with N rounds uses the first N channel rows, so the rounds
are a prefix: round n carries a weight x_n in {0, 1}, x_1 >= x_2 >= ... >= x_R, N = sum x_n.

One convex program covers every N at once.  Written in the round's totals (x_n times its
batch, compute time, upload time), every term of (15)-(21) and of (34) is the perspective of a
convex function of the round's values (power cones for compute energy, exponential cones for
upload energy and for the average-power budget (10), x_n^2/B_tot,n for Omega), so relaxing
x_n to [0, 1] gives a convex problem, and the Charnes-Cooper scaling handles the ratio of (34)
exactly, as in the fixed-channel case.  Its optimum is a lower bound on every plan.

Only the first R rows are explicit (R = ``R_FIRST``, grown while the search visits a larger N); the rounds after them,
the *tail*, enter as one block in stage totals (count n_t,
as fine-tuning in :mod:`~edgelearn.solver.exact`) with each device's best channel over the
tail rows (least download and upload time, least upload energy).  Any plan's tail rounds,
averaged, fit that block with no more delay, energy or Omega (Jensen: sum 1/B_n >= n_t^2/sum B_n),
and (10) keeps the tail's P_ave allowance but drops its powers (>= 0); so the program with a tail
is a relaxation of the one with every row explicit, and its optimum is still a lower bound.  A
pair (M, N) with N <= R is solved with no tail at all, exactly.  When a program with a tail fails
to solve and the rows x devices are at most ``EXPLICIT_CELLS``, the search restarts with every row
explicit (no tail).

The search: each branch (M >= 1 with N = 0, which has no channel and goes to the fixed-channel
solver; M >= 1 with N >= 1; M = 0) is first bounded by the fixed-channel relaxation at each device's
best channel over the rows (every per-round plan fits there with no more delay or energy); in the
order of these bounds, a branch whose bound could beat the best pair gets its per-round relaxation
(a tighter lower bound; units from the cheap one). From it, the integer N next to the relaxation's N
are solved with x pinned (real M, then the floor and ceiling of M: v(., N) is quasi-convex in M).
When the best pair is within ``RTOL`` of the branch's bound the branch is done; else branch and
bound over N: each interval of N not yet visited is bounded by the relaxation restricted to it, and
an interval whose bound could beat the best pair by more than RTOL gets the integers next to its own
relaxed N visited and is split there.
``Solution.certified_gap`` is how far (relative) the best pair may be above the bounds left
unvisited (0 when they are all above it; inf when a solve that the certificate needs failed);
``Solution.lower_bound`` is the least branch relaxation (lowered to a checked plan's value in the
rare case that a relaxation solved to tolerance comes out above it).  When P_max <= P_ave on every
device, (10) is implied by (11) in every round and left out.  Programs of up to ``DPP_CELLS`` rows x devices are compiled once
(DPP); larger ones afresh at each solve (linear in the cells).  Batches are rounded down at the
end (same compute and upload times, so no more delay or energy).
"""
from __future__ import annotations

import functools
import math
import time

import cvxpy as cp
import numpy as np

from .. import bound as _bound
from .. import system as _system
from ..evaluate import evaluate
from ..plan import Plan
from .conic import Program
from .exact import PairSolution, solve_pair
from .integer import integer_plan, min_energy
from .problem import InfeasibleBudgetError, _clock
from .result import Landscape, Solution
from .search import Branch, branches, m_max, relax

__all__ = ["PerRoundProgram", "solve_pair_per_round", "solve_per_round"]

#: A side of the N search is certified when its relaxation is within this (relative) of the best
#: pair: the per-round landscape is flat in N (one more round changes Upsilon by ~1e-5), and
#: visiting every N would cost R solves (issue 11 allows a stated gap of 1e-4).  The shortfall
#: actually accepted is Solution.certified_gap.
RTOL = 1e-4
#: Most interval relaxations of the N search per branch; past them only the branch's relaxation bounds the rest.
MAX_STEPS = 60
#: Explicit channel rows of the first program; doubled (at least to N + 4 for the N needed) while the search needs more.
R_FIRST = 16
#: Up to this many channel rows x devices a program with a tail that fails to solve is replaced by
#: one with every row explicit.  The tail block can stall CLARABEL (InsufficientProgress, seen on
#: with_devices(cifar(), 10).replace(wasserstein=1) with 200 faded rows and 114 explicit), while the
#: explicit program solves there in ~0.3 s at 2000 cells (slower where many rows end at x = 0).
EXPLICIT_CELLS = 5000
#: Units (relative to the hint) tried on a program with a tail before every row is made explicit.
TAIL_UNITS = ((1.0, 1.0),)
#: Up to this many channel rows x devices the program is compiled once with Parameters (DPP);
#: larger ones are compiled afresh at each solve with the values as constants (cvxpy's DPP
#: compilation of the (R, K) parameter products grows far faster than the program: ~20 GB at 2000 cells).
DPP_CELLS = 300
#: Most channel rows x devices the per-round program is built for (memory and time; see solve_per_round).
MAX_CELLS = 20000
_C = dict(equilibrate_enable=True, max_iter=300, tol_feas=1e-8, tol_gap_abs=1e-8, tol_gap_rel=1e-8)
#: The per-round program is larger (R K cones of each kind): CLARABEL at 1e-8, with a smaller
#: static regularisation, with shorter steps, without equilibration, then at 1e-7 and 1e-6.
#: No SCS: on this size it takes minutes.
ATTEMPTS = (("CLARABEL", _C),
            ("CLARABEL", {**_C, "static_regularization_constant": 1e-10, "max_iter": 600}),
            ("CLARABEL", {**_C, "max_step_fraction": 0.8, "static_regularization_constant": 1e-10, "max_iter": 600}),
            ("CLARABEL", {**_C, "equilibrate_enable": False, "max_iter": 600}),
            ("CLARABEL", {**_C, "tol_feas": 1e-7, "tol_gap_abs": 1e-7, "tol_gap_rel": 1e-7}),
            ("CLARABEL", {**_C, "equilibrate_enable": False, "max_iter": 600,
                          "tol_feas": 1e-6, "tol_gap_abs": 1e-6, "tol_gap_rel": 1e-6}))


class PerRoundProgram(Program):
    """The relaxed per-round problem for K devices and R channel rows, compiled once.

    Scaled units (theta = R_o / (M + N) multiplies every variable, Charnes-Cooper): pre-training
    rounds R_M, its samples R_M D_max; a fine-tuning round's samples D_max, its time tau0 / R_N and
    energy E0 / R_N.  Parameters are named for what they are (``x_lower``/``x_upper``: bounds on
    the round weights; ``m_lower``/``m_upper``: on M in units R_M).
    """

    def __init__(self, K: int, R: int, scheme: str, tail: bool = False, average_power: bool = True):
        super().__init__()
        P = self.param
        self.K, self.R, self.scheme, self.tail = K, R, scheme, tail
        th = cp.Variable(nonneg=True)
        M, S, T, e = (cp.Variable(nonneg=True) for _ in range(4))
        x = cp.Variable(R, nonneg=True)
        Sn, t, u, ek, z = (cp.Variable((R, K), nonneg=True) for _ in range(5))
        Tn, tot, q = (cp.Variable(R, nonneg=True) for _ in range(3))
        X = cp.reshape(x, (R, 1), order="C") @ np.ones((1, K))
        nt = cp.Variable(nonneg=True) if tail else 0.0    # the tail's rounds (see below)
        self.vars = dict(theta=th, M=M, S=S, T=T, x=x, Sn=Sn, t=t, u=u)
        c = [M >= P("m_lower") * th, M <= P("m_upper") * th,
             x >= cp.multiply(P("x_lower", R), th), x <= cp.multiply(P("x_upper", R), th)]
        if R > 1:
            c += [x[:-1] >= x[1:]]                    # the rounds are a prefix of the channel rows
        # pre-training: batches (35a), clock (35c), energy (17)
        c += [S == M] if scheme == "fixed_batch" else [S <= M, S >= P("d_min") * M]
        c += [S == P("server_rate") * T] if scheme == "fixed_frequency" else [S <= P("server_rate") * T]
        c += [cp.PowCone3D(cp.hstack([e]), cp.hstack([T]), cp.hstack([P("server_energy_root") * S]), 1 / 3)]
        # fine-tuning, per round and device: batches (35b), clocks (35d), energies (18)-(19)
        bmax = P("b_max", (R, K))
        c += [Sn == cp.multiply(bmax, X)] if scheme == "fixed_batch" else \
             [Sn <= cp.multiply(bmax, X), Sn >= cp.multiply(P("b_min", (R, K)), X)]
        rate = P("device_rate", (R, K))
        c += [Sn == cp.multiply(rate, t)] if scheme == "fixed_frequency" else [Sn <= cp.multiply(rate, t)]
        vec = lambda a: cp.vec(a, order="C")  # noqa: E731
        c += [cp.PowCone3D(vec(ek), vec(t), vec(cp.multiply(P("device_energy_root", (R, K)), Sn)), 1 / 3)]
        c += [cp.constraints.ExpCone(vec(cp.multiply(P("upload_exponent", (R, K)), X)
                                         + cp.multiply(P("log_upload_power", (R, K), False), u)), vec(u), vec(z))]
        umin = P("upload_min", (R, K))
        if scheme == "fixed_power":
            c += [u == cp.multiply(umin, X)]
        elif not average_power:     # P_max <= P_ave on every device: (11) in every round implies (10)
            c += [u >= cp.multiply(umin, X)]
        else:
            c += [u >= cp.multiply(umin, X)]
            # (10): sum_n x_n p_nk <= P_ave sum_n x_n, x p = w (x e^(a x/u) - x): sigma >= x^2/u, then an exp cone;
            # the tail's powers are left out (>= 0) and its rounds' P_ave counted (a relaxation)
            sig, y = cp.Variable((R, K), nonneg=True), cp.Variable((R, K), nonneg=True)
            c += [cp.SOC(vec(sig + u), cp.vstack([2 * vec(X), vec(sig - u)]), axis=0),
                  cp.constraints.ExpCone(vec(cp.multiply(P("upload_exponent_power", (R, K)), sig)
                                             + cp.multiply(P("log_power_ratio", (R, K), False), X)), vec(X), vec(y)),
                  cp.sum(y - cp.multiply(P("power_ratio", (R, K)), X), axis=0) <= cp.sum(X, axis=0) + nt]
        c += [cp.multiply(P("download", (R, K)), X) + t + u <= cp.reshape(Tn, (R, 1), order="C") @ np.ones((1, K))]
        # the tail: rounds R+1 .. R_all (after all R explicit rows) in stage totals, each with the
        # best channel of the tail rows per device (a relaxation: see the module docstring)
        if tail:
            Sq, tq, uq, eq, zq = (cp.Variable(K, nonneg=True) for _ in range(5))
            Tq, tot_q, q_q = (cp.Variable(nonneg=True) for _ in range(3))
            self.vars.update(tail=nt)
            c += [nt >= P("tail_lower") * th, nt <= P("tail_upper") * x[R - 1]]
            c += [Sq == P("tail_b_max", K) * nt] if scheme == "fixed_batch" else \
                 [Sq <= P("tail_b_max", K) * nt, Sq >= P("tail_b_min", K) * nt]
            c += [Sq == cp.multiply(P("tail_device_rate", K), tq)] if scheme == "fixed_frequency" else \
                 [Sq <= cp.multiply(P("tail_device_rate", K), tq)]
            c += [cp.PowCone3D(eq, tq, cp.multiply(P("tail_device_energy_root", K), Sq), 1 / 3),
                  cp.constraints.ExpCone(P("tail_upload_exponent", K) * nt
                                         + cp.multiply(P("tail_log_upload_power", K, False), uq), uq, zq),
                  uq >= P("tail_upload_min", K) * nt,
                  P("tail_download", K) * nt + tq + uq <= Tq,
                  tot_q <= cp.sum(Sq), cp.SOC(q_q + tot_q, cp.hstack([2 * nt, q_q - tot_q]))]
        else:
            Tq = q_q = 0.0
            eq = zq = np.zeros(K)
        RN = P("round_unit")          # 1 / R_N: a round's time and energy units
        delay = T + RN * (cp.sum(Tn) + Tq)
        energy = e + RN * (cp.sum(ek) + cp.sum(z) + cp.sum(eq) + cp.sum(zq)) \
            - cp.sum(cp.multiply(P("upload_power_round", (R, K)), u)) + P("broadcast_energy", R) @ x
        if tail:
            energy = energy - P("tail_upload_power_round", K) @ uq + P("tail_broadcast_energy") * nt
        c += [delay <= th, energy <= th]
        c += [tot <= cp.sum(Sn, axis=1), cp.SOC(q + tot, cp.vstack([2 * x, q - tot]), axis=0)]   # q >= x^2/tot
        c += [P("m_unit") * M + P("x_unit") * (cp.sum(x) + nt) == 1]
        obj = P("lambda_coef") * cp.quad_over_lin(M, S) + P("omega_coef") * (cp.sum(q) + q_q) + P("constant") * th
        self.problem = cp.Problem(cp.Minimize(obj), c)
        assert self.problem.is_dcp(dpp=True), "per-round problem must be DPP"


@functools.lru_cache(maxsize=16)
def _program(K, R, scheme, tail=False, average_power=True):
    F = PerRoundProgram(K, R, scheme, tail, average_power)
    F.dpp = K * R <= DPP_CELLS
    return F


def _units(s, R_M, R_N, R):
    """The scenario's Parameter values in units around R_M pre-training and R_N fine-tuning rounds."""
    k = _bound.coefficients(s)
    t0, E0, Dm = s.tau0, s.E0, s.D_max
    R_o = R_M + R_N
    g_up, g_down = _system.channel_gains(s, R)
    a, w = _system.upload_energy_coefficients(s, g_up)
    d = np.asarray(_system.download_time(s, g_down), float)
    peak = np.asarray(_system.upload_time(s, np.broadcast_to(s.P_max, (R, s.K)), g_up), float)
    rows = lambda v: np.broadcast_to(np.asarray(v, float), (R, s.K))  # noqa: E731
    out = dict(
        lambda_coef=k.pretrain * R_M / (Dm * R_o), omega_coef=k.finetune / (Dm * R_o),
        m_unit=R_M / R_o, x_unit=1.0 / R_o, round_unit=1.0 / R_N,
        d_min=1.0 / Dm, server_rate=_system.server_sample_rate(s) * t0 / (R_M * Dm),
        server_energy_root=(_system.server_energy_coefficient(s) * (R_M * Dm) ** 3 / (E0 * t0**2)) ** (1 / 3),
        b_max=rows(s.B_max / Dm), device_rate=rows(_system.device_sample_rate(s) * t0 / (R_N * Dm)),
        device_energy_root=rows((_system.device_energy_coefficient(s) * Dm**3 * R_N**3 / (E0 * t0**2)) ** (1 / 3)),
        upload_exponent=a * R_N / t0, log_upload_power=np.log(w * t0 / E0), upload_power_round=w * t0 / E0 / R_N,
        upload_min=peak * R_N / t0, download=d * R_N / t0,
        broadcast_energy=s.P_server * d.max(axis=1) / E0,
    )
    out["b_min"] = rows(1.0 / Dm)
    out["upload_exponent_power"] = out["upload_exponent"]
    out["log_power_ratio"] = np.log(w / rows(s.P_ave))
    out["power_ratio"] = w / rows(s.P_ave)
    return out


class _Grow(Exception):
    """A pair needs more explicit channel rows than the program has (``n``: its N)."""

    def __init__(self, n):
        super().__init__(n)
        self.n = n


class _Search:
    """Solves of one per-round program for a scenario: relaxations and pairs, with their units.

    ``R`` explicit channel rows (the first R of the scenario's ``R_all``); the rest is the tail.
    """

    def __init__(self, s, scheme, R, stats):
        self.s, self.scheme, self.R, self.stats = s, scheme, R, stats
        self.R_all = int(s.max_channel_rounds)
        #: when a program with a tail fails, make every row explicit instead (if that fits EXPLICIT_CELLS)
        self.escalate = self.R_all > R and self.R_all * s.K <= EXPLICIT_CELLS
        avg = bool(np.any(np.asarray(s.P_max, float) > np.asarray(s.P_ave, float)))   # is (10) more than (11)?
        self.programs = {False: _program(s.K, R, scheme, False, avg)}
        if self.R_all > R:
            self.programs[True] = _program(s.K, R, scheme, True, avg)
        self.F = self.programs[False]
        self.k = _bound.coefficients(s)
        self.pairs = {}          # (M, N) -> (upsilon, plan)
        self.relaxed = {}        # (M range, N range) -> (relax's answer, status)
        self.failed = []         # pairs that no solve settled

    def _set(self, R_M, R_N, M_range, N_range, shift):
        """Parameter values of the program for these ranges (the one with the tail when N can pass R)."""
        (m0, m1), (n0, n1) = M_range, N_range
        self.F = self.programs[n1 > self.R]
        F, R, names = self.F, self.R, self.F.params
        full = _units(self.s, R_M, R_N, self.R_all)
        vals = {}
        for k, v in full.items():
            if k in names:
                vals[k] = v[:R] if np.ndim(v) else v
            if "tail_" + k in names:   # the tail's best channel: the least time, energy and power of its rows
                rest = v[R:] if np.ndim(v) and self.R_all > R else (v[-1:] if np.ndim(v) else v)
                vals["tail_" + k] = np.min(rest, axis=0) if np.ndim(rest) else rest
        vals.update(m_lower=m0 / R_M, m_upper=(1e7 if m1 is None else m1 / R_M),
                    x_lower=(np.arange(R) < n0).astype(float), x_upper=(np.arange(R) < n1).astype(float),
                    constant=self.k.constant(int(shift)) / (R_M + R_N))
        if F.tail:
            vals.update(tail_lower=max(n0 - R, 0), tail_upper=min(n1 - R, self.R_all - R))
            if "tail_b_min" in names:
                vals["tail_b_min"] = full["b_min"][0]
        F.set(**vals)

    def relax(self, M_range, N_range, units):
        """Real optimum over M in M_range, N in N_range (x relaxed, a prefix; the tail in totals):
        (upsilon, M, N) or (inf, nan, nan).

        Interior-point accuracy depends on the units; other units are tried when a solve fails.
        """
        key = (tuple(M_range), tuple(N_range))
        if key in self.relaxed:        # the same region again (a side that did not move): same answer
            self.F = self.programs[N_range[1] > self.R]
            self.F.status = self.relaxed[key][1]
            return self.relaxed[key][0]
        R_M, R_N = units
        if self.escalate and N_range[1] > self.R:
            # the tail block stalls CLARABEL in some scenarios (seen: with_devices(cifar(), 10) with
            # W = 1 and 200 faded rows, 114 explicit): two units, then every row explicit (no tail)
            for U in TAIL_UNITS:
                r = self._relax_once(M_range, N_range, (U[0] * R_M, U[1] * R_N), attempts=ATTEMPTS[:3])
                if np.isfinite(r[0]):
                    break
            if not np.isfinite(r[0]):
                self.stats["tail_failures"] = self.stats.get("tail_failures", 0) + 1
                raise _Grow(self.R_all)
            self.relaxed[key] = (r, "optimal")
            return r
        for U in ((R_M, R_N), (R_M / 4, R_N / 4), (4 * R_M, 4 * R_N), (1.0, 1.0), (10.0, R_N), (100.0, 100.0),
                  (R_M, 1.0), (math.sqrt(R_M), math.sqrt(R_N))):
            r = self._relax_once(M_range, N_range, U)
            if np.isfinite(r[0]):
                break
        self.relaxed[key] = (r, "optimal" if np.isfinite(r[0]) else self.F.status)
        return r

    def _relax_once(self, M_range, N_range, units, attempts=ATTEMPTS):
        R_M, R_N = units
        res = (np.inf, np.nan, np.nan)
        for _ in range(3):
            R_M, R_N = max(R_M, 1.0), max(R_N, 1.0)
            self._set(R_M, R_N, M_range, N_range, M_range[0] >= 1)
            if self.F.solve(self.stats, attempts=attempts) != "optimal":
                return res
            th = float(self.F.get("theta"))
            M = float(self.F.get("M")) / th * R_M
            tail = max(float(self.F.get("tail")) / th, 0.0) if self.F.tail else 0.0
            N = float(np.clip(self.F.get("x") / th, 0.0, 1.0).sum() + tail)
            res = (self.F.value, M, N)
            good = lambda v, U: (v < 1 and U <= 1) or 0.5 < v / U < 2  # noqa: E731
            if good(M, R_M) and good(N, R_N):
                break
            R_M, R_N = M, N
        return res

    def pair(self, M, N):
        """v(M, N) with real batches and its plan (one solve with everything pinned; other units on failure)."""
        if (M, N) in self.pairs:
            return self.pairs[(M, N)]
        out = (np.inf, None)
        if N > self.R:
            raise _Grow(N)
        infeasible = False
        for R_M, R_N in ((M, N), (M / 4, N / 4), (1.0, 1.0), (4 * M, 4 * N), (10.0, N), (100.0, 100.0)):
            R_M, R_N = max(R_M, 1.0), max(R_N, 1.0)
            self._set(R_M, R_N, (M, M), (N, N), M >= 1)
            status = self.F.solve(self.stats, attempts=ATTEMPTS)
            infeasible = infeasible or status == "infeasible"
            if status == "optimal":
                try:
                    plan = self._plan(M, N, R_M, R_N)
                except (RuntimeError, ValueError):
                    continue
                rep = evaluate(self.s, plan)   # the value of a plan that is checked feasible: never below the optimum
                if rep.feasible:   # the optimum, unless the plan (checked) says the solve was inaccurate
                    out = (self.F.value if abs(rep.bound / self.F.value - 1) <= 1e-5 else rep.bound, plan)
                    break
        if out[1] is None and not infeasible:
            self.failed.append((M, N))    # neither solved nor shown infeasible: the search is not certified
        self.pairs[(M, N)] = out
        return out

    def _plan(self, M, N, R_M, R_N):
        s, g = self.s, self.F.get
        if M:
            Mh = float(g("M"))
            D = float(g("S")) * s.D_max / Mh
            t = float(g("T")) * s.tau0 / (Mh * R_M)
            f = float(_clock("f", D, t, _system.server_sample_rate(s), s.f_max))
        else:
            D, f = 1.0, s.f_max
        if N:
            xs = g("x")[:N, None]
            B = np.clip(g("Sn")[:N] * s.D_max / xs, 1.0, np.asarray(s.B_max, float))
            tc = g("t")[:N] * s.tau0 / (R_N * xs)
            u = g("u")[:N] * s.tau0 / (R_N * xs)
            g_up, _ = _system.channel_gains(s, N)
            f_hat = _clock("f_hat", B, tc, _system.device_sample_rate(s), s.f_hat_max)
            p = np.minimum(_system.power_for_upload_time(s, u, g_up), s.P_max)
        else:
            B = f_hat = p = np.ones((0, s.K))
        return Plan(M=M, N=N, D=np.full(M, D), f=np.full(M, f), B=B, f_hat=f_hat, p=p)

    def best_M(self, N, M_range, units):
        """The best integer M in M_range for this N: the real optimum, then its floor and ceiling."""
        if N > self.R:
            raise _Grow(N)
        m0, m1 = M_range
        if m1 is not None and m0 == m1:
            cands = [m0]
        else:
            v, Mr, _ = self.relax(M_range, (N, N), (max(units[0], 1.0), max(N, 1.0)))
            if not np.isfinite(v):
                return np.inf, None, None
            hi = m1 if m1 is not None else math.ceil(Mr)
            cands = sorted({min(max(math.floor(Mr), m0), hi), min(max(math.ceil(Mr), m0), hi)})
        best = (np.inf, None, None)
        for M in cands:
            if M + N >= 1:
                v, plan = self.pair(M, N)
                if v < best[0]:
                    best = (v, M, plan)
        return best


def solve_pair_per_round(s, M, N, scheme="proposed", stats=None):
    """(P2) at (M, N) with per-round channels: Upsilon (real batches) and the plan, one convex solve."""
    R = int(min(s.max_channel_rounds, max(N, 1)))
    if N > s.max_channel_rounds:
        raise ValueError(f"N = {N}: the scenario's channels describe only {int(s.max_channel_rounds)} fine-tuning rounds")
    return _Search(s, scheme, R, stats).pair(M, N)


def _first_row(s):
    return s.replace(g_up=s.g_up[0] if s.g_up.ndim == 2 else s.g_up,
                     g_down=s.g_down[0] if s.g_down.ndim == 2 else s.g_down)


def _least(s, scheme, pairs, stats):
    """Least delay and least energy within tau0 over the given pairs (each with one round at most
    of fine-tuning: the first channel row), as :func:`~edgelearn.solver.solve.least_needed`."""
    first = _first_row(s)
    dmin = 1.0 if scheme != "fixed_batch" else float(s.D_max)
    bmin = np.ones(s.K) if scheme != "fixed_batch" else np.asarray(s.B_max, float)
    rate_s, rate_k = _system.server_sample_rate(s), _system.device_sample_rate(s)
    p = s.P_max if scheme == "fixed_power" else _system.average_power_cap(s)
    d = np.asarray(_system.download_time(first), float)
    u = np.asarray(_system.upload_time(first, p), float)
    kappa = _system.server_energy_coefficient(s)
    delay, energy, which = np.inf, np.inf, ""
    for M, N in pairs:
        dl = M * dmin / rate_s + N * float(np.max(d + bmin / rate_k + u))
        delay = min(delay, dl)
        if dl > s.tau0:
            continue
        if N == 0:
            t = s.tau0 / M if scheme != "fixed_frequency" else dmin / rate_s
            E = M * kappa * dmin**3 / t**2
        else:
            E, _ = min_energy(first.replace(E0=1.0), M, N, dmin, bmin, scheme, stats)
            if np.isfinite(E) and E > 0:
                E = min(E, min_energy(first.replace(E0=E), M, N, dmin, bmin, scheme, stats)[0])
        if E < energy:
            energy, which = E, f"M = {M}, N = {N} on the first channel row"
    return delay, energy, which


def _cheapest_plan(s, scheme, pairs, stats):
    """The least-energy plan with the smallest batches on one of ``pairs`` (at most one fine-tuning round)."""
    first = _first_row(s)
    dmin = 1.0 if scheme != "fixed_batch" else float(s.D_max)
    bmin = np.ones(s.K) if scheme != "fixed_batch" else np.asarray(s.B_max, float)
    for M, N in pairs:
        _, plan = min_energy(first, M, N, dmin, bmin, scheme, stats)
        if plan is not None:
            plan = Plan(M=plan.M, N=plan.N, D=plan.D, f=plan.f, B=plan.B, f_hat=plan.f_hat, p=plan.p)
            if evaluate(s, plan).feasible:
                return plan
    raise RuntimeError(f"solve: a plan fits the budgets but the per-round solver found none (scheme {scheme!r}); "
                       "please report this scenario")


def _raise_infeasible(s, scheme, pairs, stats):
    delay, energy, which = _least(s, scheme, pairs, stats)
    if delay > s.tau0:
        raise InfeasibleBudgetError("delay budget tau0", delay, s.tau0, "s",
                                    "the fastest allowed round, at the top clocks and powers")
    if energy > s.E0 * (1 + 1e-9):
        raise InfeasibleBudgetError("energy budget E0", energy, s.E0, "J",
                                    f"the least energy of the cheapest allowed training ({which}) within tau0")


def _integer(s, plan):
    """Batches rounded down with the same compute and upload times (lower clocks): no more delay or energy."""
    M, N = plan.M, plan.N
    kw = {}
    if M:
        D = max(1.0, float(np.floor(plan.D[0] + 1e-6)))       # 1e-6: solver noise around whole numbers
        kw.update(D=np.full(M, D), f=plan.f * D / plan.D)
    if N:
        B = np.maximum(1.0, np.floor(plan.B + 1e-6))
        kw.update(B=B, f_hat=plan.f_hat * B / plan.B)
    out = plan.replace(**kw)
    return out if evaluate(s, out).feasible else plan.replace(**{k: v for k, v in kw.items() if k in ("D", "B")})


def solve_per_round(s, scheme, *, M, N, method, progress, ranges):
    """:func:`~edgelearn.solve` for per-round channels (exact method only)."""
    if method != "exact":
        raise NotImplementedError("per-round channels: only method='exact' is implemented")
    t0 = time.perf_counter()
    stats = {"method": method, "scheme": scheme, "per_round": True}
    R_all = int(s.max_channel_rounds)
    cells = (R_all if M is None else N) * s.K
    if cells > MAX_CELLS:
        raise ValueError(f"per-round channels: {R_all} channel rows x K = {s.K} devices = {cells} round-device "
                         f"cells; this solver handles at most {MAX_CELLS} (each convex solve grows with the "
                         "cells).  Pass fewer rows (g_up[:N], g_down[:N]) or channels fixed over rounds")
    gap = 0.0
    if M is not None:
        if N > R_all:
            raise ValueError(f"N = {N}: the scenario's channels describe only {R_all} fine-tuning rounds")
        v, plan = solve_pair_per_round(s, M, N, scheme, stats)
        if plan is None:
            _raise_infeasible(s, scheme, [(M, N)], stats)
            raise InfeasibleBudgetError("energy budget E0", np.nextafter(s.E0, np.inf), s.E0, "J",
                                        f"no plan with M = {M}, N = {N} meets both budgets within tau0; "
                                        "with per-round channels the least energy of a given pair is not computed, "
                                        "only that it is above E0")
        lower, pair, evaluated = v, (M, N), {(M, N): v}
    else:
        def run(R):
            nonlocal gap
            search = _Search(s, scheme, R, stats)
            first = _first_row(s)
            Mcap = int(math.floor(m_max(first, scheme) * (1 + 1e-12)))
            best, lower, unsolved = (np.inf, None, None, None), np.inf, []
            brs = []
            for b in branches(scheme, ranges):
                Mr = (b.M[0], Mcap if b.M[1] is None else min(b.M[1], Mcap))
                Nr = (b.N[0], R_all if b.N[1] is None else min(b.N[1], R_all))
                if Mr[0] <= Mr[1] and Nr[0] <= Nr[1]:
                    brs.append(Branch(b.name, Mr, Nr))
            # (1) every branch's bound.  A branch with fine-tuning is first bounded by the fixed-channel
            # relaxation at each device's best channel over the rows (every per-round plan fits there
            # with no more delay or energy: a relaxation, and cheap); its per-round relaxation (real M,
            # round weights x in [0, 1]) is solved only when that bound could beat the best pair, in
            # order of the cheap bounds (a branch whose optimum sits at N = 1 leaves ~R cones at their
            # apex, which interior-point solvers find hard, and is usually skipped this way).
            relaxed = []
            for b in brs:
                if b.N == (0, 0):     # pre-training only: no channel enters, the fixed-channel relaxation
                    r = relax(first, scheme, b, stats)
                    if np.isfinite(r.upsilon):
                        relaxed.append((r.upsilon, (r.upsilon, r.M, 0.0), b))
                    elif r.status != "infeasible":
                        unsolved.append(b.name)
                    continue
                r = relax(best_s, scheme, b, stats)
                if not np.isfinite(r.upsilon) and r.status == "infeasible":
                    continue          # infeasible with the best channels: infeasible here
                if b.name not in hints and np.isfinite(r.upsilon):
                    hints[b.name] = (max(r.M, 1.0), min(max(r.N, 1.0), R_all))
                relaxed.append((r.upsilon if np.isfinite(r.upsilon) else -np.inf, None, b))
            relaxed.sort(key=lambda r: r[0])
            bar = None
            if progress:
                from tqdm.auto import tqdm
                bar = tqdm(total=len(relaxed), desc="per-round branches", leave=False)
            for cheap, out, b in relaxed:
                if bar is not None:
                    bar.update(1)
                if cheap >= best[0]:
                    lower = min(lower, cheap)
                    continue      # certified skip: even the best-channel relaxation cannot beat the pair in hand
                if out is None:
                    out = search.relax(b.M, b.N, hints.get(b.name, (max(Mcap / 4, 1.0), max(R_all / 2, 1.0))))
                    if not np.isfinite(out[0]):
                        if search.F.status != "infeasible":
                            unsolved.append(b.name)
                            lower = min(lower, cheap)
                        continue
                    hints[b.name] = (max(out[1], 1.0), max(out[2], 1.0))   # units for the next, larger program
                v, Mx, Nx = out
                lower = min(lower, v)
                if v >= best[0]:
                    continue      # certified skip: even the relaxation cannot beat the pair in hand
                Mr, Nr = b.M, b.N
                if Nr == (0, 0):  # v(M, 0) is quasi-convex in M: the floor or ceiling of the real optimum
                    for M in sorted({min(max(math.floor(Mx), Mr[0]), Mr[1]), min(max(math.ceil(Mx), Mr[0]), Mr[1])}):
                        r = solve_pair(first, M, 0, scheme, stats=stats)
                        search.pairs[(M, 0)] = (r.upsilon, r.plan)
                        if r.plan is None and r.status != "infeasible":
                            unsolved.append(f"pair {(M, 0)}")
                        if r.upsilon < best[0]:
                            best = (r.upsilon, M, 0, r.plan)
                    continue
                units = (max(Mx, 1.0), max(Nx, 1.0))
                lo = min(max(math.floor(Nx), Nr[0]), Nr[1])
                hi = min(max(math.ceil(Nx), lo), Nr[1])

                def visit(n):
                    nonlocal best
                    r = search.best_M(n, Mr, units)
                    if r[2] is None and search.F.status not in ("optimal", "infeasible"):
                        unsolved.append(f"{b.name}: N = {n}")
                    if r[0] < best[0]:
                        best = (r[0], r[1], n, r[2])

                for n in range(lo, hi + 1):
                    visit(n)
                # Branch and bound over N: every visited N is solved exactly; each interval of N not
                # visited is bounded by the relaxation restricted to it.  An interval whose bound could
                # beat the best pair by more than RTOL gets the integers next to its own relaxed N
                # visited and is split around them.
                pending, bounds_left, steps = [(Nr[0], lo - 1), (hi + 1, Nr[1])], [], 0
                while pending:
                    n0, n1 = pending.pop()
                    if n0 > n1:
                        continue
                    if best[0] <= v * (1 + RTOL):     # the branch's own bound already certifies it
                        bounds_left.append(v)
                        continue
                    if steps >= MAX_STEPS:            # out of steps: only the branch's relaxation bounds the rest
                        bounds_left.append(v)
                        continue
                    steps += 1
                    vs, _, Ns = search.relax(Mr, (n0, n1), units)
                    if not np.isfinite(vs):
                        if search.F.status != "infeasible":
                            unsolved.append(f"{b.name}: N in {(n0, n1)}")
                        continue
                    if vs >= best[0] * (1 - RTOL):
                        bounds_left.append(vs)
                        continue
                    near = sorted({min(max(math.floor(Ns), n0), n1), min(max(math.ceil(Ns), n0), n1)})
                    for n in near:
                        visit(n)
                    pending += [(n0, near[0] - 1), (near[-1] + 1, n1)]
                    if len(near) == 2 and near[1] > near[0] + 1:
                        pending.append((near[0] + 1, near[1] - 1))
                stats["interval_relaxations"] = stats.get("interval_relaxations", 0) + steps
                if bounds_left and np.isfinite(best[0]):
                    gap = max(gap, best[0] / min(bounds_left) - 1)
            if bar is not None:
                bar.close()
            unsolved += [f"pair {mn}" for mn in search.failed]
            if unsolved:                # a region with no lower bound: the answer is not certified there
                stats["unsolved"] = unsolved
                gap = np.inf
            return search, first, Mcap, best, lower, brs

        best_s = s.replace(g_up=np.max(np.atleast_2d(s.g_up), axis=0), g_down=np.max(np.atleast_2d(s.g_down), axis=0))
        R, hints = min(R_all, R_FIRST), {}
        while True:     # explicit rows for the N the search visits; the rest is the tail (a relaxation)
            try:
                gap = 0.0
                search, first, Mcap, best, lower, brs = run(R)
                break
            except _Grow as g:
                R = min(R_all, max(2 * R, g.n + 4))
                if 2 * R >= R_all and R_all * s.K <= EXPLICIT_CELLS:
                    R = R_all       # past half the rows: every row explicit costs little more than a tail
        stats["explicit_rows"] = R
        if best[3] is None:
            cheapest = [(b.M[0], b.N[0]) for b in brs]
            _raise_infeasible(s, scheme, cheapest, stats)
            # a plan fits (one round on the first channel row), but the search found none:
            # return that cheapest plan, not certified
            plan = _cheapest_plan(s, scheme, cheapest, stats)
            v = evaluate(s, plan).bound
            best = (v, plan.M, plan.N, plan)
            search.pairs[(plan.M, plan.N)] = (v, plan)
            gap, lower = np.inf, min(lower, v)
        v, Mb, Nb, plan = best
        pair = (Mb, Nb)
        evaluated = {k: val[0] for k, val in search.pairs.items()}
        stats.update(M_max=Mcap, N_max=R_all)
    if plan.N == 0:   # pre-training only: no channel enters, the fixed-channel rounding applies as is
        first = _first_row(s)
        ups, p0 = integer_plan(first, scheme, PairSolution(plan.M, 0, evaluate(s, plan).bound, plan, "optimal"),
                               Branch("N = 0", (max(1, 0), max(plan.M, 1) * 2), (0, 0)), stats)
        plan = p0 if p0 is not None and evaluate(s, p0).feasible else _integer(s, plan)
    else:
        plan = _integer(s, plan)
    report = evaluate(s, plan)
    achieved = min(evaluated[pair], report.bound)
    if lower > achieved:
        # a relaxation solved to its tolerance came out above a plan that is checked feasible:
        # that plan's value is the honest lower bound (the shortfall is recorded)
        stats["relaxation_shortfall"] = lower / achieved - 1
        lower = achieved
    keys = list(evaluated)
    land = Landscape(np.array([k[0] for k in keys], int), np.array([k[1] for k in keys], int),
                     np.array([evaluated[k] for k in keys], float), np.full(len(keys), np.nan))
    pair_bound = evaluated[pair]
    stats.update(pairs_evaluated=len(evaluated), solver="CLARABEL",
                 lower_bound=lower, pair=pair, pair_optimum=pair_bound, integrality_gap=report.bound - lower)
    stats["wall_time"] = time.perf_counter() - t0
    return Solution(s, scheme, plan, report, lower_bound=lower, pair=pair, pair_bound=pair_bound,
                    history=(pair_bound,), landscape=land, stats=stats, certified_gap=gap)
