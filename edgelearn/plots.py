"""Shared plotting conventions: one colour and one label per scheme across the whole book."""
from __future__ import annotations

__all__ = ["SCHEMES", "SCHEME_COLORS", "SCHEME_LABELS", "STAGE_COLORS", "round_breakdown_figure"]

#: The proposed design and the paper's five benchmarks, in the order the book lists them.
from .solver.problem import SCHEMES  # noqa: E402  (the one definition; iterates in the book's order)

#: The same colour always means the same scheme (colour-blind-safe Okabe-Ito palette).
SCHEME_COLORS = {
    "proposed": "#000000",
    "fixed_power": "#E69F00",
    "fixed_frequency": "#56B4E9",
    "fixed_batch": "#009E73",
    "pretrain_only": "#CC79A7",
    "finetune_only": "#D55E00",
}

SCHEME_LABELS = {
    "proposed": "proposed",
    "fixed_power": "fixed power",
    "fixed_frequency": "fixed clock frequency",
    "fixed_batch": "fixed batch size",
    "pretrain_only": "pre-training only",
    "finetune_only": "fine-tuning only",
}

#: Colours of the two stages (and of the wireless legs of a fine-tuning round).
STAGE_COLORS = {
    "pretrain": "#0072B2",
    "finetune": "#D55E00",
    "download": "#999999",
    "compute": "#0072B2",
    "upload": "#E69F00",
}


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
        ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=2, frameon=False)
        ax.spines[["top", "right"]].set_visible(False)
    fig.tight_layout()
    return fig
