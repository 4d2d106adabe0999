"""Regime maps of problem (P1): which stages the optimal plan uses, over a grid of two parameters.

For every cell of a grid of two parameters (any numeric :class:`~edgelearn.Scenario` field, or one of
the derived axes in :data:`DERIVED_AXES`) the exact optimum of (P1) is computed with
:func:`edgelearn.solve`, and the cell records its regime (``"pretrain_only"``, ``"finetune_only"``,
``"two_stage"`` or ``"infeasible"``), the rounds (M, N), the bound Upsilon (34) and the shares of the
energy (21) and of the delay (16) spent in pre-training.  Maps are cached on disk (``$EDGELEARN_CACHE``,
namespace ``regimes``), keyed by the scenario, the axes, the scheme and the source of the code that
solves them.

The book's maps also ship with the repository (``results/regimes/<key>.json``, written by
``python scripts/record_regime_maps.py``, which executes the chapters that draw maps with
``EDGELEARN_RECORD_REGIMES=1``): a map whose key matches, that is one solved by the code of today, is
read from there instead of being solved again.  Each file carries its provenance (date, commit,
library versions) and the scenario and axes it was solved for (``tests/test_regime_shipped.py``
re-solves some of its cells).
"""
from __future__ import annotations

import functools
import hashlib
import json
import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .cache import DiskCache, make_key
from .shipped import atomic_write, provenance, results_dir
from .scenario import Scenario
from .solver import REGIMES, InfeasibleBudgetError, solve

__all__ = ["RegimeMap", "regime_map", "apply_axis", "stage_shares", "shipped_dir", "read_shipped", "DERIVED_AXES",
           "CELL_REGIMES", "SHIPPED_SCHEMA"]

#: Format of a shipped map file (``results/regimes/<key>.json``).
SHIPPED_SCHEMA = "edgelearn.regime_map/2"

#: Axes that are not a single Scenario field: what each sets.
DERIVED_AXES = {
    "c_ratio": "c / c_hat, the server's FLOPs per cycle over a device's, with sqrt(c * c_hat) held fixed "
               "(so c_ratio = 4 turns c = c_hat = 8 into c = 16, c_hat = 4)",
    "E0_per_tau0": "E0 / tau0 in W, the energy budget per second of the delay budget, with tau0 held fixed",
    "budget_scale": "tau0 and E0 multiplied together by the same factor",
}

#: What a cell of a map can hold: the three regimes of :data:`edgelearn.solver.REGIMES`, or no plan.
CELL_REGIMES = REGIMES + ("infeasible",)


def apply_axis(scenario: Scenario, name: str, value: float) -> Scenario:
    """``scenario`` with axis ``name`` set to ``value`` (a Scenario field or one of :data:`DERIVED_AXES`)."""
    value = float(value)
    if name == "c_ratio":
        if not value > 0:
            raise ValueError(f"c_ratio = {value!r}: must be > 0")
        c_hat = np.asarray(scenario.c_hat, float)
        if not np.allclose(c_hat, c_hat[0]):
            raise ValueError(f"c_ratio needs the same c_hat on every device; got c_hat = {c_hat}")
        mid = math.sqrt(scenario.c * c_hat[0])
        return scenario.replace(c=mid * math.sqrt(value), c_hat=mid / math.sqrt(value))
    if name == "E0_per_tau0":
        return scenario.replace(E0=value * scenario.tau0)
    if name == "budget_scale":
        return scenario.replace(tau0=value * scenario.tau0, E0=value * scenario.E0)
    if name not in Scenario.field_names():
        raise ValueError(f"axis {name!r} is neither a Scenario field nor one of {sorted(DERIVED_AXES)}")
    return scenario.replace(**{name: value})


def stage_shares(report) -> tuple[float, float]:
    """Shares of the total energy (21) and of the total delay (16) that pre-training takes, in [0, 1]."""
    b = report.breakdown
    e = b.pretrain_total_energy / b.total_energy if b.total_energy > 0 else math.nan
    t = b.pretrain_total_delay / b.total_delay if b.total_delay > 0 else math.nan
    return float(e), float(t)


