"""The experiments chapter's figures, drawn from shipped runs (:func:`edgelearn.experiments.results`).

Every figure draws the mean over seeds as a line and mean +- one sample standard deviation as
a band, in the book's one colour per scheme (:data:`edgelearn.plots.SCHEME_COLORS`).
"""
from __future__ import annotations

import numpy as np

from .analysis import group, spearman
from .store import PAPER_RANGES

__all__ = ["loss_figure", "budget_figure", "bound_figure", "style", "label"]


def label(scheme: str) -> str:
    from ..plots import SCHEME_LABELS

    return "proposed, Algorithm 1's range M, N >= 1" if scheme == PAPER_RANGES else SCHEME_LABELS[scheme]


def style(scheme: str) -> dict:
    """Colour and line style of a scheme (the proposed design over Algorithm 1's range: dashed black)."""
    from ..plots import SCHEME_COLORS

    if scheme == PAPER_RANGES:
        return dict(color=SCHEME_COLORS["proposed"], ls=(0, (5, 2)), lw=1.5, zorder=4)
    return dict(color=SCHEME_COLORS[scheme], ls="-", lw=2.2 if scheme == "proposed" else 1.5,
                zorder=3 if scheme == "proposed" else 2)


def _order(schemes):
    from ..plots import SCHEMES

    rank = {s: i for i, s in enumerate((*SCHEMES, PAPER_RANGES))}
    return sorted(schemes, key=lambda s: rank.get(s, 99))


def _band(ax, x, ys, scheme, **kw):
    ys = np.asarray(ys, float)
    mean = ys.mean(0)
    sd = ys.std(0, ddof=1) if len(ys) > 1 else np.zeros_like(mean)
    st = style(scheme)
    line, = ax.plot(x, mean, label=label(scheme), **st, **kw)
    ax.fill_between(x, mean - sd, mean + sd, color=st["color"], alpha=0.18, lw=0, zorder=1)
    return line


def loss_figure(records, against: str = "time", experiments=None, window=None):
    """The paper's Fig. 2 (``against="time"``) or Fig. 3 (``"energy"``): the training loss of each
    scheme's nominal-budget runs (running mean over 2% of the rounds; band: +- 1 sd over seeds)
    against the simulated clock or the cumulative energy; the budget dotted."""
    import matplotlib.pyplot as plt

    from ..train import running_mean

    if against not in ("time", "energy"):
        raise ValueError(f"against = {against!r}: must be 'time' or 'energy'")
    recs = [r for r in records if r["point"] == "nominal"]
    exps = experiments or list(dict.fromkeys(r["experiment"] for r in recs))
    fig, axes = plt.subplots(1, len(exps), figsize=(4.6 * len(exps), 3.9), squeeze=False)
    for ax, name in zip(axes[0], exps):
        mine = [r for r in recs if r["experiment"] == name]
        for scheme in _order(set(r["scheme"] for r in mine)):
            rs = [r for r in mine if r["scheme"] == scheme]
            x = rs[0]["time"] if against == "time" else rs[0]["energy_curve"]
            _band(ax, x, [running_mean(r["loss"], window) for r in rs], scheme)
        budget = rs[0]["tau0"] if against == "time" else rs[0]["E0"]
        ax.axvline(budget, color="grey", lw=0.8, ls=":")
        ax.set(title=name, xlabel="simulated time (s)" if against == "time" else "energy (J)")
        ax.set_ylim(0, None)
    axes[0, 0].set_ylabel("training loss (cross-entropy)")
    axes[0, -1].legend(fontsize=9, loc="upper right")
    fig.tight_layout()
    return fig


def budget_figure(records, budget: str = "tau0", metric: str = "test_accuracy", experiments=None):
    """The paper's Fig. 4 (``budget="tau0"``, E0 nominal) or Fig. 5 (``"E0"``, tau0 nominal): the
    final ``metric`` of each scheme against the budget (band: +- 1 sd over seeds)."""
    import matplotlib.pyplot as plt

    if budget not in ("tau0", "E0"):
        raise ValueError(f"budget = {budget!r}: must be 'tau0' or 'E0'")
    recs = [r for r in records if r["point"] == "nominal" or r["point"].startswith(budget + "x")]
    exps = experiments or list(dict.fromkeys(r["experiment"] for r in recs))
    fig, axes = plt.subplots(1, len(exps), figsize=(4.6 * len(exps), 3.7), squeeze=False)
    scale = 100.0 if metric == "test_accuracy" else 1.0
    for ax, name in zip(axes[0], exps):
        mine = [r for r in recs if r["experiment"] == name and r["scheme"] != PAPER_RANGES]
        for scheme in _order(set(r["scheme"] for r in mine)):
            pts = group([r for r in mine if r["scheme"] == scheme], "point")
            xs = sorted(pts, key=lambda p: pts[p][0][budget])
            x = np.array([pts[p][0][budget] for p in xs])
            vals = [[scale * r[metric] for r in pts[p]] for p in xs]
            n = min(len(v) for v in vals)
            _band(ax, x, np.array([v[:n] for v in vals]).T, scheme, marker="o", ms=3.5)
        ax.set(title=name, xlabel=f"{'delay budget tau0 (s)' if budget == 'tau0' else 'energy budget E0 (J)'}")
    axes[0, 0].set_ylabel("test accuracy (%)" if metric == "test_accuracy" else metric.replace("_", " "))
    axes[0, -1].legend(fontsize=9, loc="best")
    fig.tight_layout()
    return fig


def bound_figure(records, experiments=None):
    """The bound against reality: per experiment, each run's plan bound Upsilon (log axis) against
    its final loss (top) and test accuracy (bottom), one colour per scheme, Spearman's rho in the
    titles."""
    import matplotlib.pyplot as plt

    exps = experiments or list(dict.fromkeys(r["experiment"] for r in records))
    fig, axes = plt.subplots(2, len(exps), figsize=(4.6 * len(exps), 6.4), squeeze=False, sharex="col")
    for j, name in enumerate(exps):
        mine = [r for r in records if r["experiment"] == name]
        rho = spearman(mine)
        for scheme in _order(set(r["scheme"] for r in mine)):
            rs = [r for r in mine if r["scheme"] == scheme]
            st = style(scheme)
            for i, m in enumerate(("final_loss", "test_accuracy")):
                axes[i, j].scatter([r["bound"] for r in rs], [(100 if i else 1) * r[m] for r in rs], s=14,
                                   color=st["color"], marker="x" if scheme == PAPER_RANGES else "o",
                                   alpha=0.75, label=label(scheme), zorder=st["zorder"])
        axes[0, j].set_title(f"{name}\nSpearman (bound, loss) = {rho['final_loss']:+.2f}", fontsize=10)
        axes[1, j].set_title(f"Spearman (bound, accuracy) = {rho['test_accuracy']:+.2f}", fontsize=10)
        axes[1, j].set_xlabel("bound Upsilon of the plan (eq. 34)")
        axes[0, j].set_xscale("log")
    axes[0, 0].set_ylabel("final loss on the task data")
    axes[1, 0].set_ylabel("test accuracy (%)")
    axes[1, -1].legend(fontsize=9, loc="best")
    fig.tight_layout()
    return fig
