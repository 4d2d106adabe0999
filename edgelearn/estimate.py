"""Estimating the learning constants of Theorem 3.1 from a model and data.

The bound (34) needs seven numbers the paper never states: the smoothness constants
rho, rho-hat (Assumption 2, (22)-(23)), the per-sample gradient variances alpha^2,
alpha-hat^2 (Assumption 3, (28)-(29)), the Lipschitz constant rho-tilde of the loss in
the data sample (Assumption 4, (30)), the Wasserstein distance W(P-hat, P) between the
two data distributions (Definition 1, (31)) and the initial loss gap L(w0, D) - L_inf.

Every function here measures a *local* or *sampled* version of a constant that the
assumptions ask for *globally* (a supremum over all parameters w, all samples d):
a measurement is a lower estimate of the constant, never a certificate.  Each result
carries its uncertainty (:class:`Estimate`).  :func:`constants` bundles them into a
dict that ``Scenario.replace(**...)`` accepts.

Data are ``(X, y)`` pairs (numpy arrays or torch tensors, ``X`` of shape (n, ...),
integer labels ``y`` of shape (n,)), or anything with ``.X``/``.y`` or ``.tensors``.

The ground distance between two samples d = (x, y) and d' = (x', y') used for both
W and rho-tilde is

    dist(d, d') = ||x - x'||_2 + kappa * 1[y != y'],

the Euclidean distance between the flattened inputs plus a cost ``kappa``
(``label_cost``) for a change of label; ``label_cost=None`` compares inputs only.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

__all__ = ["Estimate", "Constants", "loss_gap", "smoothness", "gradient_variance",
           "wasserstein", "rho_tilde", "constants", "ground_distance", "GradientTrace", "gradient_trace"]


@dataclass(frozen=True)
class Estimate:
    """A measured constant: ``value`` with a one-sigma style ``error`` and how it was obtained."""

    value: float
    error: float
    method: str
    details: dict = field(default_factory=dict, repr=False, compare=False)

    def __float__(self) -> float:
        return float(self.value)

    def __str__(self) -> str:
        return f"{self.value:.4g} ± {self.error:.2g}  ({self.method})"


class Constants(dict):
    """The learning constants as a plain dict (``scenario.replace(**c)`` takes it),
    with each one's :class:`Estimate` in ``.estimates``."""

    def __init__(self, estimates: dict[str, Estimate]):
        super().__init__({k: float(v.value) for k, v in estimates.items()})
        self.estimates = dict(estimates)

    @property
    def max_gamma(self) -> float:
        """Largest learning rate Theorem 3.1 allows with these constants: min(1/rho, 1/rho-hat)."""
        return min(1.0 / self["rho"], 1.0 / self["rho_hat"])

    def table(self) -> str:
        w = max(map(len, self.estimates))
        return "\n".join(f"{k:<{w}}  {e}" for k, e in self.estimates.items())

    def __repr__(self) -> str:
        return "Constants(\n  " + self.table().replace("\n", "\n  ") + "\n)"


# ---------------------------------------------------------------------------- data helpers
def _arrays(data):
    """(X, y) as numpy arrays from a tuple, an object with .X/.y, or a TensorDataset."""
    if isinstance(data, (tuple, list)) and len(data) == 2:
        X, y = data
    elif hasattr(data, "X") and hasattr(data, "y"):
        X, y = data.X, data.y
    elif hasattr(data, "tensors"):
        X, y = data.tensors[:2]
    else:
        raise ValueError(f"data must be an (X, y) pair, have .X and .y, or be a TensorDataset; got {type(data).__name__}")
    X = X.detach().cpu().numpy() if hasattr(X, "detach") else np.asarray(X)
    y = y.detach().cpu().numpy() if hasattr(y, "detach") else np.asarray(y)
    if len(X) != len(y):
        raise ValueError(f"data: X has {len(X)} samples but y has {len(y)}")
    if len(X) == 0:
        raise ValueError("data: got an empty dataset (0 samples); need at least 1")
    return X, y


def _subsample(n, max_samples, rng):
    if max_samples is None or n <= max_samples:
        return np.arange(n)
    return np.sort(rng.choice(n, size=int(max_samples), replace=False))


