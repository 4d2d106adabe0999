"""Shared plotting conventions: one palette, one colour and one label per scheme, readable legends.

Every figure of the book takes its colours from here, so a colour means the same thing
everywhere: :data:`SCHEME_COLORS` per scheme (the proposed design, the paper's five benchmarks and
the two-stage plans, each its own colour), :data:`STAGE_COLORS` per stage and wireless leg,
:data:`TERM_COLORS` per term of the bound,
:data:`REFERENCE_COLORS` for reference lines (bounds, budgets, limits).  :func:`use_book_style`
sets matplotlib's defaults (legend text at least :data:`LEGEND_FONTSIZE` pt, the palette as the
colour cycle); :func:`scheme_style` gives the keyword arguments of one scheme's line or bar.
"""
from __future__ import annotations

__all__ = ["SCHEMES", "SCHEME_COLORS", "SCHEME_LABELS", "STAGE_COLORS", "TERM_COLORS", "TERM_LABELS",
           "REFERENCE_COLORS", "LEGEND_FONTSIZE", "PALETTE", "scheme_style", "use_book_style",
           "round_breakdown_figure", "REGIME_COLORS", "REGIME_LABELS", "regime_map_figure"]

#: The proposed design and the paper's five benchmarks, in the order the book lists them (the one
#: definition is :data:`edgelearn.solver.SCHEMES`).  The two-stage plans (``"two_stage"``) are not
#: a scheme of the solver but have a colour and label too.
from .solver.problem import SCHEMES  # noqa: E402

#: The same colour always means the same scheme (colour-blind-safe Okabe-Ito palette, plus
#: Tol's indigo for the two-stage plans, as in REGIME_COLORS, so that they never share a benchmark's colour).
SCHEME_COLORS = {
    "proposed": "#000000",
    "fixed_power": "#E69F00",
    "fixed_frequency": "#56B4E9",
    "fixed_batch": "#009E73",
    "pretrain_only": "#CC79A7",
    "finetune_only": "#D55E00",
    "two_stage": "#332288",
}

SCHEME_LABELS = {
    "proposed": "proposed",
    "fixed_power": "fixed power",
    "fixed_frequency": "fixed clock frequency",
    "fixed_batch": "fixed batch size",
    "pretrain_only": "pre-training only",
    "finetune_only": "fine-tuning only",
    "two_stage": "two-stage plan",
}

#: Colours of the two stages (and of the wireless legs of a fine-tuning round).
STAGE_COLORS = {
    "pretrain": "#0072B2",
    "finetune": "#D55E00",
    "download": "#999999",
    "compute": "#0072B2",
    "upload": "#E69F00",
}

#: The four terms of the bound (Theorem 3.1, eq. 34), named as ``Terms.as_dict()`` of ``edgelearn.bound`` names them.
TERM_COLORS = {
    "pretrain_variance": STAGE_COLORS["pretrain"],
    "finetune_variance": STAGE_COLORS["finetune"],
    "shift": "#999999",
    "initial_gap": "#000000",
}

TERM_LABELS = {
    "pretrain_variance": "pre-training variance",
    "finetune_variance": "fine-tuning variance",
    "shift": "distribution shift",
    "initial_gap": "initial loss gap",
}

#: Reference lines: a bound or limit (black dashed in the book), a budget, a measured value.
REFERENCE_COLORS = {
    "bound": "#000000",
    "limit": "#000000",
    "budget": "#999999",
    "measured": "#555555",
}

#: Smallest legend font size of the book's figures, in points.
LEGEND_FONTSIZE = 9

#: The colour cycle of figures that draw no scheme or stage (Okabe-Ito order).
PALETTE = ("#0072B2", "#D55E00", "#009E73", "#E69F00", "#56B4E9", "#CC79A7", "#000000", "#332288")


def scheme_style(scheme: str, **overrides) -> dict:
    """``dict(color=..., label=...)`` of one scheme (see :data:`SCHEMES`), for ``plot``/``bar``.

    >>> scheme_style("two_stage")["color"]
    '#332288'
    """
    if scheme not in SCHEME_COLORS:
        raise ValueError(f"scheme must be one of {', '.join(SCHEME_COLORS)}; got {scheme!r}")
    style = {"color": SCHEME_COLORS[scheme], "label": SCHEME_LABELS[scheme]}
    style.update(overrides)
    return style


