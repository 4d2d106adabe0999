"""Summaries of the shipped runs: mean and spread over seeds, and the bound against reality."""
from __future__ import annotations

import numpy as np

__all__ = ["summary", "spearman", "group"]


def group(records, *keys) -> dict:
    """``{(values of keys): [records]}``, in the order first seen."""
    out = {}
    for r in records:
        out.setdefault(tuple(r[k] for k in keys), []).append(r)
    return out


def summary(records, metrics=("final_loss", "test_accuracy")) -> list[dict]:
    """One row per (experiment, point, scheme): the plan's M, N, bound, the seeds, and the mean
    and sample standard deviation (``<metric>_mean``, ``<metric>_sd``) of each metric over seeds."""
    rows = []
    for (exp, point, scheme), rs in group(records, "experiment", "point", "scheme").items():
        row = {"experiment": exp, "point": point, "scheme": scheme, "M": rs[0]["M"], "N": rs[0]["N"],
               "regime": rs[0]["regime"], "bound": rs[0]["bound"], "tau0": rs[0]["tau0"], "E0": rs[0]["E0"],
               "samples": rs[0]["samples"], "seeds": len(rs)}
        for m in metrics:
            v = np.array([r[m] for r in rs], float)
            row[f"{m}_mean"] = float(v.mean())
            row[f"{m}_sd"] = float(v.std(ddof=1)) if len(v) > 1 else float("nan")
        rows.append(row)
    return rows


def spearman(records) -> dict:
    """Rank agreement over every run of ``records``: Spearman's rho between the plan's bound and
    the final loss (positive: a smaller bound, a smaller loss) and between the bound and the test
    accuracy (negative: a smaller bound, a higher accuracy), with their p-values and n."""
    from scipy.stats import spearmanr

    b = np.array([r["bound"] for r in records], float)
    out = {"n": len(records)}
    for m in ("final_loss", "test_accuracy"):
        res = spearmanr(b, np.array([r[m] for r in records], float))
        out[m] = float(res.statistic)
        out[f"{m}_p"] = float(res.pvalue)
    return out