def _torch_data(data, max_samples, seed, model=None):
    import torch
    X, y = _arrays(data)
    idx = _subsample(len(X), max_samples, np.random.default_rng(seed))
    dtype = torch.float32
    if model is not None:
        p = next(iter(model.parameters()), None)
        dtype = p.dtype if p is not None else dtype
    ydtype = torch.long if np.issubdtype(y.dtype, np.integer) else dtype
    return torch.as_tensor(X[idx], dtype=dtype), torch.as_tensor(y[idx], dtype=ydtype), len(X)


def _functional(model, loss_fn):
    """Parameters as a dict and ``loss(params, X, y)`` (mean over the batch) via torch.func."""
    import torch
    from torch.func import functional_call
    if loss_fn is None:
        loss_fn = torch.nn.functional.cross_entropy
    params = {k: v.detach() for k, v in model.named_parameters()}
    buffers = {k: v.detach() for k, v in model.named_buffers()}

    def loss(p, X, y):
        return loss_fn(functional_call(model, (p, buffers), (X,)), y)

    return params, loss


def _check_positive_int(name, value, low=1):
    if value is None:
        return
    if int(value) != value or value < low:
        raise ValueError(f"{name} = {value!r}: must be a whole number >= {low}")


# ---------------------------------------------------------------------------- constants
def loss_gap(model, data, *, loss_inf: float = 0.0, loss_fn=None, max_samples: int | None = None,
             seed: int = 0) -> Estimate:
    """L(w0, D) - L_inf of Theorem 3.1 (34): the mean loss of ``model`` on ``data`` minus ``loss_inf``.

    ``loss_inf`` (Assumption 1's lower bound) defaults to 0, valid for the cross-entropy.
    On a subsample the error is the standard error of the mean loss; on the full data it is 0.
    """
    import torch
    _check_positive_int("max_samples", max_samples)
    X, y, n = _torch_data(data, max_samples, seed, model)
    params, _ = _functional(model, loss_fn)
    lf = loss_fn or torch.nn.functional.cross_entropy
    was = model.training
    model.eval()
    with torch.no_grad():
        per = lf(model(X), y, reduction="none").double().numpy()
    model.train(was)
    m = len(per)
    err = 0.0 if m == n else float(per.std(ddof=1) / math.sqrt(m)) if m > 1 else float("inf")
    return Estimate(float(per.mean() - loss_inf), err, f"mean loss on {m} of {n} samples minus L_inf = {loss_inf:g}")


def smoothness(model, data, *, loss_fn=None, max_samples: int | None = 1000, iters: int = 100,
               tol: float = 1e-6, seed: int = 0) -> Estimate:
    """rho of Assumption 2 (22)-(23), *estimated locally*: the spectral norm of the Hessian
    of the mean loss at the model's current parameters (largest |eigenvalue|).

    Power iteration on Hessian-vector products (forward-over-reverse with ``torch.func``),
    on a subsample of at most ``max_samples`` points.  Assumption 2 asks for a bound on the
    Hessian's norm at *every* w; this is its value at one w, a lower estimate of the
    global constant.  ``error`` is the power iteration's residual ||Hv - lambda v||, which
    bounds the distance from the estimate to an eigenvalue of H.
    """
    import torch
    from torch.func import grad, jvp
    _check_positive_int("iters", iters)
    _check_positive_int("max_samples", max_samples)
    X, y, n = _torch_data(data, max_samples, seed, model)
    params, loss = _functional(model, loss_fn)
    was = model.training
    model.eval()
    g = grad(loss)

    def hvp(v):
        return jvp(lambda p: g(p, X, y), (params,), (v,))[1]

    def dot(a, b):
        return sum(float((a[k] * b[k]).sum()) for k in a)

    gen = torch.Generator().manual_seed(seed)
    v = {k: torch.randn(p.shape, generator=gen, dtype=p.dtype) for k, p in params.items()}
    nv = math.sqrt(dot(v, v))
    v = {k: t / nv for k, t in v.items()}
    lam, res, it = 0.0, float("inf"), 0
    for it in range(1, iters + 1):
        Hv = hvp(v)
        lam_new = dot(v, Hv)
        res = math.sqrt(max(dot(Hv, Hv) - 2 * lam_new * dot(v, Hv) + lam_new ** 2, 0.0))
        nH = math.sqrt(dot(Hv, Hv))
        if nH == 0.0:
            lam_new, res = 0.0, 0.0
            lam = lam_new
            break
        v = {k: t / nH for k, t in Hv.items()}
        done = abs(lam_new - lam) <= tol * max(abs(lam_new), 1e-12)
        lam = lam_new
        if done:
            break
    model.train(was)
    return Estimate(abs(lam), res, f"local: Hessian spectral norm at w by {it} power iterations on {len(X)} of {n} samples",
                    dict(eigenvalue=lam, iterations=it))


