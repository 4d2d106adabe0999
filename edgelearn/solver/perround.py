"""Channels that change from round to round (``g_up``/``g_down`` of shape (N, K)): the general per-round problem."""
from __future__ import annotations


def solve_per_round(s, scheme, *, M, N, method, eps, progress, ranges):
    raise NotImplementedError("per-round channels: not implemented yet")
