"""Integer batch sizes for a fixed (M, N): the best feasible rounding of the real optimum.

Upsilon (34) depends on the batches only through D and the total B_1 + ... + B_K, so a
rounding is scored before any solve.  The candidates are tried from the best Upsilon
down; a candidate is feasible when the least energy that meets the delay budget with those
batches (a convex problem in compute and upload times, the "energy" formulation) is within
E0.  Rounding every batch down keeps the real optimum's times feasible, so some candidate
always is (and that plan, with the real optimum's clocks and powers, is the last resort).

Which devices to round up: with few fractional batches (at most :data:`EXHAUSTIVE`) every
floor/ceil combination; otherwise the nested sets "the j devices whose batches are closest
to their ceiling", j = 0..K.  Larger sets need more energy (their batches are elementwise
larger), so the largest feasible j is found by bisection: O(log K) convex solves.
"""
from __future__ import annotations

import itertools

import numpy as np

from .. import bound as _bound
from ..evaluate import evaluate
from .exact import Scale, bounds, coefficients, formulation, stages, totals_to_plan
from .search import relax

__all__ = ["min_energy", "round_batches", "integer_plan", "roundings", "EXHAUSTIVE"]


#: The least-energy plan is computed for a delay budget this much (relatively) below tau0, so
#: that clocks returned a hair above their bounds can be set to the bounds and stay feasible.
DELAY_MARGIN = 1e-7
#: Up to this many fractional batches, every floor/ceil combination is a candidate (2^4 = 16).
EXHAUSTIVE = 4


def min_energy(s, M, N, D, B, scheme="proposed", stats=None, kind="energy"):
    """Least energy (J) of a round-invariant plan with batches D, B that meets the delay budget.

    Returns ``(energy, plan)``; energy is inf (plan None) when even the top clocks and powers
    miss the delay budget.  ``kind="center"`` instead minimises max(delay/tau0, energy/E0)
    and returns that ratio (<= 1 when feasible) with the plan.
    """
    B = np.asarray(B, float)
    scale = Scale.of(s, M, N, D, float(B.mean()))  # units: these very batches (accuracy)
    F = formulation(s.K, scheme, kind)
    vals = dict(**coefficients(s, scale, 0, **stages((M, M), (N, N))), **bounds((M, M), (N, N), scale),
                samples_fixed=M * (D if M else 0.0) / scale.S_M,
                device_samples_fixed=N * (B if N else np.zeros(s.K)) / scale.S_N)
    if kind == "energy":
        vals["delay_limit"] = 1 - DELAY_MARGIN
    F.set(**vals)
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
        plan = plan.replace(B=np.broadcast_to(B, (N, s.K)))
    return F.value * (s.E0 if kind == "energy" else 1.0), plan


def _score(s, M, N, D, B):
    return float(_bound.upsilon_from_sums(s, M, N, *_bound.uniform_batch_sums(M, N, D, B)))


def _feasible(s, M, N, D, B, scheme, stats):
    """The least-energy plan with batches (D, B) at (M, N) when it meets every budget, else None."""
    E, p = min_energy(s, M, N, D, B, scheme, stats)
    if p is not None and E <= s.E0 * (1 + 1e-9) and evaluate(s, p).feasible:
        return p
    return None


def _options(x, hi):
    """Floor and ceiling of x within [1, floor(hi)] (1e-9: solver noise around whole numbers)."""
    return sorted({min(max(np.floor(x + 1e-9), 1.0), np.floor(hi)), min(max(np.ceil(x - 1e-9), 1.0), np.floor(hi))})


def roundings(s, M, N, D0, B0):
    """Candidate integer batches around real ones: a list of (D, B) groups.

    Each group is a list of (D, B) ordered by growing B (so growing energy); within a group
    feasibility is monotone.  Few fractional batches: one group per combination (each of size one).
    """
    D_opts = _options(D0, s.D_max) if M else [1.0]
    if not N:
        return [[(D, np.ones(s.K))] for D in D_opts]
    lo = np.array([_options(b, bm)[0] for b, bm in zip(B0, s.B_max)])
    hi = np.array([_options(b, bm)[-1] for b, bm in zip(B0, s.B_max)])
    frac = np.nonzero(hi > lo)[0]
    if frac.size <= EXHAUSTIVE:
        out = []
        for D in D_opts:
            for ups in itertools.product((0, 1), repeat=frac.size):
                B = lo.copy()
                B[frac[np.array(ups, bool)]] = hi[frac[np.array(ups, bool)]]
                out.append([(D, B)])
        return out
    order = frac[np.argsort(-(np.asarray(B0)[frac] - lo[frac]), kind="stable")]  # closest to the ceiling first
    groups = []
    for D in D_opts:
        g = []
        for j in range(frac.size + 1):
            B = lo.copy()
            B[order[:j]] = hi[order[:j]]
            g.append((D, B))
        groups.append(g)
    return groups


