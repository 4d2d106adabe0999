"""edgelearn: two-stage edge learning (pre-training + federated fine-tuning) after Lyu et al. (2024).

Modules, one concept each: :mod:`~edgelearn.scenario` (parameters),
:mod:`~edgelearn.plan` (a resource allocation), :mod:`~edgelearn.system`
(rates, delay, energy: eqs. 12-21), :mod:`~edgelearn.bound` (Theorem 3.1, eq. 34),
:mod:`~edgelearn.evaluate` (a plan against the budgets of (P1)),
:mod:`~edgelearn.scenarios` (the paper's presets),
:mod:`~edgelearn.solver` (problem (P1): exact convex form, the paper's SCA, the (M, N) search),
:mod:`~edgelearn.explorers` (kernel-free slider figures for the static book),
:mod:`~edgelearn.estimate` (learning constants of Theorem 3.1 from a model and data),
:mod:`~edgelearn.exact` (a problem whose constants are known exactly),
:mod:`~edgelearn.regime` (which stages the optimum uses, over a grid of parameters).
"""
from . import bound, explorers, regime, scenarios, system
from ._validate import InputTypeError
from .evaluate import Report, evaluate
from .plan import Plan
from .scenario import Scenario
from .solver import InfeasibleBudgetError, Solution, solve

__version__ = "0.1.0"
__all__ = ["Scenario", "Plan", "evaluate", "Report", "bound", "system", "scenarios", "explorers", "regime",
           "solve", "Solution", "InfeasibleBudgetError", "InputTypeError"]

# The torch-based modules (networks, datasets, trainers) load on first use, so that
# ``import edgelearn`` (scenario, system model, bound, solver) does not import torch.
_LAZY = ("nets", "data", "train", "estimate", "exact")


def __getattr__(name):
    if name in _LAZY:
        import importlib

        module = importlib.import_module(f".{name}", __name__)
        globals()[name] = module
        return module
    raise AttributeError(f"module 'edgelearn' has no attribute {name!r}")

