"""Shipped results: every trained run of the named experiments, with its provenance.

Layout under :func:`results_dir` (the repository's ``results/``)::

    <experiment>/<point>/<scheme>/plan.npz        the solver's plan (shared by the seeds)
    <experiment>/<point>/<scheme>/seed<k>.npz     one run: history, final metrics, provenance
    <experiment>/<point>/<scheme>/infeasible.json  when the budgets admit no plan for the scheme

``<point>`` is ``nominal``, ``tau0x<f>`` or ``E0x<f>`` (see :meth:`Spec.points`).  Every file is
written atomically (a temporary file, then :func:`os.replace`), so an interrupted run command
leaves only whole files, and the next call resumes where it stopped.
"""
from __future__ import annotations

import datetime as _dt
import io
import json
import platform
from pathlib import Path

import numpy as np

from ..shipped import atomic_write, results_dir  # noqa: F401  (results_dir: public here too)

__all__ = ["results_dir", "results", "run_path", "write_run", "read_run", "versions", "PAPER_RANGES"]

#: The scheme label of the proposed design solved over Algorithm 1's search range M, N >= 1.
PAPER_RANGES = "proposed_paper_ranges"

_PLAN_FIELDS = ("D", "f", "B", "f_hat", "p")
_ARRAYS = ("loss", "time", "energy", "eval_round", "eval_accuracy", "eval_test_loss", "eval_task_loss")


def run_path(root, experiment, point, scheme, seed=None) -> Path:
    d = Path(root) / experiment / point / scheme
    return d if seed is None else d / f"seed{int(seed)}.npz"


def _npz(**arrays) -> bytes:
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    return buf.getvalue()


def versions() -> dict:
    """Versions of the libraries a run's numbers depend on."""
    import torch

    from .. import __version__

    return {"edgelearn": __version__, "python": platform.python_version(), "numpy": np.__version__,
            "torch": torch.__version__, "platform": platform.platform()}


def write_plan(path: Path, plan, digest: str):
    atomic_write(path, _npz(meta=np.array(json.dumps({"M": plan.M, "N": plan.N, "digest": digest})),
                             **{k: np.asarray(getattr(plan, k)) for k in _PLAN_FIELDS}))


def read_plan(path: Path):
    from ..plan import Plan

    with np.load(path, allow_pickle=False) as z:
        meta = json.loads(str(z["meta"]))
        return Plan(M=meta["M"], N=meta["N"], **{k: z[k] for k in _PLAN_FIELDS}), meta


def write_run(path: Path, meta: dict, history):
    """One run file: ``meta`` (JSON) and the history's arrays (per-round loss in float64, the
    simulated clock and energy in float32, the evaluations)."""
    atomic_write(path, _npz(
        meta=np.array(json.dumps(meta)), loss=np.asarray(history.loss, np.float64),
        time=np.asarray(history.time, np.float32), energy=np.asarray(history.energy, np.float32),
        eval_round=np.asarray(history.eval_round, np.int32), eval_accuracy=np.asarray(history.test_accuracy),
        eval_test_loss=np.asarray(history.test_loss), eval_task_loss=np.asarray(history.task_loss)))


def read_run(path: Path) -> dict:
    """The record of one run file: its meta fields plus its arrays."""
    with np.load(path, allow_pickle=False) as z:
        rec = json.loads(str(z["meta"]))
        for k in z.files:
            if k != "meta":
                rec[k] = z[k]
    rec["path"] = str(path)
    return rec


def now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def results(experiment=None, *, root=None, check: bool = True) -> list[dict]:
    """One record (a dict) per shipped run, sorted by experiment, point, scheme and seed.

    Fields (public API): ``experiment``, ``scheme``, ``seed``, ``tau0``, ``E0``, ``M``, ``N``,
    ``bound`` (Upsilon of the plan, eq. 34), ``final_loss`` (cross-entropy of the final model on
    the devices' data, the fine-tuning objective), ``test_accuracy`` (of the final model on the
    held-out test set); also ``point``, ``regime``, ``samples``, ``final_train_loss``, ``delay``,
    ``energy``, ``device``, ``wall_time``, ``versions``, ``code_hash``, ``scenario_digest``, the
    per-round arrays ``loss``, ``time``, ``energy_curve`` (cumulative, eqs. 16 and 21) and the
    evaluations ``eval_round``, ``eval_accuracy``, ``eval_test_loss``, ``eval_task_loss``.  With ``check``,
    ``stale`` lists why a run may no longer stand for the current code: ``"code"`` (the
    training code's hash differs: :func:`edgelearn.train.code_hash`), ``"data"`` (the data the
    experiment loads now differ: :func:`edgelearn.train.data_hash`) and ``"scenario"`` (the
    experiment's scenario at that point changed, e.g. a preset moved); empty when current.
    """
    from . import named

    root = results_dir() if root is None else Path(root)
    names = [experiment] if isinstance(experiment, str) else (experiment or sorted(named.EXPERIMENTS))
    digests, code, data = {}, None, None
    if check:
        from ..train import code_hash, data_hash

        code = code_hash()
    out = []
    for name in names:
        base = root / name
        if not base.is_dir():
            continue
        if check and name in named.EXPERIMENTS:
            spec = named.get(name)
            digests = {p: s.digest() for p, s in spec.points().items()}
            data = data_hash(spec.data_experiment(spec.scenario().K))
        for f in sorted(base.glob("*/*/seed*.npz")):
            rec = read_run(f)
            rec["energy_curve"] = rec.pop("energy")
            rec["energy"] = rec.pop("energy_total")
            if check:
                rec["stale"] = ([] if rec["code_hash"] == code else ["code"]) + \
                               ([] if rec.get("data_hash") == data else ["data"]) + \
                               ([] if digests.get(rec["point"]) == rec["scenario_digest"] else ["scenario"])
            out.append(rec)
    return out


def infeasible(experiment=None, *, root=None) -> list[dict]:
    """The (point, scheme) pairs whose budgets admit no plan, with the solver's message."""
    root = results_dir() if root is None else Path(root)
    out = []
    for f in sorted(root.glob(f"{experiment or '*'}/*/*/infeasible.json")):
        out.append(json.loads(f.read_text()))
    return out
