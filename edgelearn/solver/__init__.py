"""Solvers for problem (P1): the exact convex reformulation, the paper's SCA, the certified (M, N) search.

Modules: :mod:`.problem` (schemes, errors, constants, plans), :mod:`.exact` (the convex
reformulation in stage totals), :mod:`.sca` (the paper's SCA, (P3.o)), :mod:`.search`
(the (M, N) search and M_max, N_max), :mod:`.integer` (integer batch sizes),
:mod:`.solve` (the public :func:`solve`).
"""
from .problem import SCHEMES, InfeasibleBudgetError
from .result import REGIMES, Landscape, Solution, regime_of
from .solve import solve

__all__ = ["solve", "Solution", "Landscape", "InfeasibleBudgetError", "SCHEMES", "REGIMES", "regime_of"]
