"""The public entry point: :func:`solve` returns a :class:`~edgelearn.solver.result.Solution` for one of the six schemes."""
from __future__ import annotations

import math
import time

import numpy as np

from ..evaluate import evaluate
from .exact import solve_pair
from .integer import integer_plan, min_energy, round_batches
from .perround import solve_per_round
from .problem import InfeasibleBudgetError, check_scheme, constants
from .result import REGIMES, Landscape, Solution, regime_of
from .search import Branch, branches, certify_rectangle, relax, round_limits

__all__ = ["solve", "Solution", "Landscape", "METHODS", "REGIMES", "regime_of", "least_needed"]

METHODS = ("exact", "sca")
#: Most integer pairs the certified search visits in one rectangle before it stops at the solver's tolerance.
MAX_BOX_PAIRS = 4000
#: Relative accuracy of the convex solves: a pair within this of the lower bound is optimal to solver accuracy.
RTOL = 1e-7


def _pair_solver(method, eps):
    if method == "exact":
        return lambda s, M, N, scheme, stats: solve_pair(s, M, N, scheme, stats=stats)
    from .sca import sca_pair   # noqa: PLC0415  (sca imports integer, not solve: no cycle)
    return lambda s, M, N, scheme, stats: sca_pair(s, M, N, scheme, eps=eps, stats=stats)


def least_needed(s, scheme, pairs, stats=None):
    """The least delay (s) and, within tau0, the least energy (J) of any plan on the given (M, N) pairs.

    The cheapest plan on a pair uses one-sample batches (the largest for fixed_batch), so the
    least delay is closed-form and the least energy under the delay budget is one small convex
    problem (the "energy" formulation; a closed form for pre-training only).
    Returns ``(delay, energy, which)``.
    """
    k = constants(s)
    dmin = 1.0 if scheme != "fixed_batch" else float(s.D_max)
    bmin = np.ones(s.K) if scheme != "fixed_batch" else np.asarray(s.B_max, float)
    u = k.u_pmax if scheme == "fixed_power" else k.u_min
    best_delay, best_energy, which = np.inf, np.inf, ""
    for M, N in pairs:
        delay = M * dmin / k.rate_s + N * float(np.max(k.d_k + bmin / k.rate_k + u))
        best_delay = min(best_delay, delay)
        if delay > s.tau0:
            continue
        if N == 0:  # closed form: M equal rounds over tau0 (the top clock when fixed)
            t = s.tau0 / M if scheme != "fixed_frequency" else dmin / k.rate_s
            E = M * k.kappa * dmin**3 / t**2
        else:       # convex; solved twice so that the energy unit matches the answer
            E, _ = min_energy(s.replace(E0=1.0), M, N, dmin, bmin, scheme, stats)
            if np.isfinite(E) and E > 0:
                E = min(E, min_energy(s.replace(E0=E), M, N, dmin, bmin, scheme, stats)[0])
        if E < best_energy:
            best_energy = E
            which = f"M = {M}, N = {N} with {'the largest' if scheme == 'fixed_batch' else 'one-sample'} batches"
    return best_delay, best_energy, which


def _check_delay(s, scheme, pairs):
    """Raise InfeasibleBudgetError when even the fastest allowed plan on ``pairs`` misses tau0 (closed form)."""
    k = constants(s)
    dmin = 1.0 if scheme != "fixed_batch" else float(s.D_max)
    bmin = np.ones(s.K) if scheme != "fixed_batch" else np.asarray(s.B_max, float)
    u = k.u_pmax if scheme == "fixed_power" else k.u_min
    delay = min(M * dmin / k.rate_s + N * float(np.max(k.d_k + bmin / k.rate_k + u)) for M, N in pairs)
    if delay > s.tau0:
        raise InfeasibleBudgetError("delay budget tau0", delay, s.tau0, "s",
                                    "the fastest allowed round, at the top clocks and powers")


