"""The regime maps shipped in results/regimes (written by scripts/record_regime_maps.py).

They are current (solved by today's solver code: their keys match), their cells are what a direct
solve gives, regime_map reads them instead of solving, and recording writes them with provenance.
"""
import json
import re
from pathlib import Path

import numpy as np
import pytest

import edgelearn as el
from edgelearn import regime
from edgelearn.regime import apply_axis, read_shipped, regime_map, shipped_dir

ROOT = Path(__file__).resolve().parents[1]
AGAIN = "record them again: python scripts/record_regime_maps.py"


def shipped_files():
    return sorted(shipped_dir().glob("*.json"))


def scenario_of(meta):
    return el.Scenario(**meta["scenario"])


def test_every_chapter_that_draws_maps_has_shipped_maps_and_every_file_is_current():
    files = shipped_files()
    assert files, f"no shipped regime maps in {shipped_dir()}: {AGAIN}"
    chapters = {f"book/{p.name}" for p in (ROOT / "book").glob("*.ipynb") if "regime_map(" in p.read_text()}
    recorded = set()
    for f in files:
        rmap, meta = read_shipped(f)
        key = regime._key(scenario_of(meta), meta["x"][0], np.array(meta["x"][1]), meta["y"][0],
                          np.array(meta["y"][1]), meta["scheme"], meta["solve_kw"])
        assert meta["key"] == f.stem, f"{f.name}: its key is {meta['key']}"
        assert key == meta["key"], f"{f.name} was solved by other solver code than today's: {AGAIN}"
        assert meta["code_hash"] == regime._code_hash()
        assert rmap.regime.shape == (len(meta["y"][1]), len(meta["x"][1]))
        p = meta["provenance"]
        assert p["command"] == "python scripts/record_regime_maps.py" and re.fullmatch(r"[0-9a-f]{40}", p["git_commit"])
        recorded.add(p["notebook"])
    assert recorded == chapters, f"chapters with maps {sorted(chapters)}, recorded from {sorted(recorded)}: {AGAIN}"


@pytest.mark.parametrize("path", shipped_files(), ids=lambda p: p.stem[:12])
def test_shipped_cells_are_the_direct_solve(path):
    """Two cells of each shipped map (chosen by a seed from its key), solved again directly."""
    rmap, meta = read_shipped(path)
    s = scenario_of(meta)
    rng = np.random.default_rng(int(meta["key"][:8], 16))
    for i, j in zip(rng.integers(len(rmap.y), size=2), rng.integers(len(rmap.x), size=2)):
        cell = apply_axis(apply_axis(s, rmap.x_name, rmap.x[j]), rmap.y_name, rmap.y[i])
        try:
            sol = el.solve(cell, rmap.scheme, progress=False, **meta["solve_kw"])
        except el.InfeasibleBudgetError:
            assert rmap.regime[i, j] == "infeasible"
            continue
        assert (rmap.regime[i, j], rmap.M[i, j], rmap.N[i, j]) == (sol.regime, sol.plan.M, sol.plan.N), (i, j)
        assert rmap.bound[i, j] == pytest.approx(sol.report.bound, rel=1e-9)


def test_regime_map_reads_a_shipped_map_instead_of_solving(tmp_path, monkeypatch):
    rmap, meta = read_shipped(shipped_files()[0])

    def no_solve(*args, **kwargs):
        raise AssertionError("regime_map solved a cell although the map is shipped")

    monkeypatch.setattr(regime, "solve", no_solve)
    got = regime_map(scenario_of(meta), tuple(meta["x"]), tuple(meta["y"]), scheme=meta["scheme"],
                     progress=False, cache_dir=tmp_path, **meta["solve_kw"])       # an empty user cache
    assert got.to_json() == rmap.to_json()
    with pytest.raises(AssertionError, match="solved a cell"):          # another grid is not shipped
        regime_map(scenario_of(meta), (meta["x"][0], meta["x"][1][:1]), tuple(meta["y"]), scheme=meta["scheme"],
                   progress=False, cache_dir=tmp_path, **meta["solve_kw"])


def test_recording_writes_the_map_with_its_provenance(hand, tmp_path, monkeypatch):
    monkeypatch.setenv("EDGELEARN_RESULTS", str(tmp_path / "results"))
    monkeypatch.setenv("EDGELEARN_RECORD_REGIMES", "1")
    monkeypatch.setenv("EDGELEARN_RECORD_NOTEBOOK", "book/x.ipynb")
    rmap = regime_map(hand, ("tau0", [100.0, 200.0]), ("E0", [50.0]), progress=False, cache_dir=tmp_path / "c")
    (f,) = (tmp_path / "results" / "regimes").glob("*.json")
    back, meta = read_shipped(f)
    assert back.to_json() == rmap.to_json() and meta["provenance"]["notebook"] == "book/x.ipynb"
    assert el.Scenario(**meta["scenario"]).digest() == hand.digest() and meta["x"] == ["tau0", [100.0, 200.0]]
    monkeypatch.delenv("EDGELEARN_RECORD_REGIMES")
    monkeypatch.setenv("EDGELEARN_CACHE", str(tmp_path / "empty"))
    assert regime_map(hand, ("tau0", [100.0, 200.0]), ("E0", [50.0]), progress=False,
                      cache_dir=tmp_path / "other").to_json() == rmap.to_json()
    f.write_text(json.dumps({**json.loads(f.read_text()), "schema": "old"}))
    with pytest.raises(ValueError, match="schema 'old'"):
        read_shipped(f)
