"""Benchmark: how many fine-tuning rounds per second does FedSGD on Flower run, against train.run?

Runs one plan (M = 0, N fine-tuning rounds, K devices, LeNet-5 on mnist-mnist) three ways:

  * ``train.run`` in process (its default: one pass over the union of the batches),
  * ``train.run(per_device=True)`` (one pass per device, the numbers Flower reproduces),
  * ``edgelearn.flower.run`` through ``run_simulation`` (Ray, in a loopback-only namespace),

and prints rounds per second of each and the ratios Flower / in-process:

  * *loop*: rounds / the training loop's wall time (``History.wall_time``, measured by the
    loop itself; for Flower it is the server's loop, messages to the SuperNodes included);
  * *end to end*: rounds / the whole call (for Flower: Ray's start-up, the ClientApps' data
    loading, the QUERY round and the shutdown as well).

    python benchmarks/flower.py [--K 3] [--N 30] [--B 32] [--threads 1] [--engine simulation] [--repeat 3]
"""
from __future__ import annotations

import argparse
import time

import numpy as np
import torch

import edgelearn as el
from edgelearn import flower, train


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--K", type=int, default=3)
    ap.add_argument("--N", type=int, default=30)
    ap.add_argument("--B", type=int, default=32, help="batch size per device and round")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--engine", default="simulation", choices=flower.ENGINES)
    ap.add_argument("--repeat", type=int, default=3, help="timings of each in-process run (median); Flower: one")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    s = el.scenarios.mnist().replace(K=a.K)
    plan = el.Plan.uniform(s, M=0, N=a.N, D=1, f=1e9, B=a.B, f_hat=3e8, p=0.3)
    kw = dict(seed=0, eval_every=0, progress=False)

    train.run(s, plan.replace(N=2, B=plan.B[:2], f_hat=plan.f_hat[:2], p=plan.p[:2]), cache=False, **kw)  # warm-up
    rows = {}
    for name, fn, repeat in [("train.run", lambda: train.run(s, plan, cache=False, **kw), a.repeat),
                             ("train.run per device",
                              lambda: train.run(s, plan, cache=False, per_device=True, **kw), a.repeat),
                             (f"flower.run ({a.engine})", lambda: flower.run(s, plan, engine=a.engine, **kw), 1)]:
        runs = []
        for _ in range(repeat):
            t = time.perf_counter()
            h = fn()
            runs.append((h, a.N / h.wall_time, a.N / (time.perf_counter() - t)))
        loop, e2e = float(np.median([r[1] for r in runs])), float(np.median([r[2] for r in runs]))
        rows[name] = (runs[0][0], loop, e2e)

    print(f"plan: M = 0, N = {a.N} rounds, K = {a.K} devices, B_k = {a.B}; LeNet-5 on mnist-mnist; "
          f"{a.threads} torch thread(s); in-process rates: median of {a.repeat} after a warm-up")
    print(f"{'':26s} {'loop rounds/s':>14s} {'end-to-end rounds/s':>20s}")
    for name, (_, loop, e2e) in rows.items():
        print(f"{name:26s} {loop:14.2f} {e2e:20.3f}")
    fl = rows[f"flower.run ({a.engine})"]
    for ref in ("train.run", "train.run per device"):
        print(f"ratio Flower / {ref:21s} loop {fl[1] / rows[ref][1]:.4f}   end to end {fl[2] / rows[ref][2]:.4f}")
    same = np.array_equal(fl[0].loss, rows["train.run per device"][0].loss)
    print(f"Flower losses equal train.run(per_device=True)'s bit for bit: {same}")


if __name__ == "__main__":
    main()
