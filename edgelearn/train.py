"""Run a plan on real data: server pre-training by SGD, then FedSGD fine-tuning.

:func:`run` executes a :class:`~edgelearn.Plan` on one of the named experiments of
:mod:`edgelearn.data` and returns a :class:`History`:

* pre-training round m: the server draws D~^(m) samples of its data (i.i.d., with
  replacement) and takes one SGD step with learning rate gamma (eq. 3);
* fine-tuning round n: device k draws B~_k^(n) samples of its data (likewise) and computes the
  gradient of its mean loss (eq. 7); the server averages the K gradients with
  weights B~_k^(n) / B~_tot^(n) (eq. 8) and takes one step (eq. 9).

The weighted average of the devices' mean-loss gradients *is* the gradient of the
mean loss over the union of their batches.  For a network without BatchNorm the
trainer therefore computes it in one pass over the concatenated batch (the same
numbers, one kernel launch instead of K).  With BatchNorm each device normalises
with its own batch statistics, so the trainer runs one pass per device, and the
server averages the devices' running statistics with the same weights.

The rounds and the draws are those of :func:`edgelearn.sgd.two_stage`, the one loop that
:mod:`edgelearn.estimate` and :mod:`edgelearn.exact` also run.  Plans come from the solver
through :mod:`edgelearn.experiments`; this module needs only the system model.

The simulated clock and energy of each round come from the system model,
:func:`edgelearn.system.breakdown` (eqs. 14-21); nothing here recomputes them.
"""
from __future__ import annotations

import contextlib
import dataclasses
import functools
import io
import json
import time as _time
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F

from . import data as _data
from . import nets as _nets
from . import sgd as _sgd
from . import system as _system
from .cache import DiskCache, make_key

__all__ = ["History", "run", "pick_device", "fedsgd_gradient", "device_gradient", "code_hash", "data_hash",
           "running_mean", "CACHE_VERSION"]

#: Bump when a change to the trainer changes its results (old cache entries then miss).
CACHE_VERSION = 2

_MODULE_DIR = __import__("pathlib").Path(__file__).parent


@functools.lru_cache(maxsize=None)
def _source_hash(*names) -> str:
    """Hash of the source of some edgelearn modules/packages: edits invalidate cached results."""
    import hashlib

    h = hashlib.sha256()
    for name in names:
        path = _MODULE_DIR / name
        files = sorted(path.glob("*.py")) if path.is_dir() else [path.with_suffix(".py")]
        for f in files:
            h.update(f.name.encode() + f.read_bytes())
    return h.hexdigest()


def code_hash() -> str:
    """Hash of the code a training run's numbers depend on: this trainer, the SGD loop and the
    networks (not the solver: a run is a function of its plan, which is stored with it; and not the
    data loaders' source: :func:`data_hash` hashes the data themselves)."""
    return _source_hash("train", "sgd", "nets")


def data_hash(exp) -> str:
    """A content hash of everything an :class:`~edgelearn.data.Experiment` trains and tests on:
    the server's data, each device's data and the test set (images and labels, in order)."""
    return make_key(exp.net, *[hashlib_tensor(d) for d in (exp.server, *exp.devices, exp.test)])


