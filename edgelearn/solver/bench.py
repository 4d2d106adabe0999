"""Timings behind ``benchmarks/solver.py`` and the book's timing tables."""
from __future__ import annotations

import dataclasses
import time

import numpy as np

from ..scenarios import cifar, rayleigh_gains
from .sca import sca_pair
from .solve import solve

__all__ = ["compare", "with_devices", "with_fading", "scaling", "scaling_base", "finetune_base"]


def _timed(fn):
    t = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t


def compare(s, warm=True) -> dict:
    """Time ``solve(s)`` and the paper's SCA over the same (M, N) pairs, compiled once (DPP) and
    rebuilt at every iteration (the plain way).  ``warm``: compile the problems first (the
    explorer's situation), so that the times compare solving, not first-call compilation."""
    if warm:
        solve(s, progress=False)
    sol, t_exact = _timed(lambda: solve(s, progress=False))
    pairs = list(zip(sol.landscape.M.tolist(), sol.landscape.N.tolist()))
    st_dpp, st_rb = {}, {}
    if warm and pairs:
        sca_pair(s, *pairs[0])
    res, t_dpp = _timed(lambda: [sca_pair(s, M, N, stats=st_dpp) for M, N in pairs])
    res_rb, t_rb = _timed(lambda: [sca_pair(s, M, N, stats=st_rb, rebuild=True) for M, N in pairs])
    grid = (sol.stats["M_max"] + 1) * (sol.stats["N_max"] + 1) - 1
    return dict(
        solution=sol, pairs=pairs, t_exact=t_exact, solves_exact=sol.stats["convex_solves"],
        t_sca=t_dpp, solves_sca=st_dpp.get("convex_solves", 0), sca_iterations=st_dpp.get("sca_iterations", 0),
        best_sca=min(r.upsilon for r in res),
        t_rebuild=t_rb, solves_rebuild=st_rb.get("convex_solves", 0), best_rebuild=min(r.upsilon for r in res_rb),
        grid_pairs=grid, t_grid_rebuild=grid * t_rb / max(len(pairs), 1),
    )


def with_devices(s, K: int, seed: int = 0, N: int | None = None):
    """``s`` with K devices: each per-device value repeats the scenario's devices in turn, and the
    channels are fresh Rayleigh draws (fixed over rounds, or one row per round when ``N`` is given)."""
    changes = {f.name: np.resize(np.atleast_1d(getattr(s, f.name)), K)
               for f in dataclasses.fields(s) if f.metadata.get("kind") == "device"}
    g_up, g_down = rayleigh_gains(K, seed, N=N)
    return s.replace(K=K, g_up=g_up, g_down=g_down, **changes)


def scaling_base():
    """The scenario of the scaling benchmark (issue 11): the CIFAR setup with c = c-hat = 4 and W = 0."""
    return cifar().replace(c=4.0, c_hat=4.0, wasserstein=0.0)


def with_fading(s, N: int, seed: int = 0):
    """``s`` with per-round channels: its own gains times independent Rayleigh fading (unit-mean
    exponential power) in each of N rounds, up- and downlink."""
    rng = np.random.default_rng(seed)
    g_up, g_down = np.asarray(s.g_up, float), np.asarray(s.g_down, float)
    return s.replace(g_up=g_up * rng.exponential(size=(N, s.K)), g_down=g_down * rng.exponential(size=(N, s.K)))


#: Sweep names of the per-round benchmark where fine-tuning pays (rows of :func:`scaling`).
FINETUNE_SWEEP = "per-round channels, fine-tuning"
FINETUNE_STATIC = "static, K = 10, W = 1"


def finetune_base(K: int = 10):
    """The CIFAR preset with K devices and W = 1: the static optimum is fine-tuning only, (M, N) = (0, 110)
    at K = 10, so per-round channels enter the answer (in :func:`scaling_base` the K = 10 optimum is
    pre-training only and they do not)."""
    return with_devices(cifar(), K).replace(wasserstein=1.0)


