"""A resource allocation of both stages: the decision variables of problem (P1).

A stage whose rounds all use the same values (what the solver returns) is stored
once, so a plan of 10^9 rounds costs O(1) memory; ``Plan.D``, ``.f``, ``.B``,
``.f_hat`` and ``.p`` still have their per-round shapes ((M,), (N, K)) as read-only
broadcast views.  :func:`distinct_rows` gives the stored rows back, which is how the
system model and the bound compute on such plans without expanding them.
"""
from __future__ import annotations

import dataclasses

import numpy as np

from . import _validate as _v

__all__ = ["Plan", "distinct_rows"]

_STAGE = {"D": "M", "f": "M", "B": "N", "f_hat": "N", "p": "N"}


def distinct_rows(a):
    """``(rows, repeat)``: the rows of ``a`` (axis 0 = rounds) that are stored, and how often each repeats.

    For a round-invariant stage of a :class:`Plan` (a broadcast view) this is
    ``(a[:1], len(a))``; otherwise ``(a, 1)``.  A sum over rounds is
    ``repeat * rows.sum(axis=0)``.
    """
    a = np.asarray(a)
    if a.ndim and a.shape[0] > 1 and a.strides[0] == 0:
        return a[:1], a.shape[0]
    return a, 1


def _stage(name, value, rounds, K):
    """The stored rows of one per-round field: shape (1, ...) when round-invariant, else (rounds, ...)."""
    arr = _v.real_array(f"Plan.{name}", value)
    shape = (rounds,) if K is None else (rounds, K)
    try:
        ok = np.broadcast_shapes(arr.shape, shape) == shape
    except ValueError:
        ok = False
    if not ok:
        raise ValueError(f"Plan.{name} has shape {arr.shape}: must have shape {shape} (or be broadcastable to it)")
    if rounds == 0:
        block = np.zeros(shape)
    elif arr.ndim < len(shape) or arr.shape[0] == 1:            # one row for every round
        block = np.array(np.broadcast_to(arr, (1,) + shape[1:]), dtype=float)
    else:
        first = arr[:1]
        if arr.strides[0] == 0 or bool(np.all(arr == first)):  # a full array whose rows are all equal
            block = np.array(np.broadcast_to(first, (1,) + shape[1:]), dtype=float)
        else:
            block = np.array(np.broadcast_to(arr, shape), dtype=float)
    bad = ~np.isfinite(block) | (block <= 0)
    if bad.any():
        idx = tuple(int(i) for i in np.argwhere(bad)[0])
        raise ValueError(f"Plan.{name}[{', '.join(map(str, idx))}] = {block[idx]:g}: must be finite and > 0")
    block.setflags(write=False)
    return block