@dataclass(frozen=True, eq=False)
class RegimeMap:
    """The optimum of (P1) on a grid: arrays of shape (len(y), len(x)), row i is ``y[i]``.

    ``regime`` holds strings from :data:`CELL_REGIMES`; ``bound`` is Upsilon (34) of the optimal plan
    (nan where infeasible); ``energy_share`` and ``time_share`` are pre-training's shares of the energy
    and of the delay the plan uses (fine-tuning's are one minus these); ``energy`` and ``delay`` are
    the totals it uses (21) and (16), in J and s; ``batch`` is its pre-training batch D of the first
    round (nan without pre-training).  A map with one row is a sweep over ``x``.
    """

    x_name: str
    x: np.ndarray
    y_name: str
    y: np.ndarray
    scheme: str
    regime: np.ndarray
    M: np.ndarray
    N: np.ndarray
    bound: np.ndarray
    energy_share: np.ndarray
    time_share: np.ndarray
    energy: np.ndarray
    delay: np.ndarray
    batch: np.ndarray

    def counts(self) -> dict[str, int]:
        """How many cells fall in each regime."""
        return {r: int(np.sum(self.regime == r)) for r in CELL_REGIMES}

    def cell(self, x_value, y_value) -> dict:
        """The cell nearest to (``x_value``, ``y_value``) as a dict."""
        j = int(np.argmin(np.abs(np.log(self.x / float(x_value))))) if np.all(self.x > 0) and x_value > 0 \
            else int(np.argmin(np.abs(self.x - float(x_value))))
        i = int(np.argmin(np.abs(np.log(self.y / float(y_value))))) if np.all(self.y > 0) and y_value > 0 \
            else int(np.argmin(np.abs(self.y - float(y_value))))
        return self.records()[i * len(self.x) + j]

    def records(self) -> list[dict]:
        """One dict per cell: the two axis values, regime, M, N, bound, the stage shares, the energy
        and delay used and the pre-training batch."""
        out = []
        for i, yv in enumerate(self.y):
            for j, xv in enumerate(self.x):
                out.append({self.x_name: float(xv), self.y_name: float(yv), "regime": str(self.regime[i, j]),
                            "M": int(self.M[i, j]), "N": int(self.N[i, j]), "bound": float(self.bound[i, j]),
                            "energy_share": float(self.energy_share[i, j]),
                            "time_share": float(self.time_share[i, j]), "energy": float(self.energy[i, j]),
                            "delay": float(self.delay[i, j]), "batch": float(self.batch[i, j])})
        return out

    def to_json(self) -> str:
        return json.dumps(dict(x_name=self.x_name, x=self.x.tolist(), y_name=self.y_name, y=self.y.tolist(),
                               scheme=self.scheme, regime=self.regime.tolist(), M=self.M.tolist(),
                               N=self.N.tolist(), bound=_nan_list(self.bound),
                               energy_share=_nan_list(self.energy_share), time_share=_nan_list(self.time_share),
                               energy=_nan_list(self.energy), delay=_nan_list(self.delay), batch=_nan_list(self.batch)))

    @classmethod
    def from_json(cls, text: str) -> "RegimeMap":
        d = json.loads(text)
        f = lambda k: np.array([[np.nan if v is None else v for v in row] for row in d[k]], float)  # noqa: E731
        return cls(d["x_name"], np.array(d["x"], float), d["y_name"], np.array(d["y"], float), d["scheme"],
                   np.array(d["regime"], dtype=object), np.array(d["M"], int), np.array(d["N"], int),
                   f("bound"), f("energy_share"), f("time_share"), f("energy"), f("delay"), f("batch"))

    def __repr__(self):
        c = ", ".join(f"{k} {v}" for k, v in self.counts().items() if v)
        return (f"RegimeMap({self.y_name} ({len(self.y)}) x {self.x_name} ({len(self.x)}), "
                f"scheme={self.scheme!r}: {c})")


def _nan_list(a):
    return [[None if not np.isfinite(v) else float(v) for v in row] for row in a]


@functools.lru_cache(maxsize=None)
def _code_hash() -> str:
    here = Path(__file__).parent
    h = hashlib.sha256()
    for f in sorted([*(here / "solver").glob("*.py"), *(here / n for n in
                     ("regime.py", "bound.py", "system.py", "evaluate.py", "plan.py", "scenario.py"))]):
        h.update(f.name.encode() + f.read_bytes())
    return h.hexdigest()


def _axis(name, values):
    if not isinstance(name, str):
        raise TypeError(f"axis name = {name!r}: must be a string")
    v = np.asarray(values, float).ravel()
    if v.size < 1 or not np.all(np.isfinite(v)):
        raise ValueError(f"axis {name!r} values = {values!r}: need at least one finite number")
    return v