def use_book_style() -> None:
    """Set matplotlib's defaults to the book's: legends at :data:`LEGEND_FONTSIZE` pt or more,
    tick and axis labels as large, and :data:`PALETTE` as the colour cycle."""
    import matplotlib as mpl
    from cycler import cycler

    mpl.rcParams.update({
        "legend.fontsize": max(LEGEND_FONTSIZE, 9),
        "legend.title_fontsize": max(LEGEND_FONTSIZE, 9),
        "xtick.labelsize": 9,
        "ytick.labelsize": 9,
        "axes.labelsize": 10,
        "axes.titlesize": 10,
        "axes.prop_cycle": cycler(color=list(PALETTE)),
    })


def round_breakdown_figure(scenario, plan, n: int = 0, m: int = 0):
    """Bar charts of where the seconds and joules of one round of each stage go.

    Left: delay of pre-training round ``m`` and, per device, download + compute + upload
    time of fine-tuning round ``n`` (the slowest device sets the round's delay, eq. 16).
    Right: energy of the same rounds: server compute (17); broadcast (20), device
    compute (18) and upload (19).  Values come from :func:`edgelearn.system.breakdown`.
    """
    import matplotlib.pyplot as plt
    import numpy as np

    from .system import breakdown

    b = breakdown(scenario, plan)
    K = scenario.K
    fig, (ax_t, ax_e) = plt.subplots(1, 2, figsize=(10, 4.6))
    labels = ["server\n(pre-train)"] + [f"device {k + 1}" for k in range(K)]
    x = np.arange(K + 1)
    if plan.M:
        ax_t.bar(0, b.pretrain_delay[m], color=STAGE_COLORS["pretrain"], label="server compute (14)")
        ax_e.bar(0, b.pretrain_energy[m], color=STAGE_COLORS["pretrain"], label="server compute (17)")
    if plan.N:
        bottom = np.zeros(K)
        for key, vals, eq in (("download", b.download_time[n], ""), ("compute", b.compute_time[n], " (15)"),
                              ("upload", b.upload_time[n], "")):
            ax_t.bar(x[1:], vals, bottom=bottom, color=STAGE_COLORS[key], alpha=0.85 if key != "compute" else 0.55,
                     label=f"{key}{eq}")
            bottom = bottom + vals
        ax_t.axhline(b.finetune_delay[n], color=STAGE_COLORS["finetune"], ls="--", lw=1.2,
                     label=f"round delay (16): {b.finetune_delay[n]:.3g} s")
        ax_e.bar(x[1:], b.compute_energy[n], color=STAGE_COLORS["compute"], alpha=0.55, label="device compute (18)")
        ax_e.bar(x[1:], b.upload_energy[n], bottom=b.compute_energy[n], color=STAGE_COLORS["upload"], alpha=0.85,
                 label="upload (19)")
        ax_e.bar(K + 1, b.broadcast_energy[n], color=STAGE_COLORS["download"], label="broadcast (20)")
        labels = labels + ["server\n(broadcast)"]
    ax_t.set_xticks(x, labels[: K + 1])
    ax_e.set_xticks(np.arange(len(labels)), labels)
    ax_t.set_ylabel("time in one round (s)")
    ax_e.set_ylabel("energy in one round (J)")
    ax_t.set_title("Delay of one round")
    ax_e.set_title("Energy of one round")
    for ax in (ax_t, ax_e):
        ax.legend(fontsize=LEGEND_FONTSIZE, loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=2, frameon=False)
        ax.spines[["top", "right"]].set_visible(False)
    fig.tight_layout()
    return fig


#: Colour of each regime of the optimal plan on a regime map (see :mod:`edgelearn.regime`).
REGIME_COLORS = {
    "pretrain_only": "#CC79A7",   # the colour of the pre-training-only scheme
    "finetune_only": "#D55E00",   # the colour of the fine-tuning-only scheme
    "two_stage": "#332288",       # its own colour: not a scheme's, not a stage's
    "infeasible": "#DDDDDD",
}

REGIME_LABELS = {"pretrain_only": "pre-training only", "finetune_only": "fine-tuning only",
                 "two_stage": "both stages", "infeasible": "no feasible plan"}