def running_mean(x, window: int | None = None) -> np.ndarray:
    """Mean of ``x`` over the last ``window`` entries up to each one (default: 2% of the length, at least 1)."""
    x = np.asarray(x, float)
    if window is None:
        window = max(1, len(x) // 50)
    c = np.cumsum(np.concatenate([[0.0], x]))
    r = np.arange(1, len(x) + 1)
    lo = np.maximum(0, r - window)
    return (c[r] - c[lo]) / (r - lo)


_ARRAYS = ("stage", "time", "energy", "loss", "eval_round", "test_accuracy", "test_loss", "task_loss")


@dataclass(frozen=True, eq=False)
class History:
    """What a run did, round by round.

    Per round (length M + N, pre-training rounds first; public API): ``stage``
    (``"pretrain"`` or ``"finetune"``), ``time`` and ``energy`` (simulated clock in s
    and energy in J at the end of the round, cumulative eqs. 16 and 21), ``loss``
    (training loss of the round's batch: server data in pre-training, the union of the
    devices' batches in fine-tuning).  Per evaluation: ``eval_round`` (rounds done;
    0 is the initial model), ``test_accuracy`` and ``test_loss`` on the held-out test
    set, ``task_loss`` (loss on the devices' data, the fine-tuning objective).
    """

    experiment: str
    seed: int
    stage: np.ndarray
    time: np.ndarray
    energy: np.ndarray
    loss: np.ndarray
    eval_round: np.ndarray
    test_accuracy: np.ndarray
    test_loss: np.ndarray
    task_loss: np.ndarray
    wall_time: float
    device: str
    samples: int
    budgets: tuple = (float("nan"), float("nan"))
    cached: bool = field(default=False, compare=False)

    @property
    def M(self) -> int:
        return int(np.sum(self.stage == "pretrain"))

    @property
    def N(self) -> int:
        return int(np.sum(self.stage == "finetune"))

    @property
    def rounds(self) -> int:
        return len(self.stage)

    @property
    def final_accuracy(self) -> float:
        """Test accuracy of the final model (a fraction in [0, 1])."""
        return float(self.test_accuracy[-1])

    @property
    def total_time(self) -> float:
        return float(self.time[-1]) if self.rounds else 0.0

    @property
    def total_energy(self) -> float:
        return float(self.energy[-1]) if self.rounds else 0.0

    def smoothed_loss(self, window: int | None = None) -> np.ndarray:
        """Running mean of ``loss`` over the last ``window`` rounds (default: 2% of the rounds, at least 1)."""
        return running_mean(self.loss, window)

    def plot_loss(self, ax, against: str = "time", smooth: int | None = None, **kw):
        """Draw the (smoothed) training loss against simulated ``"time"`` (s) or ``"energy"`` (J) on ``ax``."""
        if against not in ("time", "energy"):
            raise ValueError(f"against = {against!r}: must be 'time' or 'energy'")
        return ax.plot(getattr(self, against), self.smoothed_loss(smooth), **kw)

    @property
    def eval_time(self) -> np.ndarray:
        """Simulated time (s) at each evaluation."""
        return np.concatenate([[0.0], self.time])[self.eval_round]

    @property
    def eval_energy(self) -> np.ndarray:
        """Cumulative energy (J) at each evaluation."""
        return np.concatenate([[0.0], self.energy])[self.eval_round]

    # ---- serialisation (for the on-disk cache)
    def to_bytes(self) -> bytes:
        meta = dict(experiment=self.experiment, seed=self.seed, wall_time=self.wall_time, device=self.device,
                    samples=self.samples, budgets=list(self.budgets))
        buf = io.BytesIO()
        np.savez(buf, meta=np.array(json.dumps(meta)), **{k: getattr(self, k) for k in _ARRAYS})
        return buf.getvalue()

    @classmethod
    def from_bytes(cls, blob: bytes, cached: bool = True) -> "History":
        with np.load(io.BytesIO(blob), allow_pickle=False) as z:
            meta = json.loads(str(z["meta"]))
            arrays = {k: z[k] for k in _ARRAYS}
        meta["budgets"] = tuple(meta["budgets"])
        return cls(**meta, **arrays, cached=cached)

    def __repr__(self):
        tau0, E0 = self.budgets
        return (f"History({self.experiment!r}, M={self.M}, N={self.N}, samples={self.samples}, "
                f"time={self.total_time:.4g} s (budget {tau0:.4g}), energy={self.total_energy:.4g} J "
                f"(budget {E0:.4g}), final loss={self.loss[-1] if self.rounds else float('nan'):.4g}, "
                f"test accuracy={self.final_accuracy:.4f}, wall={self.wall_time:.1f} s on {self.device}"
                f"{', cached' if self.cached else ''})")


def pick_device(device="auto") -> torch.device:
    """``"auto"``: CUDA when present, else the CPU; anything else is passed to :class:`torch.device`."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


@functools.lru_cache(maxsize=8)
def _experiment(name, K, root, download, scheme, alpha, data_seed):
    return _data.experiment(name, K, root=root, download=download, scheme=scheme, alpha=alpha, seed=data_seed)


#: The batch draw of :func:`edgelearn.sgd.two_stage` (kept under this name for edgelearn.flower).
_draw = _sgd.draw


def _bn_buffers(model):
    return [(name, buf) for name, buf in model.named_buffers() if buf.dtype.is_floating_point]


def fedsgd_gradient(model, batches, *, per_device=None, autocast=None, scaler=None):
    """Accumulate the FedSGD aggregate (eq. 8) into ``model``'s ``.grad`` and return the round's loss.

    ``batches``: a list of (x_k, y_k), one per device.  The aggregate is
    sum_k (B_k / B_tot) grad L_k, with L_k device k's mean cross-entropy (eq. 7).
    ``per_device=False`` computes it as the gradient of the mean loss over the
    concatenated batch (exact without BatchNorm); ``True`` runs one pass per device,
    with its own batch statistics (needed with BatchNorm, whose running statistics
    are then averaged with the same weights).  Default: per device iff the model has
    BatchNorm.  ``autocast``: a context factory for mixed precision; ``scaler``: a
    :class:`torch.amp.GradScaler` (float16 on CUDA).
    """
    scale = scaler.scale if scaler is not None else (lambda t: t)
    if per_device is None:
        per_device = _nets.has_batchnorm(model) if per_device is None else bool(per_device)
    autocast = autocast or contextlib.nullcontext
    sizes = torch.tensor([len(y) for _, y in batches], dtype=torch.float64)
    weights = (sizes / sizes.sum()).tolist()
    if not per_device:
        x = torch.cat([b[0] for b in batches])
        y = torch.cat([b[1] for b in batches])
        with autocast():
            loss = F.cross_entropy(model(x), y)
        scale(loss).backward()
        return float(loss.detach())
    buffers = _bn_buffers(model)
    start = [b.detach().clone() for _, b in buffers]
    mixed = [torch.zeros_like(b) for b in start]
    total = 0.0
    for w, (x, y) in zip(weights, batches):
        for (_, b), s in zip(buffers, start):
            b.copy_(s)
        total += w * device_gradient(model, x, y, w, autocast=autocast, scaler=scaler)
        for m, (_, b) in zip(mixed, buffers):
            m.add_(b, alpha=w)
    for (_, b), m in zip(buffers, mixed):
        b.copy_(m)
    return total


def device_gradient(model, x, y, weight: float = 1.0, *, autocast=None, scaler=None) -> float:
    """Device k's share of a FedSGD round: add ``weight`` * grad L_k (eq. 7) to ``model``'s ``.grad``.

    L_k is the mean cross-entropy of the device's batch (x, y) and ``weight`` its
    B_k / B_tot (eq. 8); returns L_k.  :func:`fedsgd_gradient` calls it once per device
    (in device order, so ``.grad`` ends up holding eq. 8's sum); ``edgelearn.flower``'s
    ClientApp calls it on a device and the server adds the replies in the same order.
    """
    scale = scaler.scale if scaler is not None else (lambda t: t)
    with (autocast or contextlib.nullcontext)():
        loss = F.cross_entropy(model(x), y)
    scale(loss * weight).backward()
    return float(loss.detach())


@torch.no_grad()
def _evaluate(model, x, y, chunk=1000, autocast=None):
    autocast = autocast or contextlib.nullcontext
    was = model.training
    model.eval()
    loss, correct = 0.0, 0
    for i in range(0, len(y), chunk):
        with autocast():
            out = model(x[i:i + chunk]).float()
        loss += float(F.cross_entropy(out, y[i:i + chunk], reduction="sum"))
        correct += int((out.argmax(1) == y[i:i + chunk]).sum())
    model.train(was)
    return loss / len(y), correct / len(y)


def _check(scenario, plan, exp):
    if plan.K != scenario.K:
        raise ValueError(f"plan has K = {plan.K} devices but the scenario has K = {scenario.K}")
    if not plan.integer_batches:
        raise ValueError(f"plan has fractional batch sizes (D in [{plan.D.min() if plan.M else 0:g}, ...], "
                         f"B in [{plan.B.min() if plan.N else 0:g}, ...]): training needs whole batches; "
                         f"use a solver plan (its batches are integers) or round them")


def run(scenario, plan, experiment="mnist-mnist", *, device="auto", seed: int = 0, eval_every: int | None = None,
        eval_samples: int = 1000, progress: bool = True, cache=True, cache_dir=None, amp: bool = False,
        root=None, download: bool = False, partition: str = "iid", alpha: float = 0.5,
        data_seed: int = 0, per_device: bool | None = None) -> History:
    """Train ``plan`` on ``experiment`` and return its :class:`History`.

    ``experiment``: a name of :data:`edgelearn.data.EXPERIMENTS` (its devices split
    with ``partition``/``alpha``/``data_seed``) or an :class:`~edgelearn.data.Experiment`.
    ``seed`` fixes the initial weights and every batch draw: the same seed gives the
    same history.  ``eval_every``: test every so many rounds (default: about 10
    evaluations per run); the initial model, the end of pre-training and the final model
    are always tested (``eval_every=0``: only those).  ``eval_samples``: at most this many
    device samples for ``task_loss``.  ``device="auto"`` uses CUDA
    when present; ``amp=True`` runs forward passes in mixed precision (bfloat16 on the
    CPU, float16 with loss scaling on CUDA).  ``cache=True`` stores the finished run
    under ``cache_dir`` (default :func:`edgelearn.cache.default_dir`), keyed by a hash
    of everything the learning depends on (the scenario's gamma and K, the plan's rounds and
    batch sizes, the experiment's data, the seed, these options and the trainer's source),
    and returns it next time, with the simulated time and energy recomputed for the given
    scenario and plan by the system model.  ``per_device``: how a fine-tuning round's
    gradient is computed (see :func:`fedsgd_gradient`; default: per device iff the net
    has BatchNorm); ``True`` computes it as a federated deployment does, one device at a
    time, and ``edgelearn.flower.run`` then gives the same numbers bit for bit.
    """
    if isinstance(seed, bool) or int(seed) != seed:
        raise ValueError(f"seed = {seed!r}: must be a whole number")
    if eval_every is not None and (int(eval_every) != eval_every or eval_every < 0):
        raise ValueError(f"eval_every = {eval_every!r}: must be a whole number >= 0 (0: final evaluation only)")
    rounds = plan.M + plan.N
    if eval_every is None:
        eval_every = max(1, rounds // 10)
    if isinstance(experiment, str):
        exp = _experiment(experiment, scenario.K, None if root is None else str(root), download, partition, alpha,
                          data_seed)
        data_id = [experiment, exp.net, partition, alpha, data_seed]
    else:
        exp = experiment
        data_id = [exp.name, data_hash(exp)]
    if exp.K != scenario.K:
        raise ValueError(f"experiment has {exp.K} devices but the scenario has K = {scenario.K}")
    _check(scenario, plan, exp)

    # What the learning depends on: the learning rate, the rounds and batch sizes, the data, the seed and
    # the options (and the trainer's code).  Clocks and powers only move the simulated clock, which is
    # recomputed from the system model on every load; so plans that differ only there share one run.
    key = make_key(CACHE_VERSION, code_hash(), scenario.gamma, scenario.K, plan.M,
                   plan.N, plan.D, plan.B, data_id, int(seed), int(eval_every), int(eval_samples), bool(amp),
                   *([] if per_device is None else [bool(per_device)]))
    store = DiskCache(cache_dir) if cache else None
    if store is not None:
        blob = store.load(key)
        if blob is not None:
            try:
                cached = History.from_bytes(blob)
            except Exception:  # a valid checksum over an unreadable payload: recompute
                cached = None
            if cached is not None:
                t_sim, e_sim = _system.breakdown(scenario, plan).cumulative()
                return dataclasses.replace(cached, time=t_sim, energy=e_sim, budgets=(scenario.tau0, scenario.E0))

    history = _train(scenario, plan, exp, pick_device(device), int(seed), int(eval_every), int(eval_samples),
                     progress, amp, per_device=per_device)
    if store is not None:
        store.save(key, history.to_bytes())
    return history


def hashlib_tensor(ds) -> str:
    """A content hash of a dataset (images and labels)."""
    import hashlib

    h = hashlib.sha256(ds.images.contiguous().numpy().tobytes())
    h.update(ds.labels.numpy().tobytes())
    return h.hexdigest()


def _train(scenario, plan, exp, dev, seed, eval_every, eval_samples, progress, amp, *, per_device=None,
           fedsgd=None) -> History:
    """The training loop (:func:`edgelearn.sgd.two_stage`).  ``fedsgd(model, n, indices)`` (flower,
    issue 13), when given, computes fine-tuning round n's aggregate gradient into ``model.grad``
    instead of :func:`fedsgd_gradient` (``indices``: each device's drawn sample indices, numpy
    arrays) and returns the round's loss."""
    start_wall = _time.perf_counter()
    t_sim, e_sim = _system.breakdown(scenario, plan).cumulative()
    rng = np.random.default_rng(seed)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = _nets.build(exp.net).to(dev)
    model.train()
    per_device = _nets.has_batchnorm(model) if per_device is None else bool(per_device)
    opt = torch.optim.SGD(model.parameters(), lr=scenario.gamma)   # plain SGD: w <- w - gamma * g, eqs. (3), (9)
    use_scaler = amp and dev.type == "cuda"
    scaler = torch.amp.GradScaler("cuda") if use_scaler else None
    if amp:
        dtype = torch.float16 if dev.type == "cuda" else torch.bfloat16
        autocast = functools.partial(torch.autocast, device_type=dev.type, dtype=dtype)
    else:
        autocast = None

    # move the data once; rounds then only index tensors already on the device
    xs, ys = exp.server.tensors(dev)
    dev_data = [d.tensors(dev) for d in exp.devices]
    xt, yt = exp.test.tensors(dev)
    task = [(x[: max(1, eval_samples * len(y) // sum(len(d) for d in exp.devices))],
             y[: max(1, eval_samples * len(y) // sum(len(d) for d in exp.devices))]) for x, y in dev_data]
    xtask, ytask = torch.cat([t[0] for t in task]), torch.cat([t[1] for t in task])

    evals = {"eval_round": [], "test_accuracy": [], "test_loss": [], "task_loss": []}

    def evaluate(r):
        tl, acc = _evaluate(model, xt, yt, autocast=autocast)
        kl, _ = _evaluate(model, xtask, ytask, autocast=autocast)
        for k, v in zip(evals, (r, acc, tl, kl)):
            evals[k].append(v)

    evaluate(0)
    stage = np.array(["pretrain"] * plan.M + ["finetune"] * plan.N)
    maybe_autocast = autocast or contextlib.nullcontext
    samples = [0]

    def step():
        if use_scaler:
            scaler.step(opt)
            scaler.update()
        else:
            opt.step()                                      # w <- w - gamma * g, eqs. (3), (9)

    def pretrain(r, idx):                                   # eq. (3)
        opt.zero_grad(set_to_none=True)
        idx = torch.from_numpy(idx).to(dev)
        with maybe_autocast():
            loss = F.cross_entropy(model(xs[idx]), ys[idx])
        (scaler.scale(loss) if use_scaler else loss).backward()
        step()
        samples[0] += len(idx)
        return float(loss.detach())

    def finetune(r, idxs, _weights):                        # eqs. (7)-(9); fedsgd_gradient weighs by B_k / B_tot
        opt.zero_grad(set_to_none=True)
        batches = []
        for (x, y), idx in zip(dev_data, idxs):
            idx = torch.from_numpy(idx).to(dev)
            batches.append((x[idx], y[idx]))
            samples[0] += len(idx)
        if fedsgd is not None:
            loss = fedsgd(model, r - plan.M, idxs)
        else:
            loss = fedsgd_gradient(model, batches, per_device=per_device, autocast=autocast, scaler=scaler)
        step()
        return loss

    def after(r, loss):
        if (eval_every and (r + 1) % eval_every == 0) or r + 1 in (plan.M, plan.M + plan.N):
            evaluate(r + 1)

    losses = _sgd.two_stage(plan.D, plan.B, len(ys), [len(y) for _, y in dev_data], pretrain, finetune,
                            rng=np.random.default_rng(seed), after=after, progress=progress, desc=exp.name)
    samples = samples[0]
    return History(
        experiment=exp.name, seed=seed, stage=stage, time=t_sim, energy=e_sim, loss=losses,
        eval_round=np.array(evals["eval_round"], dtype=int), test_accuracy=np.array(evals["test_accuracy"]),
        test_loss=np.array(evals["test_loss"]), task_loss=np.array(evals["task_loss"]),
        wall_time=_time.perf_counter() - start_wall, device=str(dev), samples=samples,
        budgets=(scenario.tau0, scenario.E0),
    )
