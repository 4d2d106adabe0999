"""Trainer: FedSGD aggregation (eqs. 7-9), reproducibility, simulated clock, the on-disk cache."""
import numpy as np
import pytest

torch = pytest.importorskip("torch")

import edgelearn as el  # noqa: E402
from edgelearn import nets, train  # noqa: E402
from edgelearn.cache import DiskCache  # noqa: E402


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """LeNet is as fast on one core, and two threads crawl when the other core is busy."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def per_device_aggregate(model, batches):
    """Eqs. (7)-(8) literally: each device's mean-loss gradient, weighted by B_k / B_tot."""
    B_tot = sum(len(y) for _, y in batches)
    total = [torch.zeros_like(p) for p in model.parameters()]
    for x, y in batches:
        g = torch.autograd.grad(torch.nn.functional.cross_entropy(model(x), y), list(model.parameters()))
        for t, gi in zip(total, g):
            t += gi * (len(y) / B_tot)
    return total


def make_batches(sizes, shape=(1, 28, 28), seed=0):
    g = torch.Generator().manual_seed(seed)
    return [(torch.randn(b, *shape, generator=g), torch.randint(0, 10, (b,), generator=g)) for b in sizes]


@pytest.mark.parametrize("sizes", [(5, 9, 2), (1, 30, 7, 4)])
def test_one_pass_on_the_union_equals_the_weighted_per_device_gradients(sizes):
    torch.manual_seed(0)
    model = nets.lenet5().double()
    batches = [(x.double(), y) for x, y in make_batches(sizes)]
    expected = per_device_aggregate(model, batches)
    for per_device in (False, True):
        model.zero_grad()
        train.fedsgd_gradient(model, batches, per_device=per_device)
        for p, e in zip(model.parameters(), expected):
            assert torch.allclose(p.grad, e, rtol=1e-10, atol=1e-12)


def small_bn_net():
    return torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3), torch.nn.BatchNorm2d(4), torch.nn.ReLU(),
                               torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(4, 10)).double()


def test_with_batchnorm_each_device_normalises_with_its_own_batch():
    torch.manual_seed(1)
    model = small_bn_net()
    batches = [(x.double() * (k + 1) + k, y) for k, (x, y) in enumerate(make_batches((6, 10), shape=(1, 8, 8)))]
    mean_before = model[1].running_mean.clone()
    expected = per_device_aggregate(model, batches)      # also moves the running stats: undo
    model[1].running_mean.copy_(mean_before)
    model[1].running_var.fill_(1.0)
    model.zero_grad()
    train.fedsgd_gradient(model, batches)                 # default: per device, since the net has BatchNorm
    for p, e in zip(model.parameters(), expected):
        assert torch.allclose(p.grad, e, rtol=1e-10, atol=1e-12)
    # running mean: momentum 0.1 towards each device's batch mean, averaged with weights 6/16, 10/16
    batch_means = [model[0](x).mean(dim=(0, 2, 3)) for x, _ in batches]
    expected_mean = sum(w * 0.1 * m for w, m in zip((6 / 16, 10 / 16), batch_means))
    assert torch.allclose(model[1].running_mean, expected_mean.detach())
    # one pass over the union would normalise with the pooled statistics: a different gradient
    model.zero_grad()
    train.fedsgd_gradient(model, batches, per_device=False)
    assert not all(torch.allclose(p.grad, e) for p, e in zip(model.parameters(), expected))


@pytest.fixture(scope="module")
def setting():
    s = el.scenarios.mnist()
    return s, el.Plan.uniform(s, 4, 3, D=16, B=[4, 8, 12])


def test_same_seed_same_history_and_another_seed_differs(setting):
    s, plan = setting
    a, b = (train.run(s, plan, "mnist-mnist", seed=3, cache=False, progress=False, eval_every=0) for _ in range(2))
    for name in ("stage", "time", "energy", "loss", "test_accuracy", "task_loss"):
        assert np.array_equal(getattr(a, name), getattr(b, name))
    c = train.run(s, plan, "mnist-mnist", seed=4, cache=False, progress=False, eval_every=0)
    assert not np.array_equal(a.loss, c.loss)


