"""``python -m edgelearn.experiments run --all``: train and ship the book's experiments.

``run NAME ...`` runs some of them; ``status`` lists what is shipped and what is stale.
"""
from __future__ import annotations

import argparse
import sys


def main(argv=None) -> int:
    from . import named, store

    ap = argparse.ArgumentParser(prog="python -m edgelearn.experiments", description=__doc__)
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run", help="train every missing or outdated run (resumable)")
    r.add_argument("names", nargs="*", help=f"experiments, of {sorted(named.EXPERIMENTS)}")
    r.add_argument("--all", action="store_true", help="every named experiment")
    r.add_argument("--device", default="auto", help="'auto' (CUDA when present), 'cpu', 'cuda', ...")
    r.add_argument("--threads", type=int, default=1, help="torch threads on the CPU (default 1)")
    r.add_argument("--seeds", type=int, nargs="*", default=None, help="training seeds (default: each experiment's)")
    r.add_argument("--root", default=None, help="results folder (default: the repository's results/)")
    r.add_argument("--force", action="store_true", help="retrain runs that are current too")
    s = sub.add_parser("status", help="count shipped runs, stale runs and infeasible points")
    s.add_argument("--root", default=None)
    a = ap.parse_args(argv)
    if a.cmd == "run":
        if not a.all and not a.names:
            ap.error("run: name experiments or pass --all")
        for n in a.names:
            named.get(n)
        from .run import run_experiments

        c = run_experiments(None if a.all else a.names, root=a.root, device=a.device, seeds=a.seeds,
                            threads=a.threads, force=a.force)
        print(f"trained {c['trained']}, kept {c['kept']} current runs, refreshed {c['refreshed']} (same training, "
              f"new clock/energy/bound), {c['infeasible']} infeasible "
              f"(point, scheme) pairs, {c['wall_time']:.1f} s")
        return 0
    recs = store.results(root=a.root)
    stale = [r for r in recs if r["stale"]]
    print(f"{len(recs)} runs, {len(stale)} stale, {len(store.infeasible(root=a.root))} infeasible pairs")
    for r in stale[:20]:
        print("  stale:", r["experiment"], r["point"], r["scheme"], r["seed"], ",".join(r["stale"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
