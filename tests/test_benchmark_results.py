"""The shipped solver benchmark (results/benchmarks/solver_scaling.json, written by
``python benchmarks/solver.py scaling``): the Algorithm 1 chapter loads it, so it must hold every row
the chapter quotes, with its provenance, and its goal lines must agree with its own rows."""
import json
import math
from pathlib import Path

import pytest

FILE = Path(__file__).resolve().parents[1] / "results" / "benchmarks" / "solver_scaling.json"
FT = "per-round channels, fine-tuning"


@pytest.fixture(scope="module")
def bench():
    assert FILE.exists(), f"{FILE} is missing: run `python benchmarks/solver.py scaling`"
    return json.loads(FILE.read_text())


def _row(bench, sweep, **where):
    rows = [r for r in bench["rows"] if r["sweep"] == sweep and all(r[k] == v for k, v in where.items())]
    assert len(rows) == 1, f"{sweep} {where}: {len(rows)} rows"
    return rows[0]


def test_schema_and_provenance(bench):
    assert bench["schema"] == "edgelearn.solver_scaling/1"
    prov = bench["provenance"]
    for key in ("date", "git_commit", "python", "cvxpy", "clarabel", "machine", "command"):
        assert prov.get(key), key
    assert len(prov["git_commit"]) == 40 and prov["machine"]["cpu_count"] >= 1


def test_every_row_the_chapter_quotes_is_there_and_measured(bench):
    rows = [_row(bench, "devices K", K=3), _row(bench, "devices K", K=100), _row(bench, "devices K", K=300)]
    rows += [_row(bench, FT, N=n) for n in (10, 200, 500)]
    for r in rows:
        assert math.isfinite(r["seconds"]) and r["seconds"] > 0, r
        assert r["upsilon"] >= r["lower_bound"] * (1 - 1e-9), r


def test_goal_lines_agree_with_the_rows(bench):
    g = bench["goals"]
    k3, k100, k300 = (_row(bench, "devices K", K=k)["seconds"] for k in (3, 100, 300))
    assert g["K100_over_K3"]["value"] == pytest.approx(k100 / k3)
    assert g["K300_seconds"]["value"] == pytest.approx(k300)
    pr = _row(bench, FT, N=200)
    static = _row(bench, "static, K = 10, W = 1")
    assert g["per_round_N200_over_static_K10"]["value"] == pytest.approx(pr["seconds"] / static["seconds"])
    assert g["per_round_N200_over_static_K10"]["gap"] == pytest.approx(pr["certified_gap"])
    assert g["per_round_N200_over_static_K10"]["met"] == (pr["seconds"] / static["seconds"] <= 30
                                                           and pr["certified_gap"] <= 1e-4)
    assert pr["N_opt"] > 0, "the headline per-round case must be one where the optimum fine-tunes"
