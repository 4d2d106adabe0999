"""The public entry point: :func:`solve` returns a :class:`Solution` for one of the six schemes."""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np

from ..evaluate import evaluate
from .exact import solve_pair
from .integer import integer_plan, min_energy, round_batches
from .problem import SCHEMES, InfeasibleBudgetError, check_scheme, constants
from .search import Branch, branches, certify_rectangle, relax, round_limits

__all__ = ["solve", "Solution", "Landscape", "METHODS", "REGIMES", "regime_of"]

#: The three shapes an allocation can take: which of the two stages it uses.
REGIMES = ("pretrain_only", "finetune_only", "two_stage")


def regime_of(M: int, N: int) -> str:
    """``"pretrain_only"`` when N = 0, ``"finetune_only"`` when M = 0, else ``"two_stage"``."""
    if M + N < 1:
        raise ValueError(f"rounds M = {M}, N = {N}: need M + N >= 1")
    return "pretrain_only" if N == 0 else "finetune_only" if M == 0 else "two_stage"

METHODS = ("exact", "sca")
#: Most integer pairs the certified search visits in one sublevel box before giving up.
MAX_BOX_PAIRS = 4000


@dataclass(frozen=True)
class Landscape:
    """Every (M, N) the search evaluated: Upsilon with real batches (inf: infeasible) and,
    where it was rounded, Upsilon of the best integer-batch plan (nan: not rounded)."""

    M: np.ndarray
    N: np.ndarray
    upsilon: np.ndarray
    integer_upsilon: np.ndarray

    def __len__(self):
        return len(self.M)

    def __repr__(self):
        ok = np.isfinite(self.upsilon)
        return (f"Landscape({len(self)} pairs, {int(ok.sum())} feasible, "
                f"M in [{self.M.min() if len(self) else '-'}, {self.M.max() if len(self) else '-'}], "
                f"N in [{self.N.min() if len(self) else '-'}, {self.N.max() if len(self) else '-'}])")


@dataclass(frozen=True)
class Solution:
    """What :func:`solve` found: the integer plan, its report, the SCA trace, the landscape, statistics."""

    scenario: object
    scheme: str
    plan: object
    report: object
    history: tuple
    landscape: Landscape
    stats: dict = field(default_factory=dict)

    @property
    def upsilon(self) -> float:
        return self.report.bound

    @property
    def regime(self) -> str:
        """Which stages the plan uses: ``"pretrain_only"`` (N = 0), ``"finetune_only"`` (M = 0) or ``"two_stage"``."""
        return regime_of(self.plan.M, self.plan.N)

    def __repr__(self):
        st = self.stats
        lb = st.get("lower_bound")
        return (f"Solution(scheme={self.scheme!r}, M={self.plan.M}, N={self.plan.N}, Upsilon={self.upsilon:.6g}"
                + (f", lower bound={lb:.6g}" if lb is not None else "")
                + f", {st.get('convex_solves', 0)} convex solves, {st.get('wall_time', 0):.3g} s)")


def _pair_solver(method, eps):
    if method == "exact":
        return lambda s, M, N, scheme, stats: solve_pair(s, M, N, scheme, stats=stats)
    from .sca import sca_pair
    return lambda s, M, N, scheme, stats: sca_pair(s, M, N, scheme, eps=eps, stats=stats)


def _diagnose(s, scheme, pairs, stats):
    """Raise InfeasibleBudgetError for the budget that even the cheapest allowed round breaks."""
    k = constants(s)
    dmin = 1.0 if scheme != "fixed_batch" else s.D_max
    bmin = np.ones(s.K) if scheme != "fixed_batch" else s.B_max
    u = k.u_pmax if scheme == "fixed_power" else k.u_min
    best_delay, best_energy, which = np.inf, np.inf, ""
    for M, N in pairs:
        delay = M * dmin / k.rate_s + N * float(np.max(k.d_k + bmin / k.rate_k + u))
        if delay < best_delay:
            best_delay = delay
        if N == 0:  # closed form: one stage, M equal rounds over tau0 (top clock when fixed)
            t = s.tau0 / M if scheme != "fixed_frequency" else dmin / k.rate_s
            E = M * k.kappa * dmin**3 / t**2
        else:       # convex; solved twice so that the energy unit matches the answer
            E, _ = min_energy(s.replace(E0=1.0), M, N, dmin, bmin, scheme, stats)
            if np.isfinite(E) and E > 0:
                E = min(E, min_energy(s.replace(E0=E), M, N, dmin, bmin, scheme, stats)[0])
        if E < best_energy:
            best_energy, which = E, f"M = {M}, N = {N} with {'the largest' if scheme == 'fixed_batch' else 'one-sample'} batches"
    if best_delay > s.tau0 * (1 + 1e-9):
        raise InfeasibleBudgetError("delay budget tau0", best_delay, s.tau0, "s",
                                    "the fastest allowed round, at the top clocks and powers")
    raise InfeasibleBudgetError("energy budget E0", best_energy, s.E0, "J",
                                f"the least energy of the cheapest allowed training ({which}) within tau0")