def _diagnose(s, scheme, pairs, stats):
    """Raise InfeasibleBudgetError for the budget that even the cheapest allowed plan breaks.

    Returns (without raising) when a plan does fit both budgets: then the search must go on.
    """
    delay, energy, which = least_needed(s, scheme, pairs, stats)
    if delay > s.tau0:
        raise InfeasibleBudgetError("delay budget tau0", delay, s.tau0, "s",
                                    "the fastest allowed round, at the top clocks and powers")
    if energy > s.E0 * (1 + 1e-9) and np.isfinite(energy):
        raise InfeasibleBudgetError("energy budget E0", energy, s.E0, "J",
                                    f"the least energy of the cheapest allowed training ({which}) within tau0")


def _fallback(s, scheme, pairs, stats, whole=False):
    """A feasible pair when the search found none although a plan exists (numerically hard
    budgets): the cheapest pairs, solved exactly, else the least-energy plan on one of them
    (``whole``: only that, whose batches are whole numbers)."""
    from .exact import PairSolution   # noqa: PLC0415
    best = None
    for M, N in ([] if whole else pairs):
        r = solve_pair(s, M, N, scheme, stats=stats)
        if np.isfinite(r.upsilon) and (best is None or r.upsilon < best.upsilon):
            best = r
    if best is not None:
        return best
    dmin = 1.0 if scheme != "fixed_batch" else float(s.D_max)
    bmin = np.ones(s.K) if scheme != "fixed_batch" else np.asarray(s.B_max, float)
    for M, N in pairs:
        _, plan = min_energy(s, M, N, dmin, bmin, scheme, stats)
        if plan is not None and evaluate(s, plan).feasible:
            return PairSolution(M, N, evaluate(s, plan).bound, plan, "least energy")
    raise RuntimeError(f"solve: a plan fits the budgets but the solver found none (scheme {scheme!r}); "
                       "please report this scenario")


def _check_rounds(scheme, M, N):
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
    return M, N