class Plan:
    """Rounds, batch sizes, clocks and powers of both stages.

    ``M``, ``N``: pre-training and fine-tuning rounds (whole numbers in
    [0, 10^12], ``M + N >= 1``).  Per-round arrays: ``D`` (M,) pre-training batch
    D~^(m), ``f`` (M,) server clock f^(m) in Hz, ``B`` (N, K) fine-tuning batch
    B~_k^(n), ``f_hat`` (N, K) device clock in Hz, ``p`` (N, K) uplink transmit power
    in W.  Each may be given in any shape that broadcasts to its per-round shape (a
    number for ``D``; one value per device, shape (K,), for ``B``): a stage whose rounds
    are all equal is stored once.  Batches may be fractional while a solver works; a
    plan to run on real data has whole batches (:attr:`integer_batches`).
    """

    __slots__ = ("M", "N", "_K", "_rows", "_views")

    def __init__(self, M, N, D, f, B, f_hat, p):
        M = _v.whole("Plan.M", M, 0, _v.MAX_ROUNDS)
        N = _v.whole("Plan.N", N, 0, _v.MAX_ROUNDS)
        if M + N < 1:
            raise ValueError("Plan.M + Plan.N = 0: at least one round of training is needed")
        given = dict(D=D, f=f, B=B, f_hat=f_hat, p=p)
        shapes = {k: np.shape(_v.real_array(f"Plan.{k}", given[k])) for k in ("B", "f_hat", "p")}
        axes = {k: shapes[k][-1] for k in ("B", "f_hat", "p") if len(shapes[k]) >= 1}
        if not axes:
            raise ValueError("Plan: cannot tell the number of devices K; give B, f_hat or p with a device axis")
        K = max(axes.values())
        if any(n not in (1, K) for n in axes.values()):
            raise ValueError("Plan: B, f_hat and p disagree on the number of devices (their last axis): "
                             + ", ".join(f"Plan.{k} has shape {shapes[k]}" for k in axes))
        if not 1 <= K <= _v.MAX_DEVICES:
            raise ValueError(f"Plan: the device axis of B, f_hat, p has length {K}: must be in [1, {_v.MAX_DEVICES:,}]")
        rows = {k: _stage(k, given[k], M if _STAGE[k] == "M" else N, None if _STAGE[k] == "M" else K)
                for k in ("D", "f", "B", "f_hat", "p")}
        views = {}
        for k, r in rows.items():
            shape = (M,) if _STAGE[k] == "M" else (N, K)
            views[k] = r if r.shape == shape else np.broadcast_to(r, shape)
        set_ = object.__setattr__
        set_(self, "M", M)
        set_(self, "N", N)
        set_(self, "_K", int(K))
        set_(self, "_rows", rows)
        set_(self, "_views", views)

    # ---------------------------------------------------------------- per-round views (public API)
    @property
    def D(self) -> np.ndarray:
        """Pre-training batch D~^(m) of every round, shape (M,) (read-only)."""
        return self._views["D"]

    @property
    def f(self) -> np.ndarray:
        """Server clock f^(m) of every pre-training round in Hz, shape (M,) (read-only)."""
        return self._views["f"]

    @property
    def B(self) -> np.ndarray:
        """Fine-tuning batch B~_k^(n), shape (N, K) (read-only)."""
        return self._views["B"]

    @property
    def f_hat(self) -> np.ndarray:
        """Device clock f-hat_k^(n) in Hz, shape (N, K) (read-only)."""
        return self._views["f_hat"]

    @property
    def p(self) -> np.ndarray:
        """Uplink transmit power p_k^(n) in W, shape (N, K) (read-only)."""
        return self._views["p"]

    def __setattr__(self, name, value):
        raise dataclasses.FrozenInstanceError(f"cannot assign to field {name!r}: a Plan is frozen; use replace()")

    __delattr__ = __setattr__

    # ---------------------------------------------------------------- properties
    @property
    def K(self) -> int:
        """Number of devices."""
        return self._K

    @property
    def compact(self) -> bool:
        """True when every stage is stored as one row (memory O(K), whatever M and N)."""
        return all(r.shape[0] <= 1 for r in self._rows.values())

    @property
    def integer_batches(self) -> bool:
        """True when every batch size is a whole number of samples."""
        return all(bool(np.all(self._rows[k] == np.round(self._rows[k]))) for k in ("D", "B"))

    @property
    def round_invariant(self) -> bool:
        """True when every round of a stage uses the same values."""
        return self.compact    # the constructor stores any stage whose rounds are all equal as one row

    # ---------------------------------------------------------------- constructors
    @classmethod
    def uniform(cls, scenario, M: int, N: int, *, D=None, f=None, B=None, f_hat=None, p=None) -> "Plan":
        """The round-invariant plan: the same values in every round of a stage, stored once (O(1) in M, N).

        ``B``, ``f_hat`` and ``p`` take a scalar or one value per device.  Values left
        out default to the largest the scenario allows (D^max, f^max, B_k^max,
        f-hat_k^max, P_k^ave; the average-power budget (10) is the binding one for a
        round-invariant power).
        """
        from .scenario import Scenario

        if not isinstance(scenario, Scenario):
            raise _v.InputTypeError(f"Plan.uniform: scenario = {_v.show(scenario)} ({type(scenario).__name__}): "
                                    f"must be a Scenario")
        K = scenario.K
        M = _v.whole("Plan.M", M, 0, _v.MAX_ROUNDS)
        N = _v.whole("Plan.N", N, 0, _v.MAX_ROUNDS)
        values = dict(D=scenario.D_max if D is None else D, f=scenario.f_max if f is None else f,
                      B=scenario.B_max if B is None else B, f_hat=scenario.f_hat_max if f_hat is None else f_hat,
                      p=np.minimum(scenario.P_ave, scenario.P_max) if p is None else p)
        for name in ("D", "f"):
            if np.ndim(_v.real_array(f"Plan.{name}", values[name])) != 0:
                raise ValueError(f"Plan.uniform: {name} has shape {np.shape(values[name])}: must be a single number "
                                 f"(the same in every pre-training round)")
        for name in ("B", "f_hat", "p"):
            v = _v.real_array(f"Plan.{name}", values[name])
            if v.ndim > 1 or (v.ndim == 1 and v.shape[0] != K):
                raise ValueError(f"Plan.uniform: {name} has shape {v.shape}: must be a number or have shape "
                                 f"(K,) = ({K},)")
            values[name] = np.broadcast_to(v, (K,))
        return cls(M=M, N=N, **values)

    def replace(self, **changes) -> "Plan":
        """A validated copy with some fields changed (a round-invariant stage keeps its one row)."""
        unknown = set(changes) - {"M", "N", *_STAGE}
        if unknown:
            raise ValueError(f"Plan has no field(s) {sorted(unknown)}; fields are M, N, D, f, B, f_hat, p")
        values = dict(M=self.M, N=self.N, **self._rows)
        values.update(changes)
        return Plan(**values)

    def to_dict(self, compact: bool = False) -> dict:
        """Plain-Python copy (lists).  ``compact=True``: a round-invariant stage as its one row (``D`` a
        number, ``B`` one value per device), which ``Plan(**d)`` reads back."""
        out = dict(M=self.M, N=self.N)
        for k, r in self._rows.items():
            if compact and r.shape[0] == 1:
                out[k] = float(r[0]) if _STAGE[k] == "M" else r[0].tolist()
            else:
                out[k] = self._views[k].tolist()
        return out

    # ---------------------------------------------------------------- dunder
    def __reduce__(self):
        return (Plan, (self.M, self.N, *(self._rows[k] for k in ("D", "f", "B", "f_hat", "p"))))

    def __eq__(self, other):
        if not isinstance(other, Plan):
            return NotImplemented
        # equal plans have equal stored rows: a stage is stored as one row exactly when its rounds are equal
        return (self.M, self.N, self.K) == (other.M, other.N, other.K) and all(
            np.array_equal(self._rows[k], other._rows[k]) for k in _STAGE)

    __hash__ = None

    def __repr__(self):
        def rng(a):
            if a.size == 0:
                return "-"
            lo, hi = float(a.min()), float(a.max())
            return f"{lo:.4g}" if lo == hi else f"{lo:.4g}..{hi:.4g}"

        r = self._rows
        return (f"Plan(M={self.M}, N={self.N}, D={rng(r['D'])}, f={rng(r['f'])} Hz, B={rng(r['B'])}, "
                f"f_hat={rng(r['f_hat'])} Hz, p={rng(r['p'])} W)")
