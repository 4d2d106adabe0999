"""A resource allocation of both stages: the decision variables of problem (P1)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Plan"]


def _array(name, value, shape):
    try:
        arr = np.array(np.broadcast_to(np.asarray(value, dtype=float), shape), dtype=float)
    except ValueError:
        raise ValueError(
            f"Plan.{name} has shape {np.shape(value)}: must have shape {shape} (or be broadcastable to it)"
        ) from None
    bad = ~np.isfinite(arr) | (arr <= 0)
    if bad.any():
        idx = tuple(int(i) for i in np.argwhere(bad)[0])
        raise ValueError(f"Plan.{name}[{', '.join(map(str, idx))}] = {arr[idx]:g}: must be finite and > 0")
    arr.setflags(write=False)
    return arr


@dataclass(frozen=True, eq=False)
class Plan:
    """Rounds, batch sizes, clocks and powers of both stages.

    ``M``, ``N``: pre-training and fine-tuning rounds.  Per-round arrays:
    ``D`` (M,) pre-training batch D~^(m), ``f`` (M,) server clock f^(m) in Hz,
    ``B`` (N, K) fine-tuning batch B~_k^(n), ``f_hat`` (N, K) device clock in Hz,
    ``p`` (N, K) uplink transmit power in W.  Batches may be fractional while a
    solver works; a plan to run on real data has whole batches
    (:attr:`integer_batches`).
    """

    M: int
    N: int
    D: np.ndarray
    f: np.ndarray
    B: np.ndarray
    f_hat: np.ndarray
    p: np.ndarray

    def __post_init__(self):
        for name in ("M", "N"):
            v = getattr(self, name)
            if isinstance(v, bool) or not float(v).is_integer() or v < 0:
                raise ValueError(f"Plan.{name} = {v!r}: must be a whole number >= 0")
            object.__setattr__(self, name, int(v))
        if self.M + self.N < 1:
            raise ValueError("Plan.M + Plan.N = 0: at least one round of training is needed")
        K = np.shape(self.B)[-1] if np.ndim(self.B) >= 1 else None
        if K is None:
            K = next((np.shape(a)[-1] for a in (self.f_hat, self.p) if np.ndim(a) >= 1), None)
        if K is None:
            raise ValueError("Plan: cannot tell the number of devices K; give B, f_hat or p with a device axis")
        object.__setattr__(self, "D", _array("D", self.D, (self.M,)))
        object.__setattr__(self, "f", _array("f", self.f, (self.M,)))
        for name in ("B", "f_hat", "p"):
            object.__setattr__(self, name, _array(name, getattr(self, name), (self.N, K)))

    @property
    def K(self) -> int:
        """Number of devices."""
        return self.B.shape[1]

    @property
    def integer_batches(self) -> bool:
        """True when every batch size is a whole number of samples."""
        return bool(np.all(self.D == np.round(self.D)) and np.all(self.B == np.round(self.B)))

    @property
    def round_invariant(self) -> bool:
        """True when every round of a stage uses the same values."""
        same = lambda a: a.shape[0] <= 1 or bool(np.all(a == a[:1]))  # noqa: E731
        return all(same(a) for a in (self.D, self.f, self.B, self.f_hat, self.p))

    @classmethod
    def uniform(cls, scenario, M: int, N: int, *, D=None, f=None, B=None, f_hat=None, p=None) -> "Plan":
        """The round-invariant plan: the same values in every round of a stage.

        ``B``, ``f_hat`` and ``p`` take a scalar or one value per device.  Values left
        out default to the largest the scenario allows (D^max, f^max, B_k^max,
        f-hat_k^max, P_k^ave; the average-power budget (10) is the binding one for a
        round-invariant power).
        """
        K = scenario.K
        D = scenario.D_max if D is None else D
        f = scenario.f_max if f is None else f
        B = scenario.B_max if B is None else B
        f_hat = scenario.f_hat_max if f_hat is None else f_hat
        p = np.minimum(scenario.P_ave, scenario.P_max) if p is None else p
        for name, v in (("B", B), ("f_hat", f_hat), ("p", p)):
            if np.ndim(v) > 1 or (np.ndim(v) == 1 and np.shape(v)[0] != K):
                raise ValueError(f"Plan.uniform: {name} has shape {np.shape(v)}: must be a number or have shape (K,) = ({K},)")
        if np.ndim(D) or np.ndim(f):
            raise ValueError("Plan.uniform: D and f must be single numbers (the same in every pre-training round)")
        row = lambda v: np.broadcast_to(np.asarray(v, float), (N, K))  # noqa: E731
        return cls(M=M, N=N, D=np.full(M, float(D)), f=np.full(M, float(f)), B=row(B), f_hat=row(f_hat), p=row(p))

    def replace(self, **changes) -> "Plan":
        """A validated copy with some fields changed."""
        values = dict(M=self.M, N=self.N, D=self.D, f=self.f, B=self.B, f_hat=self.f_hat, p=self.p)
        values.update(changes)
        return Plan(**values)

    def to_dict(self) -> dict:
        return dict(M=self.M, N=self.N, D=self.D.tolist(), f=self.f.tolist(), B=self.B.tolist(),
                    f_hat=self.f_hat.tolist(), p=self.p.tolist())

    def __eq__(self, other):
        if not isinstance(other, Plan):
            return NotImplemented
        return self.M == other.M and self.N == other.N and all(
            np.array_equal(getattr(self, k), getattr(other, k)) for k in ("D", "f", "B", "f_hat", "p"))

    def __repr__(self):
        def rng(a):
            if a.size == 0:
                return "-"
            lo, hi = float(a.min()), float(a.max())
            return f"{lo:.4g}" if lo == hi else f"{lo:.4g}..{hi:.4g}"

        return (f"Plan(M={self.M}, N={self.N}, D={rng(self.D)}, f={rng(self.f)} Hz, B={rng(self.B)}, "
                f"f_hat={rng(self.f_hat)} Hz, p={rng(self.p)} W)")
