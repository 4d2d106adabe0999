"""System model: wireless rates (12)-(13), delay (14)-(16) and energy (17)-(21).

Every function is vectorised with numpy: per-round quantities come as arrays of
shape (M,) for pre-training and (N, K) for fine-tuning (rounds x devices).
:func:`breakdown` collects them all for one :class:`~edgelearn.Plan`.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .plan import distinct_rows

__all__ = [
    "channel_gains", "uplink_rate", "downlink_rate",
    "pretrain_delay", "pretrain_energy",
    "download_time", "compute_time", "upload_time", "round_delay",
    "compute_energy", "upload_energy", "broadcast_energy",
    "Breakdown", "breakdown",
]


def channel_gains(scenario, N: int | None = None):
    """Uplink and downlink gains as arrays of shape (N, K) (or (K,) when ``N`` is None).

    Channels fixed over rounds (shape (K,)) are repeated; per-round channels
    (shape (R, K)) give their first ``N`` rows, and ``N > R`` is an error.
    """
    out = []
    for name in ("g_up", "g_down"):
        g = getattr(scenario, name)
        if N is None:
            if g.ndim == 2:
                raise ValueError(f"Scenario.{name} has one row per round; pass the number of rounds N")
            out.append(g)
        elif g.ndim == 1:
            out.append(np.broadcast_to(g, (N, scenario.K)))
        elif N > g.shape[0]:
            raise ValueError(
                f"Scenario.{name} describes {g.shape[0]} fine-tuning rounds but the plan has N = {N}: "
                f"N must be <= {g.shape[0]}")
        else:
            out.append(g[:N])
    return tuple(out)


def uplink_rate(scenario, p, g_up=None):
    """Achievable uplink rate r_k^(n),u in bit/s, eq. (12).

    r = W_k^u log2(1 + g p / (W_k^u N_0)); ``p`` in W, shape (..., K).
    """
    g = scenario.g_up if g_up is None else g_up
    W = scenario.W_up
    return W * np.log2(1.0 + g * np.asarray(p, float) / (W * scenario.N0))


def downlink_rate(scenario, g_down=None):
    """Downlink (broadcast) rate r_k^(n),d in bit/s, eq. (13)."""
    g = scenario.g_down if g_down is None else g_down
    Wd = scenario.W_down
    return Wd * np.log2(1.0 + g * scenario.P_server / (Wd * scenario.N0_down))


def pretrain_delay(scenario, D, f):
    """Compute time of pre-training rounds, D N_FLOP / (f c) in s: the terms of eq. (14)."""
    return np.asarray(D, float) * scenario.n_flop / (np.asarray(f, float) * scenario.c)


def pretrain_energy(scenario, D, f):
    """Energy of pre-training rounds, eta D N_FLOP phi f^2 / c in J: the terms of eq. (17)."""
    f = np.asarray(f, float)
    return scenario.eta * np.asarray(D, float) * scenario.n_flop / scenario.c * scenario.phi * f**2


def download_time(scenario, g_down=None):
    """Model download time beta / r_k^(n),d in s (Section II-D), shape (..., K)."""
    return scenario.beta / downlink_rate(scenario, g_down)


def compute_time(scenario, B, f_hat):
    """Local gradient computation time of device k, B N_FLOP / (f-hat c-hat) in s, eq. (15)."""
    return np.asarray(B, float) * scenario.n_flop / (np.asarray(f_hat, float) * scenario.c_hat)


def upload_time(scenario, p, g_up=None):
    """Gradient upload time beta / r_k^(n),u(p) in s (Section II-D)."""
    return scenario.beta / uplink_rate(scenario, p, g_up)


def round_delay(scenario, B, f_hat, p, g_up=None, g_down=None):
    """Delay of fine-tuning rounds, max_k (download + compute + upload) in s: the terms of eq. (16).

    ``B``, ``f_hat``, ``p`` have shape (..., K); the result drops the device axis.
    """
    per_device = download_time(scenario, g_down) + compute_time(scenario, B, f_hat) + upload_time(scenario, p, g_up)
    return per_device.max(axis=-1)


def compute_energy(scenario, B, f_hat):
    """Local computation energy of device k, eta-hat B N_FLOP phi-hat f-hat^2 / c-hat in J, eq. (18)."""
    f_hat = np.asarray(f_hat, float)
    return scenario.eta_hat * np.asarray(B, float) * scenario.n_flop / scenario.c_hat * scenario.phi_hat * f_hat**2


def upload_energy(scenario, p, g_up=None):
    """Gradient upload energy p beta / r_k^(n),u(p) in J, eq. (19)."""
    return np.asarray(p, float) * upload_time(scenario, p, g_up)


def broadcast_energy(scenario, g_down=None):
    """Server energy for broadcasting the model, P-tilde max_k beta / r_k^(n),d in J, eq. (20)."""
    return scenario.P_server * download_time(scenario, g_down).max(axis=-1)


@dataclass(frozen=True)
class Breakdown:
    """Where the seconds and joules of a plan go, per round and per device.

    Pre-training arrays have shape (M,); fine-tuning arrays (N, K) per device or
    (N,) per round.  Totals are floats in s and J.
    """

    pretrain_delay: np.ndarray      # (M,) eq. (14) terms
    pretrain_energy: np.ndarray     # (M,) eq. (17) terms
    download_time: np.ndarray       # (N, K)
    compute_time: np.ndarray        # (N, K) eq. (15)
    upload_time: np.ndarray         # (N, K)
    device_delay: np.ndarray        # (N, K) download + compute + upload
    finetune_delay: np.ndarray      # (N,) max over devices, eq. (16) terms
    straggler: np.ndarray           # (N,) index of the device that sets each round's delay
    broadcast_energy: np.ndarray    # (N,) eq. (20)
    compute_energy: np.ndarray      # (N, K) eq. (18)
    upload_energy: np.ndarray       # (N, K) eq. (19)

    @property
    def finetune_energy(self) -> np.ndarray:
        """Energy of each fine-tuning round (N,): broadcast + devices' compute and upload, eq. (21)."""
        (b, _), (c, _), (u, _) = (distinct_rows(a) for a in (self.broadcast_energy, self.compute_energy,
                                                            self.upload_energy))
        return np.broadcast_to(b + c.sum(axis=-1) + u.sum(axis=-1), self.broadcast_energy.shape)

    @property
    def pretrain_total_delay(self) -> float:
        return _total(self.pretrain_delay)

    @property
    def finetune_total_delay(self) -> float:
        return _total(self.finetune_delay)

    @property
    def pretrain_total_energy(self) -> float:
        return _total(self.pretrain_energy)

    @property
    def finetune_total_energy(self) -> float:
        return _total(self.finetune_energy)

    @property
    def total_delay(self) -> float:
        """The overall training delay tau-tilde of eq. (16), in s."""
        return self.pretrain_total_delay + self.finetune_total_delay

    @property
    def total_energy(self) -> float:
        """The overall energy E-tilde of eq. (21), in J."""
        return self.pretrain_total_energy + self.finetune_total_energy

    def cumulative(self):
        """Simulated clock time and energy at the end of every round, pre-training rounds first.

        Returns two arrays of length M + N (s and J), the running sums of (16) and (21).
        """
        t = np.cumsum(np.concatenate([self.pretrain_delay, self.finetune_delay]))
        e = np.cumsum(np.concatenate([self.pretrain_energy, self.finetune_energy]))
        return t, e


