"""Timing comparison behind ``benchmarks/solver.py`` and the book's benchmark table."""
from __future__ import annotations

import time

from .sca import sca_pair
from .solve import solve

__all__ = ["compare"]


def _timed(fn):
    t = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t


def compare(s, warm=True) -> dict:
    """Time ``solve(s)`` and the paper's SCA over the same (M, N) pairs, compiled once (DPP) and
    rebuilt at every iteration (the plain way).  ``warm``: compile the problems first (the
    explorer's situation), so that the times compare solving, not first-call compilation."""
    if warm:
        solve(s, progress=False)
    sol, t_exact = _timed(lambda: solve(s, progress=False))
    pairs = list(zip(sol.landscape.M.tolist(), sol.landscape.N.tolist()))
    st_dpp, st_rb = {}, {}
    if warm and pairs:
        sca_pair(s, *pairs[0])
    res, t_dpp = _timed(lambda: [sca_pair(s, M, N, stats=st_dpp) for M, N in pairs])
    res_rb, t_rb = _timed(lambda: [sca_pair(s, M, N, stats=st_rb, rebuild=True) for M, N in pairs])
    grid = (sol.stats["M_max"] + 1) * (sol.stats["N_max"] + 1) - 1
    return dict(
        solution=sol, pairs=pairs, t_exact=t_exact, solves_exact=sol.stats["convex_solves"],
        t_sca=t_dpp, solves_sca=st_dpp.get("convex_solves", 0), sca_iterations=st_dpp.get("sca_iterations", 0),
        best_sca=min(r.upsilon for r in res),
        t_rebuild=t_rb, solves_rebuild=st_rb.get("convex_solves", 0), best_rebuild=min(r.upsilon for r in res_rb),
        grid_pairs=grid, t_grid_rebuild=grid * t_rb / max(len(pairs), 1),
    )
