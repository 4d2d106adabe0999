"""Figures of solver results: the (M, N) landscape, the optimal allocation, the schemes compared.

Colours follow :mod:`edgelearn.plots` (one colour per scheme and per stage across the book).
"""
from __future__ import annotations

import numpy as np

from ..plots import SCHEME_COLORS, SCHEME_LABELS, STAGE_COLORS

__all__ = ["landscape_figure", "allocation_figure", "schemes_figure", "schemes_table", "allocation_table"]


def landscape_figure(Ms, Ns, V, marks=(), ax=None, title=None):
    """Heatmap of v(M, N) (Upsilon with real batches) over a grid; infeasible pairs hatched grey.

    ``marks``: iterable of (M, N, label) drawn as points.
    """
    import matplotlib.pyplot as plt
    from matplotlib.colors import LogNorm

    if ax is None:
        fig, ax = plt.subplots(figsize=(7, 4))
    fig = ax.figure
    Z = np.ma.masked_invalid(np.where(np.isfinite(V), V, np.nan))
    ax.set_facecolor("#dddddd")
    mesh = ax.pcolormesh(Ms, Ns, Z, shading="nearest", cmap="viridis_r",
                         norm=LogNorm(vmin=float(Z.min()), vmax=float(Z.max())))
    fig.colorbar(mesh, ax=ax, label=r"$\Upsilon$ at the best batches, clocks, powers")
    for M, N, label in marks:
        ax.plot(M, N, marker="*", ms=14, color="red", mec="white", ls="none")
        ax.annotate(label, (M, N), textcoords="offset points", xytext=(8, 6), color="red", fontsize=9)
    ax.set(xlabel="pre-training rounds $M$", ylabel="fine-tuning rounds $N$", title=title)
    return fig


def _splits(report):
    b = report.breakdown
    delay = {"pre-training compute": b.pretrain_total_delay}
    energy = {"pre-training compute": b.pretrain_total_energy}
    if report.plan.N:
        st = b.straggler
        n = np.arange(len(st))
        delay.update({"download": float(b.download_time[n, st].sum()),
                      "device compute": float(b.compute_time[n, st].sum()),
                      "upload": float(b.upload_time[n, st].sum())})
        energy.update({"broadcast": float(b.broadcast_energy.sum()),
                       "device compute": float(b.compute_energy.sum()),
                       "upload": float(b.upload_energy.sum())})
    return delay, energy


_PART_COLORS = {"pre-training compute": STAGE_COLORS["pretrain"], "download": STAGE_COLORS["download"],
                "broadcast": STAGE_COLORS["download"], "device compute": "#56B4E9", "upload": STAGE_COLORS["upload"]}


def allocation_figure(solutions: dict, axes=None):
    """Where the delay budget and the energy budget go, one bar per solution (``{label: Solution}``).

    Fine-tuning delay is split along the straggler's round (download, compute, upload).
    """
    import matplotlib.pyplot as plt

    if axes is None:
        fig, axes = plt.subplots(1, 2, figsize=(10, 0.8 + 0.6 * len(solutions)), sharey=True)
    fig = axes[0].figure
    labels = list(solutions)
    labelled = set()          # each part named in the legend once, from whichever solution has it first
    for i, name in enumerate(labels):
        rep = solutions[name].report
        for ax, part, budget in zip(axes, _splits(rep), (rep.scenario.tau0, rep.scenario.E0)):
            left = 0.0
            for key, val in part.items():
                ax.barh(i, 100 * val / budget, left=left, color=_PART_COLORS[key], edgecolor="white",
                        label=None if (ax, key) in labelled else key)
                labelled.add((ax, key))
                left += 100 * val / budget
    axes[0].set(yticks=range(len(labels)), yticklabels=labels, xlabel="share of the delay budget (%)", xlim=(0, 105))
    axes[1].set(xlabel="share of the energy budget (%)", xlim=(0, 105))
    handles = {}
    for ax in axes:
        for h, lab in zip(*ax.get_legend_handles_labels()):
            handles.setdefault(lab, h)
        ax.spines[["top", "right"]].set_visible(False)
    fig.legend(handles.values(), handles.keys(), loc="upper center", ncol=5, frameon=False, bbox_to_anchor=(0.5, 1.08))
    fig.tight_layout()
    return fig


def allocation_table(sol) -> dict:
    """The optimal allocation of a Solution as a flat dict (rounds, batches, clocks, powers, totals)."""
    p, rep = sol.plan, sol.report
    row = {"M": p.M, "N": p.N,
           "D (samples)": p.D[0] if p.M else None, "f (GHz)": p.f[0] / 1e9 if p.M else None}
    for k in range(p.K):
        row[f"B_{k + 1}"] = p.B[0, k] if p.N else None
        row[f"f_hat_{k + 1} (MHz)"] = p.f_hat[0, k] / 1e6 if p.N else None
        row[f"p_{k + 1} (mW)"] = p.p[0, k] * 1e3 if p.N else None
    row.update({"Upsilon": rep.bound, "delay (s)": rep.delay, "energy (J)": rep.energy})
    return row


def schemes_table(solutions: dict):
    """One row per scheme: rounds, Upsilon, its lower bound, delay and energy (a pandas DataFrame)."""
    import pandas as pd

    rows = []
    for scheme, sol in solutions.items():
        if sol is None:
            rows.append({"scheme": SCHEME_LABELS[scheme], "M": None, "N": None, "Upsilon": np.inf})
            continue
        rows.append({"scheme": SCHEME_LABELS[scheme], "M": sol.plan.M, "N": sol.plan.N,
                     "Upsilon": sol.upsilon, "lower bound": sol.stats["lower_bound"],
                     "delay (s)": sol.report.delay, "energy (J)": sol.report.energy})
    return pd.DataFrame(rows).set_index("scheme")


def schemes_figure(solutions_by_preset: dict, axes=None):
    """Bar chart of Upsilon per scheme, one panel per preset (``{preset: {scheme: Solution}}``), on a
    linear axis from zero (bar lengths compare as values)."""
    import matplotlib.pyplot as plt

    n = len(solutions_by_preset)
    if axes is None:
        fig, axes = plt.subplots(1, n, figsize=(5 * n, 3.6))
    axes = np.atleast_1d(axes)
    for ax, (preset, sols) in zip(axes, solutions_by_preset.items()):
        names = list(sols)
        vals = [sols[k].upsilon if sols[k] is not None else np.nan for k in names]
        ax.bar(range(len(names)), vals, color=[SCHEME_COLORS[k] for k in names])
        ax.set(xticks=range(len(names)), title=preset, ylabel=r"bound $\Upsilon$ (34)", ylim=(0, None))
        ax.set_xticklabels([SCHEME_LABELS[k] for k in names], rotation=35, ha="right")
        ax.spines[["top", "right"]].set_visible(False)
    axes[0].figure.tight_layout()
    return axes[0].figure