def test_history_follows_the_plan_and_the_system_model(setting):
    s, plan = setting
    h = train.run(s, plan, "mnist-mnist", cache=False, progress=False, eval_every=2)
    assert h.stage.tolist() == ["pretrain"] * 4 + ["finetune"] * 3
    assert h.samples == 4 * 16 + 3 * (4 + 8 + 12)
    report = el.evaluate(s, plan)
    assert h.total_time == pytest.approx(report.delay) and h.total_energy == pytest.approx(report.energy)
    # the first fine-tuning round ends one round delay (16) after the pre-training stage
    assert h.time[4] - h.time[3] == pytest.approx(report.breakdown.finetune_delay[0])
    assert h.eval_round.tolist() == [0, 2, 4, 6, 7]
    assert np.all(np.isfinite(h.loss)) and 0 <= h.final_accuracy <= 1
    # an untrained 10-class network has cross-entropy near ln 10
    assert abs(h.test_loss[0] - np.log(10)) < 0.2


def test_cache_returns_the_stored_run_and_recomputes_a_corrupt_file(setting, tmp_path):
    s, plan = setting
    first = train.run(s, plan, "mnist-mnist", cache_dir=tmp_path, progress=False, eval_every=0)
    again = train.run(s, plan, "mnist-mnist", cache_dir=tmp_path, progress=False, eval_every=0)
    assert not first.cached and again.cached and np.array_equal(first.loss, again.loss)
    (path,) = (tmp_path / "runs").glob("*.bin")
    blob = bytearray(path.read_bytes())
    blob[-10] ^= 0xFF                                   # flip one byte of the payload
    path.write_bytes(bytes(blob))
    redo = train.run(s, plan, "mnist-mnist", cache_dir=tmp_path, progress=False, eval_every=0)
    assert not redo.cached and np.array_equal(first.loss, redo.loss)
    path.write_bytes(path.read_bytes()[:50])            # a partial write
    assert not train.run(s, plan, "mnist-mnist", cache_dir=tmp_path, progress=False, eval_every=0).cached


def test_plans_that_differ_only_in_clocks_share_the_training_but_not_the_clock(setting, tmp_path):
    s, plan = setting
    slow = plan.replace(f=plan.f / 2)
    first = train.run(s, plan, "mnist-mnist", cache_dir=tmp_path, progress=False, eval_every=0)
    second = train.run(s, slow, "mnist-mnist", cache_dir=tmp_path, progress=False, eval_every=0)
    assert second.cached and np.array_equal(first.loss, second.loss)
    # half the server clock doubles every pre-training round's delay (14)
    assert second.time[3] == pytest.approx(2 * first.time[3])
    assert second.total_time == pytest.approx(el.evaluate(s, slow).delay)


def test_disk_cache_writes_atomically_and_checks_the_sum(tmp_path):
    c = DiskCache(tmp_path)
    c.save("k", b"payload")
    assert c.load("k") == b"payload" and c.load("missing") is None
    assert [p.name for p in (tmp_path / "runs").iterdir()] == ["k.bin"]   # no temporary file left


def test_a_plan_with_fractional_batches_is_refused(setting):
    s, _ = setting
    with pytest.raises(ValueError, match="fractional"):
        train.run(s, el.Plan.uniform(s, 2, 1, D=10.5), "mnist-mnist", cache=False, progress=False)


def test_a_plan_with_the_wrong_number_of_devices_is_refused(setting):
    s, _ = setting
    plan = el.Plan(M=1, N=1, D=[4], f=[1e9], B=[[4, 4]], f_hat=[[1e8, 1e8]], p=[[0.1, 0.1]])
    with pytest.raises(ValueError, match="K = 3"):
        train.run(s, plan, "mnist-mnist", cache=False, progress=False)


def test_pretraining_decreases_the_loss_on_mnist():
    s = el.scenarios.mnist().replace(gamma=0.05, rho=20.0, rho_hat=20.0)   # gamma <= 1/rho (Theorem 3.1)
    h = train.run(s, el.Plan.uniform(s, 150, 1, D=32, B=4), "mnist-mnist", cache=False, progress=False,
                  eval_every=0)
    assert h.loss[-20:].mean() < h.loss[:20].mean() - 0.3
    assert h.final_accuracy > 0.3                      # chance is 0.1