def gradient_variance(model, data, *, loss_fn=None, max_samples: int | None = 1000, chunk: int = 256,
                      seed: int = 0) -> Estimate:
    """alpha^2 of Assumption 3 (28)-(29), *at the model's current parameters*:
    the variance of one sample's gradient, E_i ||grad l(w, d_i) - grad L(w, D)||^2.

    A mini-batch of b samples drawn with replacement then has variance alpha^2 / b, the
    form of (28).  Per-sample gradients come from ``torch.func.vmap(grad(...))`` in chunks.
    Assumption 3 asks for a bound over all w; evaluate at several models and take the
    largest.  ``error`` is the standard error of the mean of ||g_i - g_bar||^2.
    """
    import torch
    from torch.func import grad, vmap
    _check_positive_int("max_samples", max_samples, low=2)
    _check_positive_int("chunk", chunk)
    X, y, n = _torch_data(data, max_samples, seed, model)
    params, loss = _functional(model, loss_fn)
    was = model.training
    model.eval()
    single = vmap(grad(lambda p, x, t: loss(p, x[None], t[None])), in_dims=(None, 0, 0))

    def flat_chunks():
        for s in range(0, len(X), chunk):
            G = single(params, X[s:s + chunk], y[s:s + chunk])
            yield torch.cat([G[k].reshape(G[k].shape[0], -1) for k in params], dim=1).double()

    total = sum(G.sum(0) for G in flat_chunks())
    mean = total / len(X)
    dev2 = torch.cat([((G - mean) ** 2).sum(1) for G in flat_chunks()]).numpy()
    model.train(was)
    m = len(dev2)
    value = float(dev2.sum() / (m - 1)) if m < n else float(dev2.mean())
    return Estimate(value, float(dev2.std(ddof=1) / math.sqrt(m)),
                    f"local: per-sample gradient variance at w on {m} of {n} samples",
                    dict(mean_gradient_norm2=float((mean ** 2).sum())))


def ground_distance(Xa, ya, Xb, yb, label_cost=None):
    """The cost matrix dist(a_i, b_j) = ||x_i - x_j||_2 + kappa 1[y_i != y_j] (see module doc)."""
    import ot
    Xa = np.asarray(Xa, float).reshape(len(Xa), -1)
    Xb = np.asarray(Xb, float).reshape(len(Xb), -1)
    C = ot.dist(Xa, Xb, metric="euclidean")
    if label_cost is not None:
        if label_cost < 0:
            raise ValueError(f"label_cost = {label_cost}: must be >= 0 (or None to ignore labels)")
        C = C + float(label_cost) * (np.asarray(ya)[:, None] != np.asarray(yb)[None, :])
    return C


def _as_xy(data):
    if isinstance(data, np.ndarray) or (hasattr(data, "shape") and not isinstance(data, (tuple, list))):
        X = data.detach().cpu().numpy() if hasattr(data, "detach") else np.asarray(data)
        if X.ndim == 1:
            X = X[:, None]
        return X, np.zeros(len(X), int)
    return _arrays(data)


