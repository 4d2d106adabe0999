"""The two-stage SGD loop of the paper, written once for every trainer.

Pre-training round m (eq. 3): the server draws a mini-batch of D^(m) samples of its data and
takes one SGD step.  Fine-tuning round n (eqs. 7-9): device k draws B_k^(n) samples of its
data and computes the gradient of its mean loss; the server averages the K gradients with the
weights B_k^(n) / B_tot^(n) and takes one step.

:func:`two_stage` owns the round order, the batch draws and the aggregation weights; the
caller supplies the arithmetic (a numpy model in :mod:`edgelearn.exact`, a torch model in
:mod:`edgelearn.train` and :mod:`edgelearn.estimate`).  Every batch is drawn *with*
replacement, i.i.d. uniform over the stage's data, so a mini-batch gradient is an unbiased
estimate of the full gradient whose variance is the per-sample variance over the batch size:
the assumption behind eqs. (27)-(29) of Theorem 3.1.  This module needs only numpy.
"""
from __future__ import annotations

import numpy as np

__all__ = ["draw", "two_stage", "weights"]


def draw(rng: np.random.Generator, n: int, b: int) -> np.ndarray:
    """``b`` sample indices out of ``n``, i.i.d. uniform (with replacement)."""
    if n < 1 or b < 1:
        raise ValueError(f"draw: need n >= 1 samples and a batch b >= 1, got n = {n}, b = {b}")
    return rng.integers(0, n, size=int(b))


def weights(B_round) -> np.ndarray:
    """The FedSGD aggregation weights B_k / B_tot of one round (eq. 8)."""
    B_round = np.asarray(B_round, float)
    return B_round / B_round.sum()


def two_stage(D, B, n_server: int, n_devices, pretrain, finetune, *, rng: np.random.Generator,
              before=None, after=None, progress: bool = False, desc: str = "two-stage SGD"):
    """Run M = len(D) pre-training rounds, then N = len(B) fine-tuning rounds.

    ``D``: M batch sizes; ``B``: an (N, K) array of device batch sizes; ``n_server``: the
    server's number of samples; ``n_devices``: the K devices' numbers of samples.
    ``pretrain(r, idx)`` takes the step of eq. (3) on the server samples ``idx``;
    ``finetune(r, idxs, w)`` the FedSGD round of eqs. (7)-(9) on the K index arrays ``idxs``
    with the weights ``w`` of eq. (8).  Both return the round's loss (or None).
    ``before(r)`` runs before round r draws its batch (a measurement of w^(r)), ``after(r,
    loss)`` after its step.  Returns the M + N losses as an array (nan where a step returned
    None).
    """
    from tqdm.auto import tqdm

    D = np.asarray(D, int).reshape(-1)
    M = len(D)
    B = np.asarray(B, int).reshape(-1, len(n_devices)) if np.size(B) else np.zeros((0, len(n_devices)), int)
    N = len(B)
    losses = np.full(M + N, np.nan)
    bar = tqdm(total=M + N, desc=desc, disable=not progress, unit="round", leave=False)
    try:
        for r in range(M + N):
            if before is not None:
                before(r)
            if r < M:
                loss = pretrain(r, draw(rng, n_server, D[r]))
            else:
                Bn = B[r - M]
                loss = finetune(r, [draw(rng, n, b) for n, b in zip(n_devices, Bn)], weights(Bn))
            if loss is not None:
                losses[r] = loss
            if after is not None:
                after(r, losses[r])
            bar.update(1)
    finally:
        bar.close()
    return losses
