"""Experiments: the solver's plans trained on real data, over seeds and budget sweeps.

This layer sits above the solver and the trainer (the only module that imports both):

* :mod:`~edgelearn.experiments.plans`: :func:`solved_plan` (cached), :func:`compare` (every
  scheme solved and trained), :func:`sweep` (one budget varied, the paper's Figs. 4-5);
* :mod:`~edgelearn.experiments.named`: the book's named experiments (:data:`EXPERIMENTS`),
  each a scenario, data, a network, budgets and seeds;
* :mod:`~edgelearn.experiments.run`: the run command,
  ``python -m edgelearn.experiments run --all``, which trains and ships every run;
* :mod:`~edgelearn.experiments.store`: the shipped run files and :func:`results`;
* :mod:`~edgelearn.experiments.analysis`: means and spreads over seeds, the bound's rank
  agreement with the trained results (Spearman);
* :mod:`~edgelearn.experiments.figures`: the chapter's figures from the shipped runs.
"""
from .analysis import spearman, summary
from .named import EXPERIMENTS, FRACTIONS, SEEDS, Spec, get, net_constants
from .plans import compare, solved_plan, sweep
from .store import PAPER_RANGES, infeasible, read_run, results, results_dir

__all__ = ["solved_plan", "compare", "sweep", "EXPERIMENTS", "Spec", "get", "net_constants", "SEEDS",
           "FRACTIONS", "results", "infeasible", "read_run", "results_dir", "PAPER_RANGES", "spearman", "summary",
           "run_experiments", "reproduce", "plan_changes"]


def run_experiments(*args, **kwargs):
    """Train and ship every missing or outdated run (see :func:`edgelearn.experiments.run.run_experiments`)."""
    from .run import run_experiments as _run

    return _run(*args, **kwargs)


def reproduce(record, **kwargs):
    """Re-train one shipped run from its stored plan (see :func:`edgelearn.experiments.run.reproduce`)."""
    from .run import reproduce as _reproduce

    return _reproduce(record, **kwargs)


def plan_changes(records, **kwargs):
    """Shipped plans the current solver no longer returns (see :func:`edgelearn.experiments.run.plan_changes`)."""
    from .run import plan_changes as _changes

    return _changes(records, **kwargs)
