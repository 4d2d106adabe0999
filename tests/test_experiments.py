"""The experiments layer: shipped results, their provenance and reproduction, the run command."""
import dataclasses
import json
import numpy as np
import pytest

torch = pytest.importorskip("torch")

import edgelearn as el  # noqa: E402
from edgelearn import experiments as ex  # noqa: E402
from edgelearn import nets, sgd, train  # noqa: E402
from edgelearn.plots import SCHEMES  # noqa: E402

FIELDS = ("experiment", "scheme", "seed", "tau0", "E0", "M", "N", "bound", "final_loss", "test_accuracy")


@pytest.fixture(scope="module")
def shipped():
    recs = ex.results()
    if not recs:
        pytest.fail(f"no shipped results under {ex.results_dir()}: run `python -m edgelearn.experiments run --all`")
    return recs


def test_shipped_results_cover_every_experiment_scheme_seed_and_budget_point(shipped):
    assert set(ex.EXPERIMENTS) <= {r["experiment"] for r in shipped} and len(ex.EXPERIMENTS) >= 3
    for r in shipped:
        for k in FIELDS:
            assert k in r, k
        assert np.isfinite(r["bound"]) and 0 <= r["test_accuracy"] <= 1 and r["final_loss"] > 0
        assert r["M"] + r["N"] == len(r["loss"]) == len(r["time"])
    trained = {(r["experiment"], r["point"], r["scheme"]) for r in shipped}
    skipped = {(d["experiment"], d["point"], d["scheme"]) for d in ex.infeasible()}
    for name, spec in ex.EXPERIMENTS.items():
        assert len(spec.seeds) >= 3 and len(spec.fractions) >= 5
        for point in spec.points():
            for scheme in SCHEMES:
                assert (name, point, scheme) in trained | skipped, (name, point, scheme)
        for (e, p, s) in trained:
            if e == name:
                seeds = sorted(r["seed"] for r in shipped if (r["experiment"], r["point"], r["scheme"]) == (e, p, s))
                assert seeds == sorted(spec.seeds), (e, p, s, seeds)


def test_every_scheme_is_trained_at_the_nominal_budget(shipped):
    for name in ex.EXPERIMENTS:
        nominal = {r["scheme"] for r in shipped if r["experiment"] == name and r["point"] == "nominal"}
        assert set(SCHEMES) <= nominal, (name, set(SCHEMES) - nominal)


def test_shipped_results_are_current_and_small(shipped):
    stale = [(r["experiment"], r["point"], r["scheme"], r["seed"], r["stale"]) for r in shipped if r["stale"]]
    assert not stale, f"{len(stale)} stale runs, e.g. {stale[:3]}: rerun `python -m edgelearn.experiments run --all`"
    size = sum(p.stat().st_size for p in ex.results_dir().rglob("*") if p.is_file())
    assert size <= 20e6, f"results/ holds {size / 1e6:.1f} MB: more than 20 MB"
    for r in shipped:
        assert r["device"] == "cpu" and r["threads"] == 1 and r["versions"]["torch"] == torch.__version__


def test_one_shipped_run_reproduces_exactly_on_the_cpu(shipped):
    rec = min(shipped, key=lambda r: r["samples"] * (1 + 10 * (r["experiment"] == "mnist-allconv")))
    h = ex.reproduce(rec, device="cpu")
    assert np.array_equal(h.loss, rec["loss"]), "per-round training losses differ"
    assert float(h.task_loss[-1]) == rec["final_loss"]
    assert float(h.test_accuracy[-1]) == rec["test_accuracy"]
    assert np.array_equal(h.eval_round, rec["eval_round"])


def test_the_both_stages_experiment_is_two_stage_with_measured_constants():
    spec = ex.get("mnist-allconv")
    s = spec.scenario()
    model = nets.build(spec.net)
    assert s.beta == 32 * nets.count_parameters(model)
    assert s.n_flop == nets.flops_per_sample(model, backward=True)
    assert s.n_flop / s.beta > 50 * (nets.flops_per_sample(nets.lenet5(), backward=True) / (32 * 61706))
    sol = el.solve(s, progress=False)
    assert sol.regime == "two_stage", sol
    # and the LeNet experiments are not: the radio cost of a round dwarfs its compute
    assert el.solve(ex.get("mnist-mnist").scenario(), progress=False).regime == "pretrain_only"


def test_scenarios_follow_the_presets():
    for spec in ex.EXPERIMENTS.values():
        base = getattr(el.scenarios, spec.preset)()
        s = spec.scenario()
        assert (s.tau0, s.E0) == (spec.scale * base.tau0, spec.scale * base.E0)
        for k in ("c", "c_hat", "rho", "alpha2", "gamma", "f_max", "W_up", "phi_hat"):
            assert np.array_equal(getattr(s, k), getattr(base, k)), k
    assert ex.get("digits-mnist").scenario().wasserstein == el.scenarios.cifar().wasserstein
    assert ex.get("mnist-mnist").scenario().wasserstein == el.scenarios.mnist().wasserstein


def test_spearman_and_summary_on_known_numbers():
    recs = [dict(experiment="e", point="nominal", scheme=s, seed=k, M=1, N=0, regime="pretrain_only",
                 tau0=1.0, E0=1.0, samples=1, bound=b, final_loss=b + 0.1 * k, test_accuracy=1 / b)
            for s, b in (("proposed", 1.0), ("fixed_batch", 2.0), ("finetune_only", 3.0)) for k in range(3)]
    rho = ex.spearman(recs)
    assert rho["n"] == 9 and rho["final_loss"] > 0.9 and rho["test_accuracy"] == pytest.approx(-1.0)
    row = next(r for r in ex.summary(recs) if r["scheme"] == "fixed_batch")
    assert row["final_loss_mean"] == pytest.approx(2.1) and row["final_loss_sd"] == pytest.approx(0.1)