def wasserstein(data_a, data_b, *, label_cost=None, max_samples: int | None = 1000, repeats: int = 5,
                method: str = "emd", reg: float = 0.01, seed: int = 0) -> Estimate:
    """W(P_a, P_b) of Definition 1 (31): the 1-Wasserstein distance between two datasets.

    ``data_a``, ``data_b``: arrays of samples (n, ...) or ``(X, y)`` pairs.  The ground
    distance is :func:`ground_distance` (Euclidean on the flattened inputs, plus
    ``label_cost`` for a change of label).  The distributions are the empirical ones
    (uniform weight on each sample).

    When a dataset has more than ``max_samples`` points, W is computed ``repeats`` times
    between random subsamples of that size and averaged; ``error`` is then the standard
    deviation over the repeats, and ``details['floor']`` the mean W between two disjoint
    halves of ``data_a`` at the same subsample size (the distance sampling alone creates:
    the plug-in estimate is biased upwards by about this much).  ``method='emd'`` solves
    the transport problem exactly (``ot.emd2``); ``method='sinkhorn'`` uses the
    entropic approximation (``ot.sinkhorn2``, regularisation ``reg`` times the median cost),
    faster for large subsamples, and an over-estimate of W.
    """
    import ot
    if method not in ("emd", "sinkhorn"):
        raise ValueError(f"method = {method!r}: must be 'emd' or 'sinkhorn'")
    _check_positive_int("repeats", repeats)
    _check_positive_int("max_samples", max_samples, low=2)
    Xa, ya = _as_xy(data_a)
    Xb, yb = _as_xy(data_b)
    rng = np.random.default_rng(seed)

    def w1(ia, Xa_, ya_, ib, Xb_, yb_):
        C = ground_distance(Xa_[ia], ya_[ia], Xb_[ib], yb_[ib], label_cost)
        a = np.full(len(ia), 1.0 / len(ia))
        b = np.full(len(ib), 1.0 / len(ib))
        if method == "emd":
            return float(ot.emd2(a, b, C, numItermax=10_000_000))
        scale = float(np.median(C)) or 1.0
        return float(ot.sinkhorn2(a, b, C / scale, reg, numItermax=5000)) * scale

    ground = "||x - x'||_2" + ("" if label_cost is None else f" + {label_cost:g} 1[y != y']")
    exact = max_samples is None or (len(Xa) <= max_samples and len(Xb) <= max_samples)
    if exact:
        v = w1(np.arange(len(Xa)), Xa, ya, np.arange(len(Xb)), Xb, yb)
        return Estimate(v, 0.0, f"{method} on all {len(Xa)} x {len(Xb)} samples, ground distance {ground}",
                        dict(floor=0.0, samples=(len(Xa), len(Xb))))
    vals, floors = [], []
    for _ in range(repeats):
        ia = _subsample(len(Xa), max_samples, rng)
        ib = _subsample(len(Xb), max_samples, rng)
        vals.append(w1(ia, Xa, ya, ib, Xb, yb))
        h = min(max_samples, len(Xa) // 2)
        perm = rng.permutation(len(Xa))
        floors.append(w1(perm[:h], Xa, ya, perm[h:2 * h], Xa, ya))
    vals = np.array(vals)
    return Estimate(float(vals.mean()), float(vals.std(ddof=1)) if repeats > 1 else float("nan"),
                    f"{method} on {repeats} subsamples of {max_samples}, ground distance {ground}",
                    dict(floor=float(np.mean(floors)), values=vals, samples=(max_samples, max_samples)))


def rho_tilde(model, data_a, data_b=None, *, label_cost=None, loss_fn=None, max_samples: int | None = 500,
              seed: int = 0) -> Estimate:
    """rho-tilde of Assumption 4 (30): how fast the loss l(w, d) can change with the sample d,
    per unit of :func:`ground_distance`, *at the model's current parameters*.

    Two local measurements, and the larger is returned: the largest input-gradient norm
    max_i ||grad_x l(w, (x_i, y_i))|| (moving x with the label fixed), and, when
    ``label_cost`` is given, the largest change of loss when only the label changes,
    max_i max_y' |l(w, (x_i, y')) - l(w, (x_i, y_i))| / kappa.  Both run over the samples
    of ``data_a`` and ``data_b``.  Assumption 4 asks for a supremum over all w and all
    pairs of samples: this is a lower estimate of it.  ``error`` is the gap between the
    largest and second-largest sample value (how much one sample decides the maximum).
    """
    import torch
    from torch.func import grad, vmap
    _check_positive_int("max_samples", max_samples)
    parts = [_torch_data(d, max_samples, seed + i, model) for i, d in enumerate([data_a] + ([data_b] if data_b is not None else []))]
    X = torch.cat([p[0] for p in parts])
    y = torch.cat([p[1] for p in parts])
    params, loss = _functional(model, loss_fn)
    was = model.training
    model.eval()
    gx = vmap(grad(lambda x, t: loss(params, x[None], t[None])))(X, y)
    per = gx.reshape(len(X), -1).norm(dim=1).double().numpy()
    how = "local: max input-gradient norm"
    if label_cost is not None:
        if label_cost <= 0:
            raise ValueError(f"label_cost = {label_cost}: must be > 0 (or None to ignore labels)")
        if loss_fn is not None:
            raise ValueError("rho_tilde: the label-change part assumes the cross-entropy loss; "
                             "pass label_cost=None with a custom loss_fn")
        with torch.no_grad():
            logits = model(X)
            lse = torch.logsumexp(logits, dim=1, keepdim=True)
            nll = (lse - logits).double()                       # loss for every possible label
            own = nll.gather(1, y[:, None])
            swap = ((nll - own).abs().max(dim=1).values / float(label_cost)).numpy()
        per = np.maximum(per, swap)
        how += f" and label-change ratio (kappa = {label_cost:g})"
    model.train(was)
    top = np.sort(per)[::-1]
    return Estimate(float(top[0]), float(top[0] - top[1]) if len(top) > 1 else float("nan"),
                    f"{how} over {len(X)} samples at w")


def constants(model, server_data, device_data, *, label_cost="diameter",
              max_samples: int = 500, w_samples: int = 500, loss_inf: float = 0.0, loss_fn=None,
              seed: int = 0, progress: bool = True) -> Constants:
    """All seven learning constants of Theorem 3.1 for ``model`` at its current parameters.

    ``server_data`` is the pre-training data D (distribution P), ``device_data`` the
    fine-tuning data B (distribution P-hat; the union over devices).  Returns a
    :class:`Constants` dict with keys rho, rho_hat, alpha2, alpha_hat2, rho_tilde,
    wasserstein, loss_gap: ``scenario.replace(**constants(...))``.  (The step size must
    then satisfy gamma <= ``.max_gamma``.)  ``label_cost='diameter'`` sets the label
    cost kappa of the ground distance to twice the largest input norm, so a change of
    label costs at least as much as any change of input.
    """
    from tqdm.auto import tqdm
    Xa, _ = _arrays(server_data)
    Xb, _ = _arrays(device_data)
    if label_cost == "diameter":
        norms = np.concatenate([np.linalg.norm(Xa.reshape(len(Xa), -1), axis=1),
                                np.linalg.norm(Xb.reshape(len(Xb), -1), axis=1)])
        label_cost = 2.0 * float(norms.max())
    steps = [
        ("rho", lambda: smoothness(model, server_data, loss_fn=loss_fn, max_samples=max_samples, seed=seed)),
        ("rho_hat", lambda: smoothness(model, device_data, loss_fn=loss_fn, max_samples=max_samples, seed=seed)),
        ("alpha2", lambda: gradient_variance(model, server_data, loss_fn=loss_fn, max_samples=max_samples, seed=seed)),
        ("alpha_hat2", lambda: gradient_variance(model, device_data, loss_fn=loss_fn, max_samples=max_samples, seed=seed)),
        ("rho_tilde", lambda: rho_tilde(model, server_data, device_data, label_cost=label_cost, loss_fn=loss_fn,
                                        max_samples=max_samples, seed=seed)),
        ("wasserstein", lambda: wasserstein(server_data, device_data, label_cost=label_cost,
                                            max_samples=w_samples, seed=seed)),
        ("loss_gap", lambda: loss_gap(model, server_data, loss_inf=loss_inf, loss_fn=loss_fn, seed=seed)),
    ]
    out = {}
    for name, fn in tqdm(steps, desc="constants", disable=not progress):
        out[name] = fn()
    return Constants(out)


@dataclass(frozen=True)
class GradientTrace:
    """Squared full-gradient norms ||grad L(w^(r), D^(r))||^2 measured along one two-stage run
    (on D for r < M, on B after): the quantity Theorem 3.1 averages.  ``rounds`` are the rounds
    at which it was measured; ``model`` is the trained model."""

    M: int
    N: int
    rounds: np.ndarray
    grad_norm2: np.ndarray
    loss: np.ndarray
    model: object = field(repr=False, compare=False)

    @property
    def avg_grad_norm2(self) -> float:
        """The average over the run (left side of (34)), estimated from the measured rounds."""
        return float(self.grad_norm2.mean())


def gradient_trace(model, server_data, device_data, M: int, N: int, D: int, B, gamma: float, *,
                   loss_fn=None, eval_samples: int = 500, every: int = 1, seed: int = 0,
                   progress: bool = True) -> GradientTrace:
    """Train ``model`` (in place) by the two-stage SGD and measure the full-gradient norm as it goes.

    Pre-training, eq. (3): M steps with batches of ``D`` samples drawn from ``server_data``.
    Fine-tuning, eqs. (7)-(9): N rounds in which device k draws ``B[k]`` samples of
    ``device_data[k]`` (a list of K datasets); the weighted average (8) of the devices'
    mean-loss gradients is the mean-loss gradient of the union of their batches, which is what
    is computed.  Every ``every`` rounds the squared norm of the gradient of the stage's
    loss is measured on a fixed subsample of at most ``eval_samples`` points (of D, or of the
    union of the devices' data).  The rounds and batch draws are those of
    :func:`edgelearn.sgd.two_stage`, the loop :func:`edgelearn.train.run` also uses; this is a
    measurement tool, :func:`edgelearn.train.run` is the trainer with the simulated clock.
    """
    import torch

    from .sgd import two_stage
    if gamma <= 0:
        raise ValueError(f"gamma = {gamma}: must be > 0")
    for name, v in (("M", M), ("N", N), ("D", D), ("every", every)):
        _check_positive_int(name, v, low=0 if name in ("M", "N") else 1)
    if M + N < 1:
        raise ValueError(f"M = {M}, N = {N}: need M + N >= 1")
    if not isinstance(device_data, list):
        device_data = [device_data]          # one dataset: a single device (pass a list for K devices)
    B = np.broadcast_to(np.asarray(B, int), (len(device_data),))
    Xs, ys, _ = _torch_data(server_data, None, seed, model)
    devs = [_torch_data(d, None, seed, model)[:2] for d in device_data]
    XB, yB = torch.cat([d[0] for d in devs]), torch.cat([d[1] for d in devs])
    rng = np.random.default_rng(seed)
    iS = _subsample(len(Xs), eval_samples, rng)
    iB = _subsample(len(XB), eval_samples, rng)
    evalS, evalB = (Xs[iS], ys[iS]), (XB[iB], yB[iB])
    lf = loss_fn or torch.nn.functional.cross_entropy
    params = [p for p in model.parameters() if p.requires_grad]

    def grad_norm2(X, y):
        model.zero_grad()
        loss = lf(model(X), y)
        loss.backward()
        return float(sum((p.grad.double() ** 2).sum() for p in params)), float(loss.detach())

    rounds, g2, losses = [], [], []

    def before(r):
        if r % every == 0:
            a, l = grad_norm2(*(evalS if r < M else evalB))
            rounds.append(r), g2.append(a), losses.append(l)

    def sgd_step(X, y):
        model.zero_grad()
        lf(model(X), y).backward()
        with torch.no_grad():
            for p in params:
                p -= gamma * p.grad

    def pretrain(r, idx):                                                          # (3)
        idx = torch.as_tensor(idx)
        sgd_step(Xs[idx], ys[idx])

    def finetune(r, idxs, wts):                                                    # (7)-(9)
        # the weighted mean (8) of the devices' mean-loss gradients is the gradient of the
        # mean loss over the union of their batches
        picks = [torch.as_tensor(i) for i in idxs]
        sgd_step(torch.cat([x[i] for (x, _), i in zip(devs, picks)]),
                 torch.cat([t[i] for (_, t), i in zip(devs, picks)]))

    two_stage(np.full(M, D), np.tile(B, (N, 1)), len(Xs), [len(x) for x, _ in devs], pretrain, finetune,
              rng=rng, before=before, progress=progress)
    model.zero_grad()
    return GradientTrace(M, N, np.array(rounds), np.array(g2), np.array(losses), model)