def _best_in_group(s, M, N, group, best, scheme, stats):
    """The largest feasible member of a monotone group (bisection), if its Upsilon beats ``best``."""
    if _score(s, M, N, *group[-1]) >= best:
        return np.inf, None
    found = _feasible(s, M, N, *group[-1], scheme, stats)
    if found is None:                       # bisection for the largest feasible index below the top
        lo, hi = 0, len(group) - 2
        while lo <= hi:
            mid = (lo + hi) // 2
            p = _feasible(s, M, N, *group[mid], scheme, stats)
            if p is not None:
                found, lo = p, mid + 1
            else:
                hi = mid - 1
    if found is None:
        return np.inf, None
    ups = evaluate(s, found).bound
    return (ups, found) if ups < best else (np.inf, None)


def _round_at(s, M, N, D0, B0, best, scheme, stats):
    """The best feasible rounding of batches (D0, B0) at (M, N) with Upsilon below ``best``."""
    groups = sorted(roundings(s, M, N, D0, B0), key=lambda g: _score(s, M, N, *g[-1]))
    out = (np.inf, None)
    for g in groups:
        r = _best_in_group(s, M, N, g, min(best, out[0]), scheme, stats)
        if r[1] is not None:
            out = r
    return out


def _floored(s, pair):
    """The pair's own plan with every batch rounded down: the same clocks and powers, so no more
    delay or energy (the last resort when every least-energy solve fails)."""
    plan = pair.plan
    kw = {}
    if plan.M:
        kw["D"] = np.full(plan.M, max(1.0, float(np.floor(plan.D[0] + 1e-9))))
    if plan.N:
        kw["B"] = np.broadcast_to(np.maximum(1.0, np.floor(plan.B[0] + 1e-9)), (plan.N, s.K))
    p = plan.replace(**kw)
    rep = evaluate(s, p)
    return (rep.bound, p) if rep.feasible else (np.inf, None)


def round_batches(s, pair, scheme="proposed", best=np.inf, stats=None):
    """The best feasible integer rounding of ``pair`` (a PairSolution with real batches).

    Returns ``(upsilon, plan)`` of the best rounding whose Upsilon is below ``best``, or
    ``(inf, None)`` when none beats ``best``.
    """
    M, N, plan = pair.M, pair.N, pair.plan
    D0 = float(plan.D[0]) if M else 1.0
    B0 = plan.B[0] if N else np.ones(s.K)
    out = _round_at(s, M, N, D0, B0, best, scheme, stats)
    if out[1] is None:
        fl = _floored(s, pair)
        if fl[0] < best:
            out = fl
    return out


def integer_plan(s, scheme, pair, branch, stats=None):
    """The best integer-batch plan found around the optimal pair (real batches) ``pair``.

    Candidates: the roundings of the pair's batches (:func:`roundings`; the best feasible one
    of each group); for each, the rounds are re-optimised with those batches fixed (the
    real-(M, N) optimum with fixed batches, one Charnes-Cooper solve), and the integer
    neighbours of that optimum are checked with :func:`min_energy`.  The rounding at the pair
    itself is a candidate too, so the result is never worse than rounding at the pair.
    Returns ``(upsilon, plan)``; the plan is never None for a feasible pair.
    """
    best, plan = round_batches(s, pair, scheme, np.inf, stats)
    M, N = pair.M, pair.N
    if scheme == "fixed_batch":
        combos = [(float(np.floor(s.D_max)), np.floor(s.B_max))]
    else:
        D0 = float(pair.plan.D[0]) if M else float(s.D_max)
        B0 = pair.plan.B[0] if N else np.asarray(s.B_max, float)
        groups = roundings(s, max(M, 1), max(N, 1), D0, B0)
        # per group: the member that the rounding at the pair chose, and the one above it
        combos = []
        for g in groups:
            if len(g) == 1:
                combos.append(g[0])
            else:
                j = next((i for i, (D, B) in enumerate(g) if plan is not None and N and
                          np.array_equal(B, plan.B[0]) and (not M or D == plan.D[0])), len(g) // 2)
                combos += [g[j]] + ([g[j + 1]] if j + 1 < len(g) else [])
    for D, B in combos:
        rx = relax(s, scheme, branch, stats, batches=(D, B))
        if not rx.upsilon < best:
            continue  # even real rounds with these batches cannot beat the plan in hand
        clip = lambda x, lim: min(max(x, lim[0]), lim[1] if lim[1] is not None else x)  # noqa: E731
        near = sorted({(clip(m, branch.M), clip(n, branch.N))
                       for m in (int(np.floor(rx.M)), int(np.ceil(rx.M)))
                       for n in (int(np.floor(rx.N)), int(np.ceil(rx.N)))})
        for Mi, Ni in sorted(near, key=lambda mn: _score(s, mn[0], mn[1], D, B) if sum(mn) else np.inf):
            if Mi + Ni < 1 or _score(s, Mi, Ni, D, B) >= best:
                continue
            p = _feasible(s, Mi, Ni, D, B, scheme, stats)
            if p is not None:
                best, plan = evaluate(s, p).bound, p
                break
    return best, plan
