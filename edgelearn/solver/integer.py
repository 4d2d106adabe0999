"""Integer batch sizes for a fixed (M, N): the best feasible floor/ceil rounding of the real optimum.

Upsilon (34) depends on the plan only through (M, N, D, B_1..B_K), so for each candidate
rounding it is known before any solve.  The candidates are tried from the best Upsilon
down; a candidate is feasible when the least energy that meets the delay budget with those
batches (a convex problem in compute and upload times, the "energy" formulation) is within
E0.  Rounding every batch down keeps the real optimum's times feasible, so some candidate
always is.  Rounding to the nearest integer, by contrast, can break an active budget.
"""
from __future__ import annotations

import itertools

import numpy as np

from .. import bound as _bound
from .exact import Scale, bounds, coefficients, formulation, totals_to_plan

__all__ = ["min_energy", "round_batches"]


#: The least-energy plan is computed for a delay budget this much (relatively) below tau0, so
#: that clocks returned a hair above their bounds can be set to the bounds and stay feasible.
DELAY_MARGIN = 1e-7


def min_energy(s, M, N, D, B, scheme="proposed", stats=None, kind="energy"):
    """Least energy (J) of a round-invariant plan with batches D, B that meets the delay budget.

    Returns ``(energy, plan)``; energy is inf (plan None) when even the top clocks and powers
    miss the delay budget.  ``kind="center"`` instead minimises max(delay/tau0, energy/E0)
    and returns that ratio (<= 1 when feasible) with the plan.
    """
    B = np.asarray(B, float)
    scale = Scale.of(s, M, N, D, float(B.mean()))  # units: these very batches (accuracy)
    F = formulation(s.K, scheme, kind)
    F.set(**coefficients(s, scale), **bounds((M, M), (N, N), scale), pC=0.0, dlim=1 - DELAY_MARGIN,
          Sfix=M * (D if M else 0.0) / scale.S_M,
          Skfix=N * (np.asarray(B, float) if N else np.zeros(s.K)) / scale.S_N)
    status = F.solve(stats)
    if status != "optimal":
        return np.inf, None
    try:
        plan = totals_to_plan(s, F, M, N, scale, scheme)
    except RuntimeError:       # an inaccurate answer that breaks a bound: treat the candidate as failed
        if stats is not None:
            stats["rejected_answers"] = stats.get("rejected_answers", 0) + 1
        return np.inf, None
    if M:
        plan = plan.replace(D=np.full(M, float(D)))
    if N:
        plan = plan.replace(B=np.broadcast_to(np.asarray(B, float), (N, s.K)))
    return float(F.problem.value) * (s.E0 if kind == "energy" else 1.0), plan


def _first_feasible(s, cands, best, scheme, stats):
    """Try candidates ``(upsilon, M, N, D, B)`` from the lowest Upsilon up; stop at ``best``.

    Returns ``(upsilon, plan)`` of the first candidate whose least-energy plan meets every
    budget (checked with :func:`~edgelearn.evaluate`), or ``(inf, None)``.
    """
    from ..evaluate import evaluate

    for ups, M, N, D, B in sorted(cands, key=lambda c: c[0]):
        if ups >= best:
            break
        E, p = min_energy(s, M, N, D, B, scheme, stats)
        if p is not None and E <= s.E0 * (1 + 1e-9):
            rep = evaluate(s, p)
            if rep.feasible:
                return rep.bound, p
    return np.inf, None


def round_batches(s, pair, scheme="proposed", best=np.inf, stats=None):
    """The best feasible integer rounding of ``pair`` (a PairSolution with real batches).

    Returns ``(upsilon, plan)`` of the best rounding whose Upsilon is below ``best``, or
    ``(inf, None)`` when none beats ``best``.
    """
    M, N, plan = pair.M, pair.N, pair.plan
    D0 = float(plan.D[0]) if M else 1.0
    B0 = plan.B[0] if N else np.ones(s.K)
    opts = lambda x, hi: sorted({min(max(np.floor(x + 1e-9), 1.0), np.floor(hi)),  # noqa: E731
                                 min(max(np.ceil(x - 1e-9), 1.0), np.floor(hi))})
    D_opts = opts(D0, s.D_max) if M else [1.0]
    B_opts = [opts(b, bm) for b, bm in zip(B0, s.B_max)] if N else [[1.0]] * s.K
    cands = []
    for D in D_opts:
        for B in itertools.product(*B_opts):
            B = np.array(B)
            Lam, Om = (M / D if M else 0.0), (N / B.sum() if N else 0.0)
            cands.append((float(_bound.upsilon_from_sums(s, M, N, Lam, Om)), M, N, D, B))
    return _first_feasible(s, cands, best, scheme, stats)


def integer_plan(s, scheme, pair, branch, stats=None):
    """The best integer-batch plan found around the optimal pair (real batches) ``pair``.

    Candidates: every floor/ceil rounding of the pair's batches; for each, the rounds are
    re-optimised with those batches fixed (the real-(M, N) optimum with fixed batches, one
    Charnes-Cooper solve), and the integer neighbours of that optimum are checked with
    :func:`min_energy`.  The plain rounding at the pair itself is a candidate too, so the
    result is never worse than rounding at the pair.  Returns ``(upsilon, plan)``.
    """
    from .search import relax

    best, plan = round_batches(s, pair, scheme, np.inf, stats)
    M, N = pair.M, pair.N
    D0 = float(pair.plan.D[0]) if M else float(s.D_max)
    B0 = pair.plan.B[0] if N else np.asarray(s.B_max, float)
    if scheme == "fixed_batch":
        combos = [(float(np.floor(s.D_max)), np.floor(s.B_max))]
    else:
        fl = lambda x, hi: sorted({min(max(np.floor(x + 1e-9), 1.0), np.floor(hi)),  # noqa: E731
                                   min(max(np.ceil(x - 1e-9), 1.0), np.floor(hi))})
        D_opts = fl(D0, s.D_max) if M else [float(np.floor(s.D_max))]
        B_opts = [fl(b, bm) for b, bm in zip(B0, s.B_max)] if N else [[float(np.floor(bm))] for bm in s.B_max]
        combos = [(D, np.array(B)) for D in D_opts for B in itertools.product(*B_opts)]
    for D, B in combos:
        rx = relax(s, scheme, branch, stats, batches=(D, B))
        if not rx.upsilon < best:
            continue  # even real rounds with these batches cannot beat the plan in hand
        clip = lambda x, lim: min(max(x, lim[0]), lim[1])  # noqa: E731
        near = sorted({(clip(m, branch.M), clip(n, branch.N))
                       for m in (int(np.floor(rx.M)), int(np.ceil(rx.M)))
                       for n in (int(np.floor(rx.N)), int(np.ceil(rx.N)))})
        scored = [(float(_bound.upsilon_from_sums(s, Mi, Ni, Mi / D if Mi else 0.0, Ni / B.sum() if Ni else 0.0)),
                   Mi, Ni, D, B) for Mi, Ni in near if Mi + Ni >= 1]
        ups, p = _first_feasible(s, scored, best, scheme, stats)
        if p is not None:
            best, plan = ups, p
    return best, plan