def scaling(Ks=(3, 10, 30, 100, 300), Ns=(10, 50, 200, 500), K_rounds=10, base=None, time_limit=300.0,
            on_row=None, fading_Ns=(), finetune_Ns=()):
    """Wall time of ``solve`` (first call at each size, in this process) against the number of devices K,
    and with per-round channels against the number of channel rows N (K = ``K_rounds``).

    Returns a list of rows (dicts: sweep, K, N, seconds, ratio, M, N_opt, upsilon, lower_bound,
    pair, pair_bound, certified_gap, convex_solves, explicit_rows).  ``ratio``: against K = Ks[0]
    for the K sweep, against the static solve at K = K_rounds for the N sweep.  Once one size takes
    longer than ``time_limit`` seconds, larger sizes of that sweep are skipped (seconds = nan).
    ``on_row``: called with each row as soon as it is measured (to print progress).
    ``finetune_Ns``: also time :func:`finetune_base` (K = ``K_rounds``; fine-tuning pays) with
    :func:`with_fading` channels of N rows (seed 1), against its static solve (rows ``FINETUNE_SWEEP``
    and ``FINETUNE_STATIC``).
    ``fading_Ns``: also time the CIFAR preset itself (K = 10, where fine-tuning pays) with
    :func:`with_fading` channels of N rows, against the preset's static solve.
    """
    base = scaling_base() if base is None else base
    rows, ref = _Rows(on_row), None
    skip = False
    for K in Ks:
        row = dict(sweep="devices K", K=K, N=None)
        if skip:
            rows.append({**row, "seconds": np.nan, "ratio": np.nan})
            continue
        sol, t = _timed(lambda: solve(with_devices(base, K), progress=False))
        ref = t if ref is None else ref
        rows.append(_row(row, sol, t, ref))
        skip = t > time_limit
    static, t_static = _timed(lambda: solve(with_devices(base, K_rounds), progress=False))
    rows.append(_row(dict(sweep="static, K = %d" % K_rounds, K=K_rounds, N=None), static, t_static, t_static))
    _per_round(rows, "per-round channels", Ns, lambda N: with_devices(base, K_rounds, seed=1, N=N),
               t_static, time_limit)
    if finetune_Ns:
        ft = finetune_base(K_rounds)
        static, t_static = _timed(lambda: solve(ft, progress=False))
        rows.append(_row(dict(sweep=FINETUNE_STATIC, K=K_rounds, N=None), static, t_static, t_static))
        _per_round(rows, FINETUNE_SWEEP, finetune_Ns, lambda N: with_fading(ft, N, seed=1), t_static, time_limit)
    if fading_Ns:
        preset = cifar()
        static, t_static = _timed(lambda: solve(preset, progress=False))
        rows.append(_row(dict(sweep="static, CIFAR preset", K=preset.K, N=None), static, t_static, t_static))
        _per_round(rows, "CIFAR preset, fading", fading_Ns, lambda N: with_fading(preset, N, seed=5),
                   t_static, time_limit)
    return list(rows)


def _per_round(rows, name, Ns, scenario, t_static, time_limit):
    skip = False
    for N in Ns:
        s = scenario(N)
        row = dict(sweep=name, K=s.K, N=N)
        if skip:
            rows.append({**row, "seconds": np.nan, "ratio": np.nan})
            continue
        try:
            sol, t = _timed(lambda: solve(s, progress=False))
        except ValueError as e:       # beyond the per-round solver's size
            rows.append({**row, "seconds": np.nan, "ratio": np.nan, "error": str(e)})
            continue
        rows.append(_row(row, sol, t, t_static))
        skip = t > time_limit


class _Rows(list):
    def __init__(self, on_row):
        super().__init__()
        self.on_row = on_row

    def append(self, row):
        super().append(row)
        if self.on_row is not None:
            self.on_row(row)


def _row(row, sol, t, ref):
    return {**row, "seconds": t, "ratio": t / ref, "M": sol.plan.M, "N_opt": sol.plan.N, "upsilon": sol.bound,
            "lower_bound": sol.lower_bound, "pair": list(sol.pair), "pair_bound": sol.pair_bound,
            "certified_gap": sol.certified_gap, "convex_solves": sol.stats.get("convex_solves", 0),
            "explicit_rows": sol.stats.get("explicit_rows")}