def _edges(v, log=None):
    """Cell edges around the grid values ``v``; ``log``: None picks a log axis when ``v`` > 0 spans > 20x."""
    import numpy as np

    v = np.asarray(v, float)
    if log and not np.all(v > 0):
        raise ValueError(f"log axis needs positive values; got {v.min()}")
    if len(v) == 1:
        return np.array([v[0] * 0.9, v[0] * 1.1]) if v[0] > 0 else np.array([v[0] - 0.5, v[0] + 0.5]), bool(log)
    if log is None:
        log = bool(np.all(v > 0) and v.max() / v.min() > 20)
    t = np.log(v) if log else v
    mid = (t[1:] + t[:-1]) / 2
    e = np.concatenate([[t[0] - (mid[0] - t[0])], mid, [t[-1] + (t[-1] - mid[-1])]])
    return (np.exp(e) if log else e), log


def regime_map_figure(rmap, ax=None, *, annotate: bool = True, title: str | None = None, marks=None,
                      xlog: bool | None = None, ylog: bool | None = None):
    """Draw a :class:`~edgelearn.regime.RegimeMap`: one colour per regime, each cell labelled with
    pre-training's share of the energy (in %).

    ``marks``: ``{label: (x, y)}`` points to mark (e.g. a preset).  ``xlog``, ``ylog``: log axes
    (None: when the values are positive and span more than 20x).  Returns the axes.
    """
    import matplotlib.pyplot as plt
    import numpy as np
    from matplotlib.colors import ListedColormap
    from matplotlib.patches import Patch

    from .regime import CELL_REGIMES

    if ax is None:
        _, ax = plt.subplots(figsize=(6, 4.6))
    codes = np.vectorize(CELL_REGIMES.index)(rmap.regime)
    cmap = ListedColormap([REGIME_COLORS[r] for r in CELL_REGIMES])
    xe, xlog = _edges(rmap.x, xlog)
    ye, ylog = _edges(rmap.y, ylog)
    ax.pcolormesh(xe, ye, codes, cmap=cmap, vmin=-0.5, vmax=len(CELL_REGIMES) - 0.5, shading="flat")
    if xlog:
        ax.set_xscale("log")
    if ylog:
        ax.set_yscale("log")
    if annotate and rmap.regime.size <= 400:
        for i, yv in enumerate(rmap.y):
            for j, xv in enumerate(rmap.x):
                share = rmap.energy_share[i, j]
                if np.isfinite(share):
                    ax.text(xv, yv, f"{100 * share:.0f}", ha="center", va="center", fontsize=7,
                            color="white" if rmap.regime[i, j] != "infeasible" else "black")
    for label, (xv, yv) in (marks or {}).items():
        ax.plot(xv, yv, marker="*", ms=14, mec="black", mfc="yellow", ls="none")
        ax.annotate(label, (xv, yv), xytext=(6, 6), textcoords="offset points", fontsize=9,
                    bbox=dict(boxstyle="round", fc="white", alpha=0.8))
    present = [r for r in CELL_REGIMES if np.any(rmap.regime == r)]
    ax.legend(handles=[Patch(color=REGIME_COLORS[r], label=REGIME_LABELS[r]) for r in present], fontsize=9,
              loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=len(present), frameon=False)
    ax.set_xlabel(_AXIS_LABELS.get(rmap.x_name, rmap.x_name))
    ax.set_ylabel(_AXIS_LABELS.get(rmap.y_name, rmap.y_name))
    ax.set_title(title or "Optimal plan of (P1); numbers: pre-training's share of the energy (%)", fontsize=10)
    return ax


_AXIS_LABELS = {
    "c_ratio": r"$c/\hat c$ (server over device FLOPs per cycle)",
    "wasserstein": r"$W(\hat{\mathcal{P}}, \mathcal{P})$",
    "tau0": r"delay budget $\tilde\tau_0$ (s)",
    "E0": r"energy budget $\tilde E_0$ (J)",
    "E0_per_tau0": r"$\tilde E_0/\tilde\tau_0$ (W)",
    "budget_scale": r"both budgets scaled by",
    "alpha2": r"$\alpha^2$", "alpha_hat2": r"$\hat\alpha^2$", "beta": r"model size $\beta$ (bit)",
    "n_flop": r"$N_{\rm FLOP}$ (FLOP per sample)",
}
