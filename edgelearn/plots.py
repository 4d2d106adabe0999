"""Shared plotting conventions: one colour and one label per scheme across the whole book."""
from __future__ import annotations

__all__ = ["SCHEMES", "SCHEME_COLORS", "SCHEME_LABELS", "STAGE_COLORS"]

#: The proposed design and the paper's five benchmarks, in the order the book lists them.
SCHEMES = ("proposed", "fixed_power", "fixed_frequency", "fixed_batch", "pretrain_only", "finetune_only")

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
