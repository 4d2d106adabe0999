"""A compiled, parametrised convex program and how it is solved (CLARABEL, then SCS).

Every convex program of the solver is built once with cvxpy Parameters (DPP) and re-solved
with new values.  :class:`Program` holds the Parameters by name, refuses unknown names in
:meth:`Program.set`, and solves without any state carried from one solve to the next:
no warm start, and the SCS fallback runs on a twin of the problem, so that the CLARABEL
compilation of the problem is never thrown away (cvxpy keeps one compiled chain per problem,
for the last solver used).
"""
from __future__ import annotations

import warnings

import cvxpy as cp
import numpy as np

__all__ = ["Program", "ATTEMPTS"]

#: Attempts, in order: CLARABEL with its defaults, with a smaller static regularisation, with
#: shorter steps, without equilibration and with more iterations, at 1e-7 tolerances, then SCS.
#: An "inaccurate" status moves on.
_CLARABEL = dict(equilibrate_enable=True, max_iter=200, tol_feas=1e-8, tol_gap_abs=1e-8, tol_gap_rel=1e-8)
ATTEMPTS = (
    ("CLARABEL", _CLARABEL),
    # many devices (K = 100, 300): the default static regularisation (1e-8) stalls the dual residual
    # ("InsufficientProgress"); a smaller one, or shorter steps, solves in ~40 iterations
    ("CLARABEL", {**_CLARABEL, "static_regularization_constant": 1e-10, "max_iter": 1000}),
    ("CLARABEL", {**_CLARABEL, "max_step_fraction": 0.8, "max_iter": 1000}),
    ("CLARABEL", {**_CLARABEL, "equilibrate_enable": False, "max_iter": 1000}),
    ("CLARABEL", {**_CLARABEL, "tol_feas": 1e-7, "tol_gap_abs": 1e-7, "tol_gap_rel": 1e-7, "max_iter": 1000}),
    ("SCS", dict(eps=1e-9, max_iters=100000)),
)
_SOLVED = ("optimal", "infeasible", "unbounded")


class Program:
    """A cvxpy problem with named Parameters; subclasses build ``self.problem`` and ``self.vars``.

    After :meth:`solve`: ``status`` and ``value`` (the optimal objective, None unless optimal).
    """

    def __init__(self):
        self.params: dict[str, cp.Parameter] = {}
        self.vars: dict[str, cp.Variable] = {}
        self.problem: cp.Problem | None = None
        self._twin: cp.Problem | None = None
        self.status, self.value = None, None
        #: False: compile the problem afresh at every solve with the Parameters' values as constants
        #: (cvxpy ``ignore_dpp``); for large programs whose DPP compilation does not pay (memory).
        self.dpp = True

    def param(self, name, shape=(), nonneg=True) -> cp.Parameter:
        """The Parameter ``name`` (created on first use)."""
        if name not in self.params:
            self.params[name] = cp.Parameter(shape, name=name, nonneg=nonneg) if nonneg \
                else cp.Parameter(shape, name=name)
        return self.params[name]

    def set(self, **values):
        """Give Parameters their values; an unknown name is an error (a misspelt coefficient)."""
        unknown = sorted(set(values) - set(self.params))
        if unknown:
            raise KeyError(f"{type(self).__name__}.set(): no parameter(s) {unknown}; "
                           f"parameters are {sorted(self.params)}")
        for k, val in values.items():
            p = self.params[k]
            new = np.broadcast_to(np.asarray(val, float), p.shape) if p.shape else float(val)
            # most coefficients are the same from one solve to the next: cvxpy's check of a new value
            # (nonneg, by projecting) took a third of a solve's time, so an unchanged value is not re-set
            if p.value is None or not np.array_equal(p.value, new):
                p.value = new.copy() if p.shape else new

    def solve(self, stats=None, attempts=ATTEMPTS) -> str:
        """Solve through ``attempts`` until one is accurate; counts solves and fallbacks in ``stats``."""
        status = None
        for i, (solver, kw) in enumerate(attempts):
            problem = self.problem
            if solver == "SCS":
                if self._twin is None:
                    self._twin = cp.Problem(self.problem.objective, self.problem.constraints)
                problem = self._twin
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")  # an inaccurate answer is retried below, not used
                    problem.solve(solver=solver, warm_start=False, **({} if self.dpp else {"ignore_dpp": True}), **kw)
                status = problem.status
                if status == "optimal" and not np.isfinite(problem.value):
                    status = "nan_value"    # seen at K = 100 with an absent stage: not an answer, try the next
            except cp.error.SolverError:
                status = "solver_error"
            if stats is not None:
                stats["convex_solves"] = stats.get("convex_solves", 0) + 1
                stats.setdefault("solvers", {})
                key = solver if i == 0 or solver == "SCS" else f"{solver} (retry {i})"
                stats["solvers"][key] = stats["solvers"].get(key, 0) + 1
            if status in _SOLVED:
                if i and stats is not None:
                    stats["fallbacks"] = stats.get("fallbacks", 0) + 1
                    if solver == "SCS":
                        stats["scs_fallbacks"] = stats.get("scs_fallbacks", 0) + 1
                break
        self.status = status
        self.value = float(problem.value) if status == "optimal" else None
        return status

    def get(self, name):
        """The value of variable ``name`` after a solve (a numpy array), or None."""
        x = self.vars[name].value
        return None if x is None else np.asarray(x, float)