def solve(scenario, scheme="proposed", *, M=None, N=None, method="exact", eps=1e-6, progress=True,
          ranges="full") -> Solution:
    """Minimise the bound Upsilon (34) under the delay and energy budgets: problem (P1).

    ``scheme``: one of :data:`~edgelearn.solver.problem.SCHEMES`.  ``M``, ``N``: solve only
    the inner problem (P2) for that pair (then integer batches).  ``method``: ``"exact"``
    (the convex reformulation, one solve per pair) or ``"sca"`` (the paper's successive
    convex approximation, (P3.o), stopped when Upsilon decreases by less than ``eps``).
    ``ranges``: ``"full"`` searches M, N >= 0; ``"paper"`` M, N >= 1 as Algorithm 1.

    The search is certified (see :mod:`~edgelearn.solver.search`): ``Solution.lower_bound``
    is the optimum over real (M, N) and real batches, so no plan can do better, and
    ``Solution.integrality_gap`` is what whole batches cost.  Same input, same answer and
    the same work, whatever ran before in the process.  Raises
    :class:`~edgelearn.InfeasibleBudgetError` only when no plan meets the budgets.
    """
    t0 = time.perf_counter()
    s = scenario
    check_scheme(scheme)
    if method not in METHODS:
        raise ValueError(f"method = {method!r}: must be one of {METHODS}")
    if not eps > 0:
        raise ValueError(f"eps = {eps!r}: must be > 0")
    branches(scheme, ranges)   # checks ranges
    if M is not None or N is not None:
        M, N = _check_rounds(scheme, M, N)
    if s.per_round_channels:
        return solve_per_round(s, scheme, M=M, N=N, method=method, progress=progress, ranges=ranges)
    if scheme == "fixed_power":
        bad = np.nonzero(s.P_max > s.P_ave * (1 + 1e-12))[0]
        if bad.size:
            i = int(bad[0])
            raise InfeasibleBudgetError(f"average power budget P_ave[{i}]", s.P_max[i], s.P_ave[i], "W",
                                        "fixed_power transmits at P_max in every round")
    stats = {"method": method, "scheme": scheme}
    pair_solver = _pair_solver(method, eps)
    evaluated, evaluated_int = {}, {}   # (M, N) -> Upsilon with real / whole batches
    history = ()
    certified_gap = 0.0

    def visit(Mi, Ni):
        r = pair_solver(s, Mi, Ni, scheme, stats)
        evaluated[(Mi, Ni)] = r.upsilon
        return r

    cheapest = [(M, N)] if M is not None else [(b.M[0], b.N[0]) for b in branches(scheme, ranges)]
    _check_delay(s, scheme, cheapest)
    if M is not None:
        r = visit(M, N)
        if r.plan is None:
            _diagnose(s, scheme, [(M, N)], stats)
            r = _fallback(s, scheme, [(M, N)], stats)
            evaluated[(M, N)] = r.upsilon
        history = getattr(r, "history", (r.upsilon,))
        ups_int, plan = round_batches(s, r, scheme, np.inf, stats)
        evaluated_int[(M, N)] = ups_int
        pair, lower = r, r.upsilon
    else:
        M_max, N_max = round_limits(s, scheme, stats)
        stats.update(M_max=M_max, N_max=N_max)
        brs = []
        for b in branches(scheme, ranges):
            hiM = M_max if b.M[1] is None else b.M[1]
            hiN = N_max if b.N[1] is None else b.N[1]
            if hiM >= b.M[0] and hiN >= b.N[0]:
                brs.append(Branch(b.name, (b.M[0], hiM), (b.N[0], hiN)))
        cheapest = [(b.M[0], b.N[0]) for b in branches(scheme, ranges)]
        if not brs:
            _diagnose(s, scheme, cheapest, stats)
        guesses = ((max(M_max / 4, 1.0), max(N_max / 4, 1.0)),) + tuple(
            g for g in ((1000.0, 100.0), (10.0, 1e4), (1e5, 1.0), (1e6, 1e3), (1.0, 1.0)))
        relaxed = [relax(s, scheme, b, stats, guesses=guesses) for b in brs]
        failed = [r.branch.name for r in relaxed if not np.isfinite(r.upsilon) and r.status != "infeasible"]
        if failed:   # no lower bound for these branches: the answer is not certified there
            stats["unsolved_branches"] = failed
            certified_gap = np.inf
        relaxed = sorted((r for r in relaxed if np.isfinite(r.upsilon)), key=lambda r: r.upsilon)
        if not relaxed:
            _diagnose(s, scheme, cheapest, stats)
        stats["relaxed"] = {r.branch.name: dict(M=r.M, N=r.N, upsilon=r.upsilon) for r in relaxed}
        lower = relaxed[0].upsilon if relaxed else -np.inf
        # (2) certified pair search with real batches: neighbours, then the certified rectangle
        best, pair, boxes = np.inf, None, {}
        branch_best = {}   # branch name -> (branch, its best real-batch pair)

        def keep_branch_best(b, r):
            if np.isfinite(r.upsilon) and (b.name not in branch_best or r.upsilon < branch_best[b.name][1].upsilon):
                branch_best[b.name] = (b, r)
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
                    keep_branch_best(b, r)
                    if r.upsilon < best:
                        best, pair = r.upsilon, r
            if not np.isfinite(best):
                continue
            if best <= rx.upsilon * (1 + RTOL):
                continue  # the pair in hand is the branch's real optimum to solver accuracy
            ms = [m for m, _ in near]
            ns = [n for _, n in near]
            box = certify_rectangle(s, scheme, b, best, ((min(ms), max(ms)), (min(ns), max(ns))), stats, rtol=RTOL)
            boxes[b.name] = box
            (m0, m1), (n0, n1) = box
            count = (m1 - m0 + 1) * (n1 - n0 + 1)
            if count > MAX_BOX_PAIRS:
                # a flat landscape: every pair of the rectangle is within RTOL of the best one
                certified_gap = max(certified_gap, best / rx.upsilon - 1)
                continue
            for Mi in range(m0, m1 + 1):
                for Ni in range(n0, n1 + 1):
                    if (Mi, Ni) not in evaluated and Mi + Ni >= 1:
                        r = visit(Mi, Ni)
                        keep_branch_best(b, r)
                        if r.upsilon < best:
                            best, pair = r.upsilon, r
        bar.close()
        stats["boxes"] = boxes
        if pair is None:
            _diagnose(s, scheme, cheapest, stats)
            pair = _fallback(s, scheme, cheapest, stats)
            evaluated[(pair.M, pair.N)] = pair.upsilon
            certified_gap = np.inf
            if not relaxed:
                lower = -np.inf
            brs = brs or [Branch(b.name, (b.M[0], b.M[1] or pair.M), (b.N[0], b.N[1] or pair.N))
                          for b in branches(scheme, ranges)]
        # (3) integer batches: round at the pair, then re-optimise the rounds around each rounding
        branch = next(b for b in brs if b.M[0] <= pair.M <= b.M[1] and b.N[0] <= pair.N <= b.N[1])
        best_int, plan = integer_plan(s, scheme, pair, branch, stats)
        if plan is None:    # every rounding failed numerically: the cheapest whole batches at the pair
            plan = _fallback(s, scheme, [(pair.M, pair.N)], stats, whole=True).plan
            best_int = evaluate(s, plan).bound
        evaluated_int[(plan.M, plan.N)] = best_int
        # Whole batches cost each branch a different amount: near a change of regime the best pair
        # of another branch (another regime) can round to a better plan.  Round there too.
        for rx in relaxed:
            b_other = rx.branch
            if b_other.name == branch.name or not rx.upsilon < best_int:
                continue   # its real-batch optimum cannot beat the whole-batch plan in hand
            if b_other.name not in branch_best:   # skipped above: look at its real optimum's neighbours
                for Mi in {min(max(m, b_other.M[0]), b_other.M[1]) for m in (math.floor(rx.M), math.ceil(rx.M))}:
                    for Ni in {min(max(n, b_other.N[0]), b_other.N[1]) for n in (math.floor(rx.N), math.ceil(rx.N))}:
                        if Mi + Ni >= 1:
                            keep_branch_best(b_other, visit(Mi, Ni))
            if b_other.name not in branch_best:
                continue
            b_other, r_other = branch_best[b_other.name]
            if not r_other.upsilon < best_int:
                continue
            ups_o, plan_o = integer_plan(s, scheme, r_other, b_other, stats)
            if plan_o is not None and ups_o < best_int:
                best_int, plan, pair = ups_o, plan_o, r_other
                evaluated_int[(plan.M, plan.N)] = best_int
                stats["rounded_in_other_branch"] = b_other.name
        if method == "sca":
            history = getattr(pair_solver(s, plan.M, plan.N, scheme, {}), "history", ())
    report = evaluate(s, plan)
    achieved = min(pair.upsilon, report.bound)
    if lower > achieved:
        # the relaxation is solved to ~1e-7 relative; where a plan does better, that plan's value
        # is the honest lower bound (recorded, so it can be seen)
        stats["relaxation_shortfall"] = lower / achieved - 1
        lower = achieved
    keys = list(evaluated)
    land = Landscape(np.array([k[0] for k in keys], int), np.array([k[1] for k in keys], int),
                     np.array([evaluated[k] for k in keys], float),
                     np.array([evaluated_int.get(k, np.nan) for k in keys], float))
    stats["pairs_evaluated"] = len(evaluated)
    stats["solver"] = "CLARABEL" + (f" (SCS fallback x{stats['scs_fallbacks']})" if stats.get("scs_fallbacks") else "")
    # kept for old callers: read Solution.lower_bound, .pair, .pair_bound, .integrality_gap instead
    stats.update(lower_bound=lower, pair=(pair.M, pair.N), pair_optimum=pair.upsilon,
                 integrality_gap=report.bound - lower)
    stats["wall_time"] = time.perf_counter() - t0
    return Solution(s, scheme, plan, report, lower_bound=lower, pair=(pair.M, pair.N), pair_bound=pair.upsilon,
                    history=tuple(history) or (pair.upsilon,), landscape=land, stats=stats,
                    certified_gap=certified_gap)


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
