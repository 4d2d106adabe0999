"""The recorded Flower run the deployment chapter loads (results/flower/deployment.npz).

The file is what ``python -m edgelearn.flower.record`` wrote; these tests check that it is still the
run the chapter describes, with the trainer of today: a change to the plan, the scenario or the
training code makes them fail until the run is recorded again.  (The Flower engines themselves run
live in tests/test_flower.py.)
"""
import io
import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from edgelearn import train  # noqa: E402
from edgelearn.flower import record  # noqa: E402


@pytest.fixture(scope="module")
def rec():
    return record.load()


@pytest.fixture
def chapter_threads():
    """The torch thread count the run was recorded with (the reference must sum in the same order)."""
    before = torch.get_num_threads()
    torch.set_num_threads(record.chapter_run()[2]["threads"])
    yield
    torch.set_num_threads(before)


def test_the_recorded_run_is_the_chapters_and_equals_the_trainer_bit_for_bit(rec, chapter_threads):
    s, plan, kw = record.chapter_run()
    assert rec.scenario.digest() == s.digest() and rec.plan.to_dict() == plan.to_dict()
    ref = train.run(s, plan, seed=kw["seed"], per_device=True, cache=False, progress=False)
    h = rec.history
    dropped = kw["inject_failures"][1]
    clean = plan.M + plan.N - len(dropped)
    assert h.rounds == ref.rounds == plan.M + plan.N
    assert np.array_equal(h.loss[:clean], ref.loss[:clean]), "the recorded losses are no longer train.run's: " \
        "record the run again (python -m edgelearn.flower.record)"
    assert np.all(h.loss[clean:] != ref.loss[clean:])            # device 1 was skipped in those rounds
    assert np.array_equal(h.time, ref.time) and np.array_equal(h.energy, ref.energy)
    before = h.eval_round <= clean
    assert np.array_equal(h.eval_round, ref.eval_round)
    assert np.array_equal(h.test_accuracy[before], ref.test_accuracy[before])


def test_the_record_carries_its_failures_network_record_and_provenance(rec):
    _, plan, kw = record.chapter_run()
    rounds = kw["inject_failures"][1]
    assert len(rec.failures) == len(rounds)
    for n, message in zip(rounds, rec.failures):
        assert f"round {n}: device 1 skipped" in message and "injected failure" in message
    assert rec.network["interfaces"] == ["lo"] and rec.network["processes"] >= 3
    assert all("ENETUNREACH" in k for k in rec.network["blocked"])
    p = rec.provenance
    assert p["command"] == "python -m edgelearn.flower.record" and len(p["git_commit"] or "") == 40
    assert {"date", "flwr", "ray", "torch", "numpy", "train_code_hash", "machine"} <= set(p)
    assert rec.run_kwargs["engine"] in ("simulation", "flwr-run")


def _rewrite(tmp_path, change):
    with np.load(record.DEFAULT_PATH, allow_pickle=False) as z:
        meta, history = json.loads(str(z["meta"])), z["history"]
    change(meta)
    out = tmp_path / "changed.npz"
    buf = io.BytesIO()
    np.savez(buf, meta=np.array(json.dumps(meta)), history=history)
    out.write_bytes(buf.getvalue())
    return out


def test_a_record_of_another_run_or_format_is_refused(tmp_path):
    def other_plan(meta):
        meta["plan"]["N"] -= 1
        meta["plan"]["B"] = meta["plan"]["B"][:-1]
        meta["plan"]["f_hat"] = meta["plan"]["f_hat"][:-1]
        meta["plan"]["p"] = meta["plan"]["p"][:-1]

    with pytest.raises(record.StaleRecordError, match="another plan.*python -m edgelearn.flower.record"):
        record.load(_rewrite(tmp_path, other_plan))
    with pytest.raises(record.StaleRecordError, match="another scenario"):
        record.load(_rewrite(tmp_path, lambda m: m["scenario"].update(E0=m["scenario"]["E0"] * 2)))
    with pytest.raises(record.StaleRecordError, match="arguments"):
        record.load(_rewrite(tmp_path, lambda m: m["run_kwargs"].update(seed=1)))
    with pytest.raises(record.StaleRecordError, match="schema"):
        record.load(_rewrite(tmp_path, lambda m: m.update(schema="edgelearn.flower_record/0")))
    assert record.load(_rewrite(tmp_path, lambda m: m["run_kwargs"].update(seed=1)), check=False).run_kwargs["seed"] == 1
    with pytest.raises(FileNotFoundError, match="python -m edgelearn.flower.record"):
        record.load(tmp_path / "missing.npz")
