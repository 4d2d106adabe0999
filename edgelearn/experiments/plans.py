"""Plans from the solver, cached on disk, and the trained comparison of the six schemes.

This is the one place where the solver (:mod:`edgelearn.solver`) meets the trainer
(:mod:`edgelearn.train`): the trainer executes a given plan and needs only the system model.
"""
from __future__ import annotations

import json

import numpy as np

from ..cache import DiskCache, make_key

__all__ = ["solved_plan", "compare", "sweep"]


def _solver_hash() -> str:
    from ..train import _source_hash

    return _source_hash("solver", "system", "bound", "evaluate", "plan", "scenario")


def solved_plan(scenario, scheme: str = "proposed", *, cache=True, cache_dir=None, **solve_kw):
    """``edgelearn.solve(scenario, scheme, **solve_kw).plan``, cached on disk.

    The key hashes the scenario, the scheme, the options and the solver's source, so a
    changed solver recomputes.  Raises the solver's ``InfeasibleBudgetError`` when no
    plan meets the budgets.
    """
    from ..plan import Plan
    from ..solver import solve

    solve_kw.setdefault("progress", False)
    key = make_key("plan", _solver_hash(), scenario.digest(), scheme,
                   {k: v for k, v in solve_kw.items() if k != "progress"})
    store = DiskCache(cache_dir, namespace="plans") if cache else None
    if store is not None:
        blob = store.load(key)
        if blob is not None:
            d = json.loads(blob)
            return Plan(**{k: (np.array(v, float).reshape(-1, scenario.K) if k in ("B", "f_hat", "p") else v)
                           for k, v in d.items()})
    plan = solve(scenario, scheme, **solve_kw).plan
    if store is not None:
        store.save(key, json.dumps(plan.to_dict()).encode())
    return plan


def compare(scenario, experiment, schemes=None, *, solve_kw=None, **run_kw) -> dict:
    """Solve each scheme's plan for ``scenario`` and train it: ``{scheme: History or None}``.

    ``schemes`` defaults to the proposed design and the five benchmarks
    (:data:`edgelearn.plots.SCHEMES`).  A scheme whose budgets admit no plan gives None.
    ``run_kw`` goes to :func:`edgelearn.train.run` (``seed``, ``eval_every``, ``progress``, ...).
    """
    from ..plots import SCHEMES
    from ..solver import InfeasibleBudgetError
    from ..train import run

    out = {}
    for scheme in (SCHEMES if schemes is None else schemes):
        try:
            plan = solved_plan(scenario, scheme, **(solve_kw or {}))
        except InfeasibleBudgetError:
            out[scheme] = None
            continue
        out[scheme] = run(scenario, plan, experiment, **run_kw)
    return out


def sweep(scenario, experiment, budget: str, values, schemes=None, *, solve_kw=None, **run_kw) -> dict:
    """Final test accuracy of each scheme as one budget varies: ``{scheme: array like values}``.

    ``budget``: ``"tau0"`` (the paper's Fig. 4) or ``"E0"`` (Fig. 5); every other
    field of ``scenario`` stays.  NaN where the budgets admit no plan for a scheme.
    """
    if budget not in ("tau0", "E0"):
        raise ValueError(f"budget = {budget!r}: must be 'tau0' or 'E0'")
    runs = [compare(scenario.replace(**{budget: float(v)}), experiment, schemes, solve_kw=solve_kw, **run_kw)
            for v in values]
    return {k: np.array([np.nan if r[k] is None else r[k].final_accuracy for r in runs]) for k in runs[0]}