def test_run_command_resumes_and_flags_stale_runs(tmp_path):
    spec = dataclasses.replace(ex.get("mnist-mnist"), name="tiny", scale=0.0005, seeds=(0,), fractions=(1.0,),
                               schemes=("proposed", "finetune_only"))
    c1 = ex.run_experiments([spec], root=tmp_path, progress=False)
    files = sorted(tmp_path.glob("tiny/*/*/seed*.npz"))
    assert c1["trained"] == len(files) >= 2 and c1["kept"] == 0
    assert not list(tmp_path.rglob("*.tmp"))
    c2 = ex.run_experiments([spec], root=tmp_path, progress=False)        # nothing to do
    assert (c2["trained"], c2["kept"]) == (0, c1["trained"])
    files[0].unlink()                                                        # an interrupted run
    c3 = ex.run_experiments([spec], root=tmp_path, progress=False)
    assert (c3["trained"], c3["kept"]) == (1, c1["trained"] - 1)
    # a plan whose clocks or powers moved (same rounds and batches): refreshed, not retrained
    z = dict(np.load(files[1]))
    meta = json.loads(str(z.pop("meta")))
    meta["plan_digest"], loss = "0" * 64, z["loss"].copy()
    np.savez_compressed(files[1], meta=np.array(json.dumps(meta)), **z)
    c4 = ex.run_experiments([spec], root=tmp_path, progress=False)
    assert (c4["trained"], c4["refreshed"]) == (0, 1)
    again = ex.read_run(files[1])
    assert again["plan_digest"] != "0" * 64 and np.array_equal(again["loss"], loss) and "refreshed" in again
    rec = ex.read_run(files[0])
    assert {"plan_digest", "scenario_digest", "code_hash", "versions", "device", "seed"} <= set(rec)
    # a run made by other code is reported as stale, not silently used
    z = dict(np.load(files[0]))
    meta = json.loads(str(z.pop("meta")))
    meta["code_hash"] = "0" * 64
    np.savez_compressed(files[0], meta=np.array(json.dumps(meta)), **z)
    recs = ex.results("tiny", root=tmp_path)
    assert sum("code" in r["stale"] for r in recs) == 1


def test_train_does_not_import_the_solver():
    # the package's __init__ loads the solver for everyone; the trainer's own imports must not
    import ast
    import inspect

    tree = ast.parse(inspect.getsource(train))
    names = [a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names]
    names += [f"{n.module or ''}:{','.join(a.name for a in n.names)}" for n in ast.walk(tree)
              if isinstance(n, ast.ImportFrom)]
    assert names and not [n for n in names if "solver" in n or "experiments" in n], names


def test_one_sgd_loop_runs_the_trainer_the_estimator_and_the_exact_problem(monkeypatch):
    calls = []
    real = sgd.two_stage

    def spy(*a, **kw):
        calls.append(kw.get("desc"))
        return real(*a, **kw)

    monkeypatch.setattr(sgd, "two_stage", spy)
    s = el.scenarios.mnist()
    train.run(s, el.Plan.uniform(s, 2, 1, D=4, B=2), "mnist-mnist", cache=False, progress=False, eval_every=0)
    p = el.exact.digits_problem()
    p.run(2, 1, 4, [2, 2, 2], 0.1)
    model = torch.nn.Linear(4, 3)
    X, y = torch.randn(20, 4), torch.randint(0, 3, (20,))
    el.estimate.gradient_trace(model, (X, y), [(X, y)], M=1, N=1, D=4, B=[4], gamma=0.01, progress=False)
    assert len(calls) == 3


def test_draws_are_with_replacement_and_seeded():
    rng = np.random.default_rng(0)
    idx = sgd.draw(rng, 3, 50)
    assert idx.min() >= 0 and idx.max() <= 2 and len(idx) == 50 and len(set(idx.tolist())) == 3
    assert np.array_equal(sgd.draw(np.random.default_rng(1), 10, 5), sgd.draw(np.random.default_rng(1), 10, 5))
    with pytest.raises(ValueError, match="batch"):
        sgd.draw(rng, 10, 0)
    assert sgd.weights([1, 3]).tolist() == [0.25, 0.75]


def test_an_infeasible_budget_point_is_recorded_not_trained(tmp_path):
    """A budget point no plan fits is written as infeasible.json (atomically) with the solver's message,
    and listed by ex.infeasible(); its training runs are not made."""
    spec = dataclasses.replace(ex.get("mnist-mnist"), name="tiny", scale=0.0005, seeds=(0,), fractions=(1e-6,),
                               schemes=("proposed",))
    counts = ex.run_experiments([spec], root=tmp_path, progress=False)
    (only,) = ex.infeasible("tiny", root=tmp_path)
    assert counts["infeasible"] == 1 and only["point"] == "tau0x1e-06" and only["scheme"] == "proposed"
    assert "delay budget tau0" in only["message"] and "infeasible" in only["message"]
    assert (tmp_path / "tiny" / "tau0x1e-06" / "proposed" / "infeasible.json").exists()
    assert not list((tmp_path / "tiny" / "tau0x1e-06").rglob("seed*.npz")) and not list(tmp_path.rglob("*.tmp"))