def _total(a) -> float:
    """Sum over rounds; a round-invariant array (a broadcast view) costs O(1), not O(rounds)."""
    rows, repeat = distinct_rows(a)
    return float(repeat * rows.sum()) if repeat > 1 else float(np.sum(rows))


def breakdown(scenario, plan) -> Breakdown:
    """Every delay and energy term of eqs. (14)-(21) for ``plan``.

    A round-invariant stage (see :class:`~edgelearn.Plan`) is computed once and its
    per-round arrays are read-only broadcast views, so the cost does not grow with M, N.
    """
    if plan.N and plan.K != scenario.K:
        raise ValueError(f"Plan has K = {plan.K} devices but the scenario has K = {scenario.K}")
    N, K = plan.N, scenario.K
    g_up, g_down = (distinct_rows(g)[0] for g in channel_gains(scenario, N))
    B, f_hat, p = (distinct_rows(a)[0] for a in (plan.B, plan.f_hat, plan.p))
    D, f = (distinct_rows(a)[0] for a in (plan.D, plan.f))
    down = download_time(scenario, g_down)
    comp = compute_time(scenario, B, f_hat)
    up = upload_time(scenario, p, g_up)
    dev = down + comp + up
    per_device = lambda a: np.broadcast_to(a, (N, K))  # noqa: E731
    per_round = lambda a: np.broadcast_to(a, (N,))  # noqa: E731
    pre = lambda a: np.broadcast_to(a, (plan.M,))  # noqa: E731
    return Breakdown(
        pretrain_delay=pre(pretrain_delay(scenario, D, f)),
        pretrain_energy=pre(pretrain_energy(scenario, D, f)),
        download_time=per_device(down),
        compute_time=per_device(comp),
        upload_time=per_device(up),
        device_delay=per_device(dev),
        finetune_delay=per_round(dev.max(axis=-1)) if N else np.zeros(0),
        straggler=per_round(dev.argmax(axis=-1)) if N else np.zeros(0, int),
        broadcast_energy=per_round(broadcast_energy(scenario, g_down)) if N else np.zeros(0),
        compute_energy=per_device(compute_energy(scenario, B, f_hat)),
        upload_energy=per_device(upload_energy(scenario, p, g_up)),
    )
