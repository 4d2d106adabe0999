"""The run command: solve and train every scheme of the named experiments, and ship the runs.

``python -m edgelearn.experiments run --all`` (or names) trains every (budget point, scheme,
seed) of each experiment that has no current run file yet, with a progress bar.  A run file is
current when the training code's hash (:func:`edgelearn.train.code_hash`), the scenario and the
plan all match; anything else is retrained and replaced.  So the command resumes after an
interruption and, after a change to the presets or the trainer, redoes exactly what changed.
"""
from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from ..cache import make_key
from . import named, store
from .plans import solved_plan

__all__ = ["run_experiments", "plan_digest", "tasks", "reproduce", "plan_changes"]


def plan_digest(plan) -> str:
    """A hash of every value of the plan (rounds, batches, clocks, powers)."""
    return make_key(*[np.asarray(getattr(plan, k), float) for k in store._PLAN_FIELDS])


def learning_digest(plan, scenario) -> str:
    """A hash of what the training depends on in a plan and its scenario: the rounds, the batch
    sizes, gamma and K (clocks and powers only move the simulated clock and energy)."""
    return make_key(plan.M, plan.N, np.asarray(plan.D, int), np.asarray(plan.B, int), float(scenario.gamma),
                    int(scenario.K))


def tasks(spec) -> list:
    """``(point, scenario, scheme, plan or error message)`` for every budget point and scheme of
    ``spec``; at the nominal point the proposed design over Algorithm 1's range M, N >= 1 is
    added where its plan differs from the one over the full range."""
    from ..solver import InfeasibleBudgetError

    out = []
    for point, s in spec.points().items():
        plans = {}
        for scheme in spec.schemes:
            try:
                plans[scheme] = solved_plan(s, scheme)
            except InfeasibleBudgetError as e:
                plans[scheme] = str(e)
        if point != "nominal":
            out += [(point, s, scheme, plan) for scheme, plan in plans.items()]
            continue
        try:
            paper = solved_plan(s, "proposed", ranges="paper")
            full = plans.get("proposed")
            if isinstance(full, str) or (paper.M, paper.N) != (full.M, full.N):
                plans[store.PAPER_RANGES] = paper
        except InfeasibleBudgetError as e:
            plans[store.PAPER_RANGES] = str(e)
        out += [(point, s, scheme, plan) for scheme, plan in plans.items()]
    return out


def _state(path, code, data, scenario_digest, pdigest, ldigest, old_ldigest):
    """``"current"``, ``"refresh"`` (the same training, but the plan's clocks or powers or the
    scenario moved: only the simulated clock, energy and bound need recomputing) or ``"train"``;
    with the stored record (or None)."""
    if not path.is_file():
        return "train", None
    try:
        rec = store.read_run(path)
    except Exception:          # unreadable: redo
        return "train", None
    if (rec.get("code_hash"), rec.get("data_hash")) != (code, data):
        return "train", rec
    if (rec.get("scenario_digest"), rec.get("plan_digest")) == (scenario_digest, pdigest):
        return "current", rec
    return ("refresh" if rec.get("learning_digest", old_ldigest) == ldigest else "train"), rec


