"""What :func:`~edgelearn.solve` returns: :class:`Solution`, the evaluated :class:`Landscape`, the regimes."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = ["Solution", "Landscape", "REGIMES", "regime_of"]

#: The three shapes an allocation can take: which of the two stages it uses.
REGIMES = ("pretrain_only", "finetune_only", "two_stage")


def regime_of(M: int, N: int) -> str:
    """``"pretrain_only"`` when N = 0, ``"finetune_only"`` when M = 0, else ``"two_stage"``."""
    if M + N < 1:
        raise ValueError(f"rounds M = {M}, N = {N}: need M + N >= 1")
    return "pretrain_only" if N == 0 else "finetune_only" if M == 0 else "two_stage"


@dataclass(frozen=True)
class Landscape:
    """Every (M, N) the search evaluated: Upsilon with real batches (inf: infeasible) and,
    where it was rounded, Upsilon of the best integer-batch plan (nan: not rounded)."""

    M: np.ndarray
    N: np.ndarray
    upsilon: np.ndarray
    integer_upsilon: np.ndarray

    def __len__(self):
        return len(self.M)

    def __repr__(self):
        ok = np.isfinite(self.upsilon)
        return (f"Landscape({len(self)} pairs, {int(ok.sum())} feasible, "
                f"M in [{self.M.min() if len(self) else '-'}, {self.M.max() if len(self) else '-'}], "
                f"N in [{self.N.min() if len(self) else '-'}, {self.N.max() if len(self) else '-'}])")


@dataclass(frozen=True)
class Solution:
    """What :func:`~edgelearn.solve` found.

    Attributes:

    - ``scenario``, ``scheme``: the input.
    - ``plan``: the integer-batch :class:`~edgelearn.Plan` (round-invariant for channels fixed over rounds).
    - ``report``: :func:`~edgelearn.evaluate` of ``plan`` (delay, energy, feasibility, the bound's terms).
    - ``bound``: Upsilon (34) of ``plan`` (= ``report.bound``; ``upsilon`` is an alias).
    - ``lower_bound``: the optimum over real (M, N) and real batches: no plan has a smaller Upsilon.
    - ``pair``: the best (M, N) with real batches; ``pair_bound``: its Upsilon.
    - ``integrality_gap``: ``bound - lower_bound``, what whole rounds and batches cost (>= 0).
    - ``certified_gap``: how far ``pair_bound`` may be above the best pair of all (0 when the search
      visited every pair that could be better; else the solver's tolerance it stopped at).
    - ``regime``: which stages the plan uses (``"pretrain_only"``, ``"finetune_only"``, ``"two_stage"``).
    - ``history``: Upsilon at each SCA iteration (``method="sca"``), else ``(pair_bound,)``.
    - ``landscape``: every (M, N) evaluated (a ``Landscape``).
    - ``stats``: counters and timings only (convex solves, solvers used, pairs evaluated, wall time).
      For a while it also repeats ``lower_bound``, ``pair``, ``pair_optimum`` (= ``pair_bound``)
      and ``integrality_gap``: read the attributes instead.
    """

    scenario: object
    scheme: str
    plan: object
    report: object
    lower_bound: float
    pair: tuple
    pair_bound: float
    history: tuple
    landscape: Landscape
    stats: dict = field(default_factory=dict)
    certified_gap: float = 0.0

    @property
    def bound(self) -> float:
        """Upsilon (34) of :attr:`plan`."""
        return self.report.bound

    @property
    def upsilon(self) -> float:
        """Alias of :attr:`bound`."""
        return self.report.bound

    @property
    def integrality_gap(self) -> float:
        """``bound - lower_bound``: what whole rounds and batches cost."""
        return self.report.bound - self.lower_bound

    @property
    def regime(self) -> str:
        """Which stages the plan uses: ``"pretrain_only"`` (N = 0), ``"finetune_only"`` (M = 0) or ``"two_stage"``."""
        return regime_of(self.plan.M, self.plan.N)

    def __repr__(self):
        st = self.stats
        return (f"Solution(scheme={self.scheme!r}, M={self.plan.M}, N={self.plan.N}, Upsilon={self.bound:.6g}, "
                f"lower bound={self.lower_bound:.6g}, {st.get('convex_solves', 0)} convex solves, "
                f"{st.get('wall_time', 0):.3g} s)")
