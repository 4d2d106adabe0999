"""The search over the numbers of rounds (M, N) (Algorithm 1's outer loops), made certified.

Why it can skip almost every pair (channels fixed over rounds):

1. In stage totals the problem is jointly convex in (M, N) treated as real numbers (see
   :mod:`~edgelearn.solver.exact`).  So the least numerator h(M, N) of (34) at a pair is a
   convex function of (M, N) (partial minimisation keeps convexity), and the landscape
   v(M, N) = h(M, N)/(M + N) is *quasi-convex*: each sublevel set
   {v <= lam} = {h - lam (M + N) <= 0} is convex.
2. The real optimum (M*, N*, v*) comes from one convex solve (Charnes-Cooper); v* is a lower
   bound on Upsilon of every plan, integer or not.
3. Integer candidates near (M*, N*) give a pair with value lam.  Every pair that could host
   a better plan lies in the convex set {v <= lam}: :func:`certify_rectangle` grows an integer
   rectangle around the candidates until the real optimum beyond each of its sides is no
   better than lam, and the search visits the pairs inside.  When lam is within the solver's
   accuracy (relative 1e-7) of v*, the search stops there: no pair can be better by more
   (this is what makes huge budgets, millions of rounds on a flat landscape, cheap).
4. Branches are searched separately because the shift term of (34) jumps at M = 0:
   M >= 1 (with the shift term) and M = 0 (fine-tuning only, no shift term); M >= 1 is split
   again into N = 0 and N >= 1 (numerically easier).  A branch
   whose real optimum is already worse than the best integer plan found is skipped.

M_max and N_max: the largest number of rounds of one stage that fits both budgets when
every round is as cheap as the bounds allow: one-sample batches, and clocks, compute and
upload times chosen to spread the budgets best.  For the server alone this has the closed
form M_max = floor(min((E0 tau0^2/kappa)^(1/3), tau0 f_max c/N_FLOP)), kappa = eta phi
(N_FLOP/c)^3 (equal time tau0/M per round); for the devices the same question is a convex
program ("extent" formulation: maximise N).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from .conic import ATTEMPTS
from .exact import Scale, bounds, coefficients, formulation, solve_pair, stages
from .problem import constants

__all__ = ["Branch", "branches", "round_limits", "relax", "relax_once", "certify_rectangle", "pair_landscape"]


@dataclass(frozen=True)
class Branch:
    """A range of rounds: lo <= M <= hi (None: no upper bound), the same for N."""

    name: str
    M: tuple
    N: tuple

    @property
    def has_shift(self):
        """Every pair of the branch has pre-training (M >= 1), so the shift term of (34) is present."""
        return self.M[0] >= 1


def branches(scheme, ranges="full"):
    """The branches the search covers for a scheme and ``ranges`` ("full": M, N >= 0; "paper": M, N >= 1)."""
    if ranges not in ("full", "paper"):
        raise ValueError(f"ranges = {ranges!r}: must be 'full' (M, N >= 0) or 'paper' (M, N >= 1, Algorithm 1)")
    if scheme == "pretrain_only":
        return [Branch("M >= 1, N = 0", (1, None), (0, 0))]
    if scheme == "finetune_only":
        return [Branch("M = 0, N >= 1", (0, 0), (1, None))]
    if ranges == "paper":
        return [Branch("M >= 1, N >= 1", (1, None), (1, None))]
    # a partition of M, N >= 0: each stage present or not (a branch whose optimum would sit at N -> 0
    # with both stages is numerically hard for interior-point solvers; N = 0 as its own branch is not)
    return [Branch("M >= 1, N = 0", (1, None), (0, 0)), Branch("M >= 1, N >= 1", (1, None), (1, None)),
            Branch("M = 0, N >= 1", (0, 0), (1, None))]


def _extent(s, scheme, branch, weight_m, weight_n, scale, stats, lam=None):
    kind = "extent" if lam is None else "box"
    F = formulation(s.K, scheme, kind)
    vals = dict(**coefficients(s, scale, branch.has_shift, **stages(branch.M, branch.N)),
                **bounds(branch.M, branch.N, scale),
                weight_m=weight_m, weight_n=weight_n)
    if lam is not None:
        vals.update(level_m=lam * vals["m_unit"], level_n=lam * vals["n_unit"])
    F.set(**vals)
    status = F.solve(stats)
    if status != "optimal":
        return None
    return float(F.get("M")) * scale.R_M, float(F.get("N")) * scale.R_N


def m_max(s, scheme="proposed"):
    """The most pre-training rounds that fit both budgets (closed form, see :func:`round_limits`), real."""
    k = constants(s)
    d = s.D_max if scheme == "fixed_batch" else 1.0
    if scheme == "finetune_only":
        return 0.0
    if scheme == "fixed_frequency":
        return min(s.E0 / (k.kappa * d * k.rate_s**2), s.tau0 * k.rate_s / d)
    return min((s.E0 * s.tau0**2 / (k.kappa * d**3)) ** (1 / 3), s.tau0 * k.rate_s / d)


def round_limits(s, scheme="proposed", stats=None):
    """(M_max, N_max): the most rounds of each stage that fit the budgets on their own (see module doc).

    M_max in closed form: with D_min = 1 (D^max for fixed_batch) samples per round, M rounds
    of equal time tau0/M cost M kappa D_min^3 (M/tau0)^2, so M^3 <= E0 tau0^2/(kappa D_min^3),
    and the top clock allows M <= tau0 f_max c/(N_FLOP D_min).  At the top clock
    (fixed_frequency) a round costs kappa D_min rate^2 instead.  N_max: a convex program.
    """
    M_max = int(math.floor(m_max(s, scheme) * (1 + 1e-12)))
    if scheme == "pretrain_only":
        return M_max, 0
    br = Branch("N", (0, 0), (1, None))
    r = None
    for R in (1000.0, 1e5, 10.0, 1e7, 1.0):
        r = _extent(s, scheme, br, 0.0, -1.0, Scale.of(s, 1.0, R), stats)
        if r is not None:
            r2 = _extent(s, scheme, br, 0.0, -1.0, Scale.of(s, 1.0, max(r[1], 1.0)), stats)  # in its own units
            r = r2 or r
            break
    N_max = 0 if r is None else int(math.floor(r[1] * (1 + 1e-9)))
    if N_max == 0 and np.isfinite(solve_pair(s, 0, 1, scheme, stats=stats).upsilon):
        N_max = 1   # a sliver of a feasible set (one round, just in time) that the extent solve can miss
    return M_max, N_max


@dataclass(frozen=True)
class Relaxed:
    """The optimum of a branch with real (M, N): a lower bound on every plan of that branch."""

    branch: Branch
    M: float
    N: float
    upsilon: float
    status: str
    extra: dict = field(default_factory=dict)


#: Starting units (R_M, R_N) tried in turn by :func:`relax` after the caller's own.
GUESSES = ((1000.0, 100.0), (10.0, 1e4), (1e5, 1.0), (1e6, 1e3), (1.0, 1.0))


def relax(s, scheme, branch, stats=None, guesses=GUESSES, batches=None):
    """Real-(M, N) optimum of a branch: :func:`relax_once` from the first starting units that work.

    ``batches`` = (D, B) fixes the batch sizes (used to re-optimise the rounds around integer batches).
    Every starting unit is tried with CLARABEL first; SCS (slow: ~30 s at K = 300) only when
    CLARABEL fails in all of them, and not when every unit found the branch infeasible.
    """
    r = None
    clarabel = tuple(a for a in ATTEMPTS if a[0] != "SCS")
    for attempts in (clarabel, ATTEMPTS):
        statuses = set()
        for g in guesses:
            r = relax_once(s, scheme, branch, stats, g, batches, attempts=attempts)
            if np.isfinite(r.upsilon):
                return r
            statuses.add(r.status)
        if statuses <= {"infeasible"}:
            break
    return r


def relax_once(s, scheme, branch, stats=None, guess=(1000.0, 100.0), batches=None, attempts=ATTEMPTS):
    """Real-(M, N) optimum of a branch by the Charnes-Cooper form: one convex solve per pass.

    A pass in units of the previous answer follows until the units match the answer within
    a factor of two (at most three passes); when a later pass fails, the answer of the pass
    before stands.  ``attempts``: as :meth:`~edgelearn.solver.conic.Program.solve`.
    """
    F = formulation(s.K, scheme, "relax", batches is not None)
    res, (RM, RN) = None, guess
    for _ in range(3):
        scale = Scale.of(s, RM, RN)
        F.set(**coefficients(s, scale, branch.has_shift, **stages(branch.M, branch.N)),
              **bounds(branch.M, branch.N, scale), rounds_total=1.0)
        if batches is not None:
            F.set(d_fixed=batches[0] / scale.D_M, b_fixed=np.asarray(batches[1], float) / scale.D_N)
        status = F.solve(stats, attempts=attempts)
        if status != "optimal":   # the pass before (other units) is a solved relaxation: keep it
            return res if res is not None else Relaxed(branch, np.nan, np.nan, np.inf, status)
        th = float(F.theta.value)
        M, N = float(F.get("M")) / th * scale.R_M, float(F.get("N")) / th * scale.R_N
        res = Relaxed(branch, M, N, F.value, status)
        good = lambda x, R: x < 1 and R <= 1 or 0.5 < x / R < 2  # noqa: E731
        if good(M, scale.R_M) and good(N, scale.R_N):
            break
        RM, RN = max(M, 1.0), max(N, 1.0)
    return res


def certify_rectangle(s, scheme, branch, lam, rect, stats=None, rtol=1e-7, max_rounds=40):
    """Grow the integer rectangle ``rect`` = ((M_a, M_b), (N_a, N_b)) until no pair outside it can beat ``lam``.

    For each side, the real-(M, N) optimum of the branch restricted to beyond that side
    (e.g. M <= M_a - 1) is a lower bound on v there; a side is certified when that bound
    is >= lam (1 - rtol) or the region is empty.  A side that fails moves out past the
    restricted optimum.  Returns the certified rectangle.
    """
    (ma, mb), (na, nb) = rect
    (M0, M1), (N0, N1) = branch.M, branch.N
    for _ in range(max_rounds):
        moved = False
        sides = [("M-", (M0, ma - 1), (N0, N1)), ("M+", (mb + 1, M1), (N0, N1)),
                 ("N-", (M0, M1), (N0, na - 1)), ("N+", (M0, M1), (nb + 1, N1))]
        for name, mr, nr in sides:
            if mr[0] > mr[1] or nr[0] > nr[1]:
                continue
            r = relax(s, scheme, Branch(name, mr, nr), stats, guesses=((max(ma, 1), max(na, 1)),) + GUESSES)
            if not r.upsilon < lam * (1 - rtol):
                continue
            moved = True
            if name == "M-":
                ma = max(M0, min(ma - max(1, (mb - ma + 1)), int(math.floor(r.M))))
            elif name == "M+":
                mb = min(M1, max(mb + max(1, (mb - ma + 1)), int(math.ceil(r.M))))
            elif name == "N-":
                na = max(N0, min(na - max(1, (nb - na + 1)), int(math.floor(r.N))))
            else:
                nb = min(N1, max(nb + max(1, (nb - na + 1)), int(math.ceil(r.N))))
        if not moved:
            return (ma, mb), (na, nb)
    raise RuntimeError(f"certify_rectangle: no certified rectangle after {max_rounds} rounds")


def pair_landscape(s, Ms, Ns, scheme="proposed", progress=False):
    """v(M, N), the optimum of (P2) with real batches, on a grid: array (len(Ns), len(Ms)), inf where infeasible.

    One exact convex solve per pair (for plots; the search itself visits only a few pairs).
    """
    Ms, Ns = np.asarray(Ms, int), np.asarray(Ns, int)
    out = np.full((Ns.size, Ms.size), np.inf)
    it = [(i, j) for i in range(Ns.size) for j in range(Ms.size)]
    if progress:
        from tqdm.auto import tqdm
        it = tqdm(it, desc="landscape", leave=False)
    for i, j in it:
        if Ms[j] + Ns[i] >= 1:
            out[i, j] = solve_pair(s, int(Ms[j]), int(Ns[i]), scheme).upsilon
    return out