def run_experiments(names=None, *, root=None, device="auto", seeds=None, threads: int = 1,
                    progress: bool = True, force: bool = False) -> dict:
    """Train and store every missing or outdated run of the named experiments (all by default).

    ``device="auto"``: CUDA when present, else the CPU (with ``threads`` torch threads; the
    shipped results are single-threaded CPU runs, which reproduce bit for bit).  Returns counts:
    ``{"trained": ..., "kept": ..., "refreshed": ..., "infeasible": ..., "wall_time": ...}``; a run
    is refreshed, not retrained, when only its plan's clocks or powers (or the scenario's
    non-learning fields) moved: its training numbers stay, its simulated clock, energy and bound
    are recomputed.
    """
    import shutil
    import tempfile

    import torch
    from tqdm.auto import tqdm

    from ..evaluate import evaluate
    from ..solver import regime_of
    from ..system import breakdown
    from ..train import code_hash, data_hash, pick_device, run

    root = store.results_dir() if root is None else root
    names = sorted(named.EXPERIMENTS) if not names else list(names)     # names or Spec objects
    dev = pick_device(device)
    if dev.type == "cpu":
        torch.set_num_threads(int(threads))
    code, vers = code_hash(), store.versions()
    start = time.perf_counter()
    counts = {"trained": 0, "kept": 0, "refreshed": 0, "infeasible": 0}
    work, datas = [], {}
    for name in tqdm(names, desc="solving plans", disable=not progress, leave=False, unit="experiment"):
        spec = named.get(name) if isinstance(name, str) else name
        for point, s, scheme, plan in tasks(spec):
            work.append((spec, point, s, scheme, plan))
    # plans that differ only in clocks and powers learn the same thing: train them once (a cache
    # private to this call, so every shipped run comes from this process, device and thread count)
    dedup = tempfile.mkdtemp(prefix="edgelearn-runs-")
    total = sum(len(spec.seeds if seeds is None else seeds) for spec, *_, plan in work if not isinstance(plan, str))
    bar = tqdm(total=total, desc="training runs", disable=not progress, unit="run")
    for spec, point, s, scheme, plan in work:
        folder = store.run_path(root, spec.name, point, scheme)
        if isinstance(plan, str):
            store.atomic_write(folder / "infeasible.json", json.dumps(
                {"experiment": spec.name, "point": point, "scheme": scheme, "tau0": s.tau0, "E0": s.E0,
                 "message": plan}).encode())
            counts["infeasible"] += 1
            continue
        if (folder / "infeasible.json").exists():
            (folder / "infeasible.json").unlink()
        sd, pdig, ldig = s.digest(), plan_digest(plan), learning_digest(plan, s)
        plan_file = folder / "plan.npz"
        old_ldig = None
        if plan_file.is_file():
            try:
                old_plan, _ = store.read_plan(plan_file)
                old_ldig = learning_digest(old_plan, s)
            except Exception:
                pass
        if force or not plan_file.is_file() or store.read_plan(plan_file)[1].get("digest") != pdig:
            store.write_plan(plan_file, plan, pdig)
        rep = evaluate(s, plan)
        if spec.name not in datas:
            datas[spec.name] = (spec.data_experiment(s.K),)
            datas[spec.name] += (data_hash(datas[spec.name][0]),)
        exp, dhash = datas[spec.name]
        for seed in (spec.seeds if seeds is None else seeds):
            path = store.run_path(root, spec.name, point, scheme, seed)
            bar.set_postfix_str(f"{spec.name} {point} {scheme} seed {seed}", refresh=False)
            state, old = _state(path, code, dhash, sd, pdig, ldig, old_ldig)
            if not force and state == "current":
                counts["kept"] += 1
                bar.update(1)
                continue
            if not force and state == "refresh":     # same training: new clock, energy and bound only
                from types import SimpleNamespace

                t_sim, e_sim = breakdown(s, plan).cumulative()
                meta = {k: v for k, v in old.items() if k not in store._ARRAYS + ("path",)}
                meta.update(tau0=float(s.tau0), E0=float(s.E0), bound=float(rep.bound), delay=float(rep.delay),
                            energy_total=float(rep.energy), scenario_digest=sd, plan_digest=pdig,
                            learning_digest=ldig, refreshed=store.now())
                h = SimpleNamespace(loss=old["loss"], time=t_sim, energy=e_sim, eval_round=old["eval_round"],
                                    test_accuracy=old["eval_accuracy"], test_loss=old["eval_test_loss"],
                                    task_loss=old["eval_task_loss"])
                store.write_run(path, meta, h)
                counts["refreshed"] += 1
                bar.update(1)
                continue
            eval_every = max(1, (plan.M + plan.N) // 5) if point == "nominal" else 0
            h = run(s, plan, exp, device=dev, seed=seed, eval_every=eval_every, progress=False,
                    cache_dir=dedup)
            meta = {
                "experiment": spec.name, "point": point, "scheme": scheme, "seed": int(seed),
                "tau0": float(s.tau0), "E0": float(s.E0), "M": plan.M, "N": plan.N,
                "regime": regime_of(plan.M, plan.N), "bound": float(rep.bound),
                "final_loss": float(h.task_loss[-1]), "test_accuracy": float(h.test_accuracy[-1]),
                "final_test_loss": float(h.test_loss[-1]), "final_train_loss": float(h.smoothed_loss()[-1]),
                "samples": int(h.samples), "delay": float(rep.delay), "energy_total": float(rep.energy),
                "data": spec.data, "net": spec.net, "gamma": float(s.gamma), "K": int(s.K),
                "eval_every": eval_every, "eval_samples": 1000,
                "device": h.device, "threads": torch.get_num_threads() if dev.type == "cpu" else None,
                "wall_time": float(h.wall_time), "reused": bool(h.cached), "versions": vers,
                "code_hash": code, "data_hash": dhash,
                "scenario_digest": sd, "plan_digest": pdig, "learning_digest": ldig, "created": store.now(),
            }
            store.write_run(path, meta, h)
            counts["trained"] += 1
            bar.update(1)
    bar.close()
    shutil.rmtree(dedup, ignore_errors=True)
    counts["wall_time"] = time.perf_counter() - start
    return counts


def reproduce(record, *, device="cpu", threads: int | None = None):
    """Re-train one shipped run (a record of :func:`edgelearn.experiments.results`) from its stored
    plan, seed and options, and return the new :class:`~edgelearn.train.History`.

    On the CPU with the run's thread count it reproduces the shipped numbers bit for bit (while
    the training code's hash matches); the simulated clock is recomputed for the current scenario.
    """
    import torch

    from ..train import pick_device, run

    spec = named.get(record["experiment"])
    s = spec.points()[record["point"]].replace(gamma=record["gamma"])
    plan, _ = store.read_plan(Path(record["path"]).parent / "plan.npz")
    dev = pick_device(device)
    old = torch.get_num_threads()
    if dev.type == "cpu":
        torch.set_num_threads(int(threads or record.get("threads") or 1))
    try:
        return run(s, plan, spec.data_experiment(record["K"]), device=dev, seed=record["seed"],
                   eval_every=record["eval_every"], eval_samples=record["eval_samples"], progress=False, cache=False)
    finally:
        torch.set_num_threads(old)


def plan_changes(records, points=("nominal",)) -> list[dict]:
    """Re-solve the plans of ``records`` at ``points`` with the current solver and list those
    that differ from the shipped plan: ``experiment, point, scheme, shipped (M, N), current (M, N)``
    and ``learning`` (True when rounds or batch sizes differ, so the training would change; False
    when only clocks or powers moved)
    (a changed solver leaves the shipped runs valid as runs of their plans, but no longer of the
    solver's answer)."""
    from ..solver import InfeasibleBudgetError

    out, seen = [], set()
    for r in records:
        key = (r["experiment"], r["point"], r["scheme"])
        if r["point"] not in points or key in seen or r["experiment"] not in named.EXPERIMENTS:
            continue
        seen.add(key)
        s = named.get(r["experiment"]).points()[r["point"]]
        kw = {"ranges": "paper"} if r["scheme"] == store.PAPER_RANGES else {}
        try:
            plan = solved_plan(s, "proposed" if kw else r["scheme"], **kw)
            current = (plan.M, plan.N)
            same = plan_digest(plan) == r["plan_digest"]
        except InfeasibleBudgetError:
            current, same = None, False
        if not same:
            shipped, _ = store.read_plan(Path(r["path"]).parent / "plan.npz")
            learning = current is None or learning_digest(shipped, s) != learning_digest(plan, s)
            out.append({"experiment": key[0], "point": key[1], "scheme": key[2], "shipped": (r["M"], r["N"]),
                        "current": current, "learning": learning})
    return out
