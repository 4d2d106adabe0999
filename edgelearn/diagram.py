"""The two-stage edge learning system drawn with matplotlib (the paper's Fig. 1)."""
from __future__ import annotations

import matplotlib.pyplot as plt
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

from .plots import STAGE_COLORS

__all__ = ["draw_system"]


def _box(ax, xy, w, h, text, color, fontsize=10, alpha=0.12):
    ax.add_patch(FancyBboxPatch(xy, w, h, boxstyle="round,pad=0.02,rounding_size=0.04",
                                fc=color, ec=color, alpha=alpha, lw=0))
    ax.add_patch(FancyBboxPatch(xy, w, h, boxstyle="round,pad=0.02,rounding_size=0.04",
                                fc="none", ec=color, lw=1.5))
    ax.text(xy[0] + w / 2, xy[1] + h / 2, text, ha="center", va="center", fontsize=fontsize)


def _arrow(ax, start, end, color, text=None, offset=(0, 0), rad=0.0, ls="-"):
    ax.add_patch(FancyArrowPatch(start, end, arrowstyle="-|>", mutation_scale=14, color=color, lw=1.6,
                                 connectionstyle=f"arc3,rad={rad}", linestyle=ls))
    if text:
        mx, my = (start[0] + end[0]) / 2 + offset[0], (start[1] + end[1]) / 2 + offset[1]
        ax.text(mx, my, text, ha="center", va="center", fontsize=8.5, color=color)


def draw_system(K: int = 3, ax=None):
    """Draw the server, its general data, the K devices and both stages; return the Figure.

    Stage 1 (left, blue): the server runs M rounds of SGD on its own data D ~ P.
    Stage 2 (right, orange): N rounds of FedSGD: broadcast the model, each device computes a
    gradient on its task data B_k ~ P-hat, uploads it over its FDMA sub-band, the server aggregates.
    """
    if K < 1:
        raise ValueError(f"K = {K}: must be >= 1")
    if ax is None:
        fig, ax = plt.subplots(figsize=(10, 4.6))
    else:
        fig = ax.figure
    pre, fine = STAGE_COLORS["pretrain"], STAGE_COLORS["finetune"]
    ax.set_xlim(0, 10.6)
    ax.set_ylim(-0.2, 5.0)
    ax.axis("off")

    # stage 1: the server and its general data
    _box(ax, (0.3, 2.3), 2.2, 1.4, "general data\n$\\mathcal{D} \\sim \\mathcal{P}$", pre)
    _box(ax, (3.6, 2.3), 2.4, 1.4, "edge server\nclock $f^{(m)}$, batch $\\tilde D^{(m)}$", "#444444")
    _arrow(ax, (2.6, 3.0), (3.5, 3.0), pre, "mini-batch", offset=(0, 0.22))
    _arrow(ax, (4.45, 3.78), (5.15, 3.78), pre, None, rad=-1.2)
    ax.text(4.8, 4.25, "update (3)", ha="center", fontsize=8.5, color=pre)
    ax.text(3.2, 4.75, "Stage 1: pre-training, $M$ rounds of SGD (3)", ha="center", fontsize=10, color=pre,
            weight="bold")

    # stage 2: the devices
    n_show = min(K, 4)
    xs = [6.6 + i * (3.3 / max(n_show - 1, 1)) for i in range(n_show)] if n_show > 1 else [8.3]
    for i, x in enumerate(xs):
        label = f"device {i + 1}" if (i < n_show - 1 or K == n_show) else f"device {K}"
        _box(ax, (x - 0.5, 0.25), 1.0, 0.9, f"{label}\n$\\mathcal{{B}}_k \\sim \\hat{{\\mathcal{{P}}}}$", fine,
             fontsize=8)
        _arrow(ax, (x - 0.1, 1.2), (5.5, 2.25), fine, None, rad=0.05)
        _arrow(ax, (5.1, 2.25), (x - 0.35, 1.2), "#777777", None, rad=0.05, ls="--")
    if K > n_show:
        ax.text((xs[-2] + xs[-1]) / 2, 0.7, "...", ha="center", fontsize=14)
    ax.text(4.4, 1.55, "model broadcast\n(downlink, rate (13))", ha="center", fontsize=8.5, color="#555555")
    ax.text(8.9, 2.75, "gradient upload\n(FDMA uplink, power $p_k^{(n)}$,\nrate (12))", ha="center",
            fontsize=8.5, color=fine)
    ax.text(8.2, -0.15, "Stage 2: fine-tuning, $N$ rounds of FedSGD (7)-(9)", ha="center", fontsize=10,
            color=fine, weight="bold")
    ax.text(1.4, 1.2, "$\\hat{w}^{(0)} = w^{(M)}$:\nthe pre-trained model\nstarts fine-tuning",
            ha="center", fontsize=9, color="#333333")
    return fig
