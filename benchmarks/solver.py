"""Benchmark of edgelearn.solve on the paper's two presets (a script, not a test).

For each preset it prints: wall time of ``solve(scenario)`` (exact method, certified search),
M*, N*, Upsilon*, the number of convex solves; then the paper's SCA over the *same* (M, N)
pairs, once re-solving one compiled DPP problem per pair and once rebuilding the cvxpy
problem at every SCA iteration (the plain CVX way), and the speed-ups.  Finally what an
exhaustive Algorithm 1 over M <= M_max, N <= N_max would cost at the measured time per pair.

Run:  python benchmarks/solver.py
"""
from __future__ import annotations

import time

import edgelearn as el
from edgelearn.solver.sca import sca_pair


def timed(fn, *a, **kw):
    t = time.perf_counter()
    out = fn(*a, **kw)
    return out, time.perf_counter() - t


def main():
    rows = []
    for name in ("mnist", "cifar"):
        s = getattr(el.scenarios, name)()
        el.solve(s, progress=False)                  # compile once (first-call cost, reported below)
        sol, t_exact = timed(el.solve, s, progress=False)
        pairs = list(zip(sol.landscape.M.tolist(), sol.landscape.N.tolist()))
        st = {}
        _, t_dpp = timed(lambda: [sca_pair(s, M, N, stats=st) for M, N in pairs])
        st_rb = {}
        res_rb, t_rb = timed(lambda: [sca_pair(s, M, N, stats=st_rb, rebuild=True) for M, N in pairs])
        best_rb = min(r.upsilon for r in res_rb)
        per_pair = t_rb / len(pairs)
        M_max, N_max = sol.stats["M_max"], sol.stats["N_max"]
        grid = (M_max + 1) * (N_max + 1) - 1
        rows.append((name, sol, t_exact, pairs, t_dpp, st, t_rb, st_rb, best_rb, per_pair, grid))

    for name, sol, t_exact, pairs, t_dpp, st, t_rb, st_rb, best_rb, per_pair, grid in rows:
        print(f"== {name} ==")
        print(f"solve(scenario) [exact, certified]: {t_exact:.3f} s   M* = {sol.plan.M}, N* = {sol.plan.N}, "
              f"Upsilon* = {sol.upsilon:.6g} (whole batches; lower bound {sol.stats['lower_bound']:.6g}, "
              f"best pair with real batches {sol.stats['pair']} -> {sol.stats['pair_optimum']:.6g})")
        print(f"  convex solves: {sol.stats['convex_solves']}, pairs evaluated: {len(pairs)}, solver: {sol.stats['solver']}")
        print(f"SCA over the same {len(pairs)} pairs, compiled once (DPP): {t_dpp:.3f} s, "
              f"{st['convex_solves']} convex solves ({st.get('sca_iterations', 0)} SCA iterations)")
        print(f"SCA over the same pairs, rebuilt every iteration:      {t_rb:.3f} s, "
              f"{st_rb['convex_solves']} convex solves; best pair Upsilon {best_rb:.6g}")
        print(f"  speed-up of DPP over rebuilding: {t_rb / t_dpp:.1f}x;  of solve() over rebuilt SCA on these pairs: "
              f"{t_rb / t_exact:.1f}x")
        print(f"exhaustive Algorithm 1 over M <= {sol.stats['M_max']}, N <= {sol.stats['N_max']}: {grid:.3g} pairs, "
              f"~{grid * per_pair / 3600 / 24 / 365:.3g} years at {per_pair * 1e3:.0f} ms per pair (rebuilt SCA)")
        print()


if __name__ == "__main__":
    main()