def solve(scenario, scheme="proposed", *, M=None, N=None, method="exact", eps=1e-6, progress=True,
          ranges="full") -> Solution:
    """Minimise the bound Upsilon (34) under the delay and energy budgets: problem (P1).

    ``scheme``: one of :data:`~edgelearn.solver.problem.SCHEMES`.  ``M``, ``N``: solve only
    the inner problem (P2) for that pair (then integer batches).  ``method``: ``"exact"``
    (the convex reformulation, one solve per pair) or ``"sca"`` (the paper's successive
    convex approximation, (P3.o), stopped when Upsilon decreases by less than ``eps``).
    ``ranges``: ``"full"`` searches M, N >= 0; ``"paper"`` M, N >= 1 as Algorithm 1.

    The search is certified (see :mod:`~edgelearn.solver.search`): ``stats["lower_bound"]``
    is the optimum over real (M, N) and real batches, so no plan can do better, and
    ``stats["integrality_gap"]`` is what whole batches cost.
    """
    t0 = time.perf_counter()
    s = scenario
    check_scheme(scheme)
    if method not in METHODS:
        raise ValueError(f"method = {method!r}: must be one of {METHODS}")
    if not eps > 0:
        raise ValueError(f"eps = {eps!r}: must be > 0")
    if s.per_round_channels:
        from .perround import solve_per_round
        return solve_per_round(s, scheme, M=M, N=N, method=method, eps=eps, progress=progress, ranges=ranges)
    if scheme == "fixed_power":
        bad = np.nonzero(s.P_max > s.P_ave * (1 + 1e-12))[0]
        if bad.size:
            i = int(bad[0])
            raise InfeasibleBudgetError(f"average power budget P_ave[{i}]", s.P_max[i], s.P_ave[i], "W",
                                        "fixed_power transmits at P_max in every round")
    stats = {"method": method, "scheme": scheme}
    pair_solver = _pair_solver(method, eps)
    evaluated = {}   # (M, N) -> (upsilon real, upsilon integer)
    history = ()

    evaluated_int = {}

    def visit(Mi, Ni):
        r = pair_solver(s, Mi, Ni, scheme, stats)
        evaluated[(Mi, Ni)] = r.upsilon
        return r

    if M is not None or N is not None:
        if M is None or N is None:
            raise ValueError("give both M and N (or neither, to search)")
        for name, v in (("M", M), ("N", N)):
            if isinstance(v, bool) or not float(v).is_integer() or v < 0:
                raise ValueError(f"{name} = {v!r}: must be a whole number >= 0")
        M, N = int(M), int(N)
        if M + N < 1:
            raise ValueError("M + N = 0: at least one round is needed")
        if (scheme == "pretrain_only" and N) or (scheme == "finetune_only" and M):
            raise ValueError(f"scheme {scheme!r} fixes {'N' if scheme == 'pretrain_only' else 'M'} = 0; "
                             f"got M = {M}, N = {N}")
        r = visit(M, N)
        if r.plan is None:
            _diagnose(s, scheme, [(M, N)], stats)
        history = getattr(r, "history", (r.upsilon,))
        ups_int, plan = round_batches(s, r, scheme, np.inf, stats)
        evaluated_int[(M, N)] = ups_int
        stats.update(lower_bound=r.upsilon, pair_optimum=r.upsilon, pair=(M, N))
    else:
        M_max, N_max = round_limits(s, scheme, stats)
        stats.update(M_max=M_max, N_max=N_max)
        brs = []
        for b in branches(scheme, ranges):
            hiM = M_max if b.M[1] is None else b.M[1]
            hiN = N_max if b.N[1] is None else b.N[1]
            if hiM >= b.M[0] and hiN >= b.N[0]:
                brs.append(Branch(b.name, (b.M[0], hiM), (b.N[0], hiN)))
        relaxed = [relax(s, scheme, b, stats) for b in brs]
        relaxed = [r for r in relaxed if np.isfinite(r.upsilon)]
        if not relaxed:
            cheapest = [(b.M[0], b.N[0]) for b in branches(scheme, ranges)]
            _diagnose(s, scheme, cheapest, stats)
        relaxed.sort(key=lambda r: r.upsilon)
        stats["relaxed"] = {r.branch.name: dict(M=r.M, N=r.N, upsilon=r.upsilon) for r in relaxed}
        stats["lower_bound"] = relaxed[0].upsilon
        # (2) certified pair search with real batches: neighbours, then the sublevel box
        best, pair, boxes = np.inf, None, {}
        bar = _bar(progress, len(relaxed))
        for rx in relaxed:
            bar.update(1)
            if rx.upsilon >= best:
                continue  # certified skip: even real (M, N) cannot beat the pair in hand
            b = rx.branch
            clip = lambda x, lim: min(max(x, lim[0]), lim[1])  # noqa: E731
            near = {(clip(m, b.M), clip(n, b.N)) for m in (math.floor(rx.M), math.ceil(rx.M))
                    for n in (math.floor(rx.N), math.ceil(rx.N))}
            for Mi, Ni in sorted(near):
                if Mi + Ni >= 1:
                    r = visit(Mi, Ni)
                    if r.upsilon < best:
                        best, pair = r.upsilon, r
            if not np.isfinite(best):
                continue
            ms = [m for m, _ in near]
            ns = [n for _, n in near]
            box = certify_rectangle(s, scheme, b, best, ((min(ms), max(ms)), (min(ns), max(ns))), stats)
            boxes[b.name] = box
            (m0, m1), (n0, n1) = box
            count = (m1 - m0 + 1) * (n1 - n0 + 1)
            if count > MAX_BOX_PAIRS:
                raise RuntimeError(f"sublevel box {box} has {count} pairs (> {MAX_BOX_PAIRS}); "
                                   "the landscape is too flat for the certified search")
            for Mi in range(m0, m1 + 1):
                for Ni in range(n0, n1 + 1):
                    if (Mi, Ni) not in evaluated and Mi + Ni >= 1:
                        r = visit(Mi, Ni)
                        if r.upsilon < best:
                            best, pair = r.upsilon, r
        bar.close()
        stats["boxes"] = boxes
        if pair is None:
            _diagnose(s, scheme, [(b.M[0], b.N[0]) for b in branches(scheme, ranges)], stats)
        stats["pair"] = (pair.M, pair.N)
        stats["pair_optimum"] = pair.upsilon
        # (3) integer batches: round at the pair, then re-optimise the rounds around each rounding
        branch = next(b for b in brs if b.M[0] <= pair.M <= b.M[1] and b.N[0] <= pair.N <= b.N[1])
        best_int, plan = integer_plan(s, scheme, pair, branch, stats)
        evaluated_int[(plan.M, plan.N)] = best_int
        if method == "sca":
            history = getattr(pair_solver(s, plan.M, plan.N, scheme, {}), "history", ())
    report = evaluate(s, plan)
    Ms = np.array([k[0] for k in evaluated], int)
    Ns = np.array([k[1] for k in evaluated], int)
    ups = np.array(list(evaluated.values()), float)
    ui = np.array([evaluated_int.get(k, np.nan) for k in evaluated], float)
    stats["pairs_evaluated"] = len(evaluated)
    stats["integrality_gap"] = report.bound - stats["lower_bound"]
    stats["solver"] = "CLARABEL" + (f" (SCS fallback x{stats['scs_fallbacks']})" if stats.get("scs_fallbacks") else "")
    stats["wall_time"] = time.perf_counter() - t0
    if not history:
        history = (stats["pair_optimum"],)
    return Solution(s, scheme, plan, report, tuple(history), Landscape(Ms, Ns, ups, ui), stats)


class _NoBar:
    def update(self, n=1):
        pass

    def close(self):
        pass


def _bar(progress, total):
    if not progress:
        return _NoBar()
    from tqdm.auto import tqdm
    return tqdm(total=total, desc="searching (M, N) branches", leave=False)
