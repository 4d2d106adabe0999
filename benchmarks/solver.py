"""Benchmark of edgelearn.solve on the paper's two presets (a script, not a test).

For each preset it prints: wall time of ``solve(scenario)`` (exact method, certified search),
M*, N*, Upsilon*, the number of convex solves; then the paper's SCA over the *same* (M, N)
pairs, once re-solving one compiled DPP problem per pair and once rebuilding the cvxpy
problem at every SCA iteration (the plain CVX way), and the speed-ups.  Finally what an
exhaustive Algorithm 1 over M <= M_max, N <= N_max would cost at the measured time per pair.
Times are after a first call that compiles the problems (that first call is printed too).

Then the scaling sweeps of issue 11 (:func:`edgelearn.solver.bench.scaling`): wall time of the
first ``solve`` call at K = 3, 10, 30, 100, 300 devices (ratio to K = 3), and with per-round
channels at N = 10, 50, 100 channel rows and K = 10 (ratio to the static K = 10 solve); N = 200
and 500 are beyond the per-round solver's memory limit (perround.MAX_CELLS) for now.

Run:  python benchmarks/solver.py            (both parts)
      python benchmarks/solver.py scaling    (the sweeps only)
"""
from __future__ import annotations

import sys
import time

import edgelearn as el
from edgelearn.solver.bench import compare, scaling


def sweeps():
    print("== scaling (CIFAR setup, c = c_hat = 4, W = 0; first call at each size, this process) ==")
    print(f"{'sweep':>20} {'K':>4} {'N rows':>6} {'seconds':>9} {'ratio':>8} {'M*':>5} {'N*':>5} "
          f"{'Upsilon':>10} {'lower bd':>10} {'cert. gap':>9} {'solves':>6}")
    def show(r):
        if r["seconds"] != r["seconds"]:
            why = r.get("error", "the previous size took longer than the limit")
            print(f"{r['sweep']:>20} {r['K']:>4} {r['N'] or '-':>6}   not run: {why}", flush=True)
            return
        print(f"{r['sweep']:>20} {r['K']:>4} {r['N'] or '-':>6} {r['seconds']:9.2f} {r['ratio']:8.2f} {r['M']:>5} "
              f"{r['N_opt']:>5} {r['upsilon']:10.5g} {r['lower_bound']:10.5g} {r['certified_gap']:9.2g} "
              f"{r['convex_solves']:>6}", flush=True)

    rows = scaling(Ns=(10, 50, 100, 200, 500), on_row=show)
    k = {r["K"]: r["seconds"] for r in rows if r["sweep"] == "devices K"}
    n = {r["N"]: r["ratio"] for r in rows if r["sweep"] == "per-round channels"}
    print(f"ratio K = 100 / K = 3: {k[100] / k[3]:.2f} (goal <= 5);  K = 300: {k[300]:.1f} s (goal well under 60 s);  "
          f"per-round N = 200, K = 10 / static K = 10: {n.get(200, float('nan')):.1f} (goal <= 30)")


def main():
    for name in ("mnist", "cifar"):
        s = getattr(el.scenarios, name)()
        t = time.perf_counter()
        el.solve(s, progress=False)
        first = time.perf_counter() - t
        r = compare(s)
        sol = r["solution"]
        print(f"== {name} ==")
        print(f"solve(scenario) [exact, certified]: {r['t_exact']:.3f} s (first call, compiling: {first:.3f} s)   "
              f"M* = {sol.plan.M}, N* = {sol.plan.N}, Upsilon* = {sol.upsilon:.6g} (whole batches; lower bound "
              f"{sol.lower_bound:.6g}; best pair with real batches {sol.pair} -> "
              f"{sol.pair_bound:.6g})")
        print(f"  convex solves: {r['solves_exact']}, pairs evaluated: {len(r['pairs'])}, solver: {sol.stats['solver']}")
        print(f"SCA over the same {len(r['pairs'])} pairs, compiled once (DPP): {r['t_sca']:.3f} s, "
              f"{r['solves_sca']} convex solves ({r['sca_iterations']} SCA iterations); best {r['best_sca']:.6g}")
        print(f"SCA over the same pairs, rebuilt every iteration:      {r['t_rebuild']:.3f} s, "
              f"{r['solves_rebuild']} convex solves; best {r['best_rebuild']:.6g}")
        print(f"  speed-up of DPP over rebuilding: {r['t_rebuild'] / r['t_sca']:.1f}x;  of solve() over the "
              f"rebuilt SCA on the same pairs: {r['t_rebuild'] / r['t_exact']:.1f}x")
        print(f"exhaustive Algorithm 1 over M <= {sol.stats['M_max']}, N <= {sol.stats['N_max']}: "
              f"{r['grid_pairs']:.3g} pairs, ~{r['t_grid_rebuild'] / 3600 / 24 / 365:.3g} years with the rebuilt SCA")
        print()


if __name__ == "__main__":
    if sys.argv[1:] != ["scaling"]:
        main()
    sweeps()