def regime_map(scenario: Scenario, x: tuple, y: tuple, *, scheme: str = "proposed", progress: bool = True,
               cache: bool = True, cache_dir=None, **solve_kw) -> RegimeMap:
    """Solve (P1) on every cell of the grid ``x`` by ``y`` and classify the optimum.

    ``x``, ``y``: ``(name, values)`` with ``name`` a Scenario field (e.g. ``"wasserstein"``, ``"tau0"``)
    or one of :data:`DERIVED_AXES`; the y-axis value is applied after the x-axis one.  ``scheme`` and
    ``solve_kw`` go to :func:`edgelearn.solve`.  A cell whose budgets admit no plan is ``"infeasible"``.
    """
    (xn, xv), (yn, yv) = x, y
    xv, yv = _axis(xn, xv), _axis(yn, yv)
    if xn == yn:
        raise ValueError(f"x and y are the same axis {xn!r}")
    # apply every value once up front, so that a bad axis or value fails before any solve
    cells = [[apply_axis(apply_axis(scenario, xn, a), yn, b) for a in xv] for b in yv]
    solve_kw.pop("progress", None)
    key = _key(scenario, xn, xv, yn, yv, scheme, solve_kw)
    store = DiskCache(cache_dir, namespace="regimes") if cache else None
    if store is not None:
        blob = store.load(key)
        result = RegimeMap.from_json(blob.decode()) if blob is not None else _shipped(key)
        if result is not None:
            _record(key, result, scenario, solve_kw)
            return result
    shape = (len(yv), len(xv))
    regime = np.full(shape, "infeasible", dtype=object)
    M, N = np.zeros(shape, int), np.zeros(shape, int)
    bound, e_share, t_share, energy, delay, batch = (np.full(shape, np.nan) for _ in range(6))
    bar = None
    if progress:
        from tqdm.auto import tqdm
        bar = tqdm(total=len(xv) * len(yv), desc=f"regime map {yn} x {xn}", leave=False)
    for i in range(len(yv)):
        for j in range(len(xv)):
            try:
                sol = solve(cells[i][j], scheme, progress=False, **solve_kw)
            except InfeasibleBudgetError:
                pass
            else:
                regime[i, j] = sol.regime
                M[i, j], N[i, j] = sol.plan.M, sol.plan.N
                bound[i, j] = sol.report.bound
                e_share[i, j], t_share[i, j] = stage_shares(sol.report)
                energy[i, j], delay[i, j] = sol.report.breakdown.total_energy, sol.report.breakdown.total_delay
                batch[i, j] = sol.plan.D[0] if sol.plan.M else np.nan
            if bar is not None:
                bar.update(1)
    if bar is not None:
        bar.close()
    result = RegimeMap(xn, xv, yn, yv, scheme, regime, M, N, bound, e_share, t_share, energy, delay, batch)
    if store is not None:
        store.save(key, result.to_json().encode())
    _record(key, result, scenario, solve_kw)
    return result


def _key(scenario, xn, xv, yn, yv, scheme, solve_kw) -> str:
    return make_key("regime-map", _code_hash(), scenario.digest(), xn, xv, yn, yv, scheme, solve_kw)


def shipped_dir() -> Path:
    """The folder of the shipped maps: ``results/regimes`` under :func:`edgelearn.shipped.results_dir`."""
    return results_dir() / "regimes"


def read_shipped(path) -> tuple[RegimeMap, dict]:
    """A shipped map file: ``(map, meta)``, meta holding ``key``, ``code_hash``, ``scenario`` (a dict),
    ``x``/``y`` (name, values), ``scheme``, ``solve_kw`` and ``provenance``."""
    meta = json.loads(Path(path).read_text())
    if meta.get("schema") != SHIPPED_SCHEMA:
        raise ValueError(f"{path}: schema {meta.get('schema')!r}, expected {SHIPPED_SCHEMA!r}")
    return RegimeMap.from_json(json.dumps(meta.pop("map"))), meta


def _shipped(key: str) -> RegimeMap | None:
    path = shipped_dir() / f"{key}.json"
    if not path.exists():
        return None
    rmap, meta = read_shipped(path)
    return rmap if meta.get("key") == key else None


def _record(key, rmap: RegimeMap, scenario: Scenario, solve_kw: dict):
    """With ``EDGELEARN_RECORD_REGIMES=1``: write the map to :func:`shipped_dir` (atomically)."""
    if os.environ.get("EDGELEARN_RECORD_REGIMES") != "1":
        return
    import cvxpy

    meta = dict(schema=SHIPPED_SCHEMA, key=key, code_hash=_code_hash(), scenario=scenario.to_dict(),
                x=[rmap.x_name, rmap.x.tolist()], y=[rmap.y_name, rmap.y.tolist()], scheme=rmap.scheme,
                solve_kw=solve_kw, map=json.loads(rmap.to_json()),
                provenance=provenance("python scripts/record_regime_maps.py", cvxpy=cvxpy.__version__,
                                      notebook=os.environ.get("EDGELEARN_RECORD_NOTEBOOK")))
    atomic_write(shipped_dir() / f"{key}.json", (json.dumps(meta, indent=None) + "\n").encode())
