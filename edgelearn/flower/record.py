"""The deployment chapter's Flower run, recorded once with its provenance and read back by the book.

One Flower run costs tens of seconds of CPU (Ray, three SuperNodes importing torch, their data), so
the book does not start one while it builds: ``python -m edgelearn.flower.record`` runs
:func:`chapter_run` through :func:`edgelearn.flower.run` and writes ``results/flower/deployment.npz``
atomically: the run's :class:`~edgelearn.train.History` (its exact bytes), the scenario and plan, the
run's arguments, the skipped-device reports, the network record (:func:`~edgelearn.flower.netaudit.check`)
and the provenance (date, git commit, library versions, the training code's hash, the machine).
:func:`load` reads it back.  The chapter compares the recorded run with an in-process
``train.run(per_device=True)`` that it computes itself, so a file that no longer matches the
trainer shows as a mismatch on the page, and ``tests/test_flower_record.py`` fails on it.
"""
from __future__ import annotations

import io
import json
import sys
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..shipped import atomic_write, provenance, results_dir

__all__ = ["chapter_run", "record", "load", "Recorded", "StaleRecordError", "DEFAULT_PATH", "SCHEMA"]

SCHEMA = "edgelearn.flower_record/1"
#: Where :func:`record` writes and :func:`load` reads by default (under :func:`edgelearn.shipped.results_dir`).
DEFAULT_PATH = results_dir() / "flower" / "deployment.npz"


def chapter_run():
    """The run of the chapter :doc:`deployment`: ``(scenario, plan, kwargs of flower.run)``.

    The MNIST preset's K = 3 devices, M = 6 pre-training and N = 12 fine-tuning rounds, a different
    batch B_k^(n) for each device and round (a 3 x 3 pattern repeated), half the top clocks and powers;
    device 1 fails in the last two fine-tuning rounds (``inject_failures``), seed 0, one torch thread
    on the server and the devices (``threads``; the in-process reference must use the same count:
    ``torch.set_num_threads(1)``, else its float sums round differently).
    """
    from .. import Plan, scenarios

    s = scenarios.mnist()
    M, N = 6, 12
    pattern = np.array([[16, 32, 48], [48, 16, 32], [32, 48, 16]], float)
    plan = Plan.uniform(s, M=M, N=N, D=64, f=0.5 * s.f_max, B=1.0,
                        f_hat=0.5 * np.asarray(s.f_hat_max), p=0.5 * np.asarray(s.P_max))
    plan = plan.replace(B=np.tile(pattern, (N // 3, 1)))
    return s, plan, dict(seed=0, threads=1, inject_failures={1: [N - 1, N]})


class StaleRecordError(ValueError):
    """The recorded run is not the run :func:`chapter_run` describes now: record it again."""


@dataclass(frozen=True)
class Recorded:
    """A recorded Flower run: what :func:`edgelearn.flower.run` returned and reported, and where it came from."""

    history: object          # edgelearn.train.History
    scenario: object         # edgelearn.Scenario
    plan: object             # edgelearn.Plan
    run_kwargs: dict         # the keyword arguments of flower.run (seed, inject_failures, engine, ...)
    failures: list           # the ClientFailureWarning messages, in order
    network: dict            # netaudit.check's summary
    provenance: dict


def record(path=None, *, engine: str = "simulation", progress: bool = True) -> Path:
    """Run :func:`chapter_run` on Flower (``engine``) and write it to ``path`` (default :data:`DEFAULT_PATH`)."""
    import flwr
    import ray
    import torch

    from .. import __version__, flower
    from ..train import code_hash

    path = Path(path) if path is not None else DEFAULT_PATH
    s, plan, kw = chapter_run()
    kw = {**kw, "engine": engine}
    audit = Path(tempfile.mkdtemp(prefix="edgelearn-flower-record-"))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", flower.ClientFailureWarning)
        h = flower.run(s, plan, audit_dir=audit, progress=progress, **kw)
    failures = [str(w.message) for w in caught if issubclass(w.category, flower.ClientFailureWarning)]
    network = flower.netaudit.check(audit)
    meta = dict(schema=SCHEMA, scenario=s.to_dict(), plan=plan.to_dict(),
                run_kwargs={**kw, "inject_failures": {str(k): v for k, v in kw["inject_failures"].items()}},
                failures=failures, network=network,
                provenance=provenance("python -m edgelearn.flower.record", edgelearn=__version__, torch=torch.__version__,
                                      flwr=flwr.__version__, ray=ray.__version__, train_code_hash=code_hash()))
    buf = io.BytesIO()
    np.savez_compressed(buf, meta=np.array(json.dumps(meta)), history=np.frombuffer(h.to_bytes(), np.uint8))
    atomic_write(path, buf.getvalue())
    return path


def load(path=None, *, check: bool = True) -> Recorded:
    """Read a file :func:`record` wrote (default :data:`DEFAULT_PATH`).

    ``check``: raise :class:`StaleRecordError` unless the file's scenario, plan and arguments are the
    ones :func:`chapter_run` gives now (the training code is checked by comparing the run itself with
    ``train.run``: see the chapter and ``tests/test_flower_record.py``).
    """
    from .. import Plan, Scenario
    from ..train import History

    path = Path(path) if path is not None else DEFAULT_PATH
    again = "record it again: `python -m edgelearn.flower.record`"
    if not path.exists():
        raise FileNotFoundError(f"no recorded Flower run at {path}; {again}")
    with np.load(path, allow_pickle=False) as z:
        meta = json.loads(str(z["meta"]))
        blob = z["history"].tobytes()
    if meta.get("schema") != SCHEMA:
        raise StaleRecordError(f"{path}: schema {meta.get('schema')!r}, expected {SCHEMA!r}; {again}")
    kw = dict(meta["run_kwargs"])
    kw["inject_failures"] = {int(k): v for k, v in kw["inject_failures"].items()}
    rec = Recorded(history=History.from_bytes(blob, cached=True), scenario=Scenario(**meta["scenario"]),
                   plan=Plan(**meta["plan"]), run_kwargs=kw, failures=meta["failures"],
                   network=meta["network"], provenance=meta["provenance"])
    if check:
        s, plan, want = chapter_run()
        if rec.scenario.digest() != s.digest():
            raise StaleRecordError(f"{path}: recorded on another scenario than chapter_run()'s; {again}")
        if rec.plan.to_dict() != plan.to_dict():
            raise StaleRecordError(f"{path}: recorded with another plan than chapter_run()'s; {again}")
        got = {k: v for k, v in kw.items() if k != "engine"}
        if got != want:
            raise StaleRecordError(f"{path}: recorded with flower.run arguments {got}, chapter_run() gives "
                                   f"{want}; {again}")
    return rec


if __name__ == "__main__":
    import argparse

    ap = argparse.ArgumentParser(prog="python -m edgelearn.flower.record", description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=str(DEFAULT_PATH), help="file to write (default: %(default)s)")
    ap.add_argument("--engine", default="simulation", help="flower.run's engine (default: %(default)s)")
    args = ap.parse_args()
    print("wrote", record(args.out, engine=args.engine), file=sys.stderr)
