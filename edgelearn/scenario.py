"""System and learning parameters of the two-stage edge learning system.

A :class:`Scenario` holds every constant that the system model (eqs. 12-21)
and the convergence bound (eq. 34) of Lyu et al. (2024) need.  It is frozen:
change a value with :meth:`Scenario.replace`, which validates the copy.
"""
from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from . import _validate as _v

__all__ = ["Scenario"]

# kind of each field: "int", "scalar", "device" (one value per device, shape (K,)),
# "channel" (a scalar or shape (K,) fixed over rounds, or (N, K) one row per fine-tuning round).
# lower: the allowed range, as (bound, strict).  unit: printed in errors and tables.
_SPEC: dict[str, dict[str, Any]] = {}


def _f(kind, symbol, unit, doc, lower=(0.0, True), upper=None):
    return field(metadata=dict(kind=kind, symbol=symbol, unit=unit, doc=doc, lower=lower, upper=upper))


@dataclass(frozen=True, eq=False)
class Scenario:
    """Every constant of the system model (12)-(21) and of the bound (34).

    Per-device fields accept a scalar (the same for every device) or an array of
    length ``K``.  Channel gains accept a scalar or shape ``(K,)`` (fixed over rounds, as
    in the paper's experiments) or ``(N, K)`` (one row per fine-tuning round).
    Every value must be a real number (not a string, None or a bool: those raise a
    ``TypeError`` naming the field); ``K`` is a whole number in [1, 10^6].
    """

    # --- population and learning rate
    K: int = _f("int", "K", "", "number of edge devices", lower=(1, False))
    gamma: float = _f("scalar", "gamma = gamma-hat", "", "learning rate of both stages, eqs. (3), (9)")
    # --- edge server (pre-training)
    f_max: float = _f("scalar", "f^max", "Hz", "maximum clock frequency of the server, (35c)")
    c: float = _f("scalar", "c", "FLOP/cycle", "FLOPs per clock cycle of the server, (14)")
    phi: float = _f("scalar", "phi", "W/(cycle/s)^3", "power coefficient of the server's chip, (17)")
    eta: float = _f("scalar", "eta", "", "power usage effectiveness (PUE) of the server, (17)", lower=(1.0, False))
    D_max: float = _f("scalar", "D^max", "samples", "largest pre-training batch, (35a)", lower=(1.0, False))
    P_server: float = _f("scalar", "P-tilde", "W", "transmit power of the server (model broadcast), (13), (20)")
    # --- devices (fine-tuning), one value per device
    f_hat_max: np.ndarray = _f("device", "f-hat_k^max", "Hz", "maximum clock frequency of device k, (35d)")
    c_hat: np.ndarray = _f("device", "c-hat_k", "FLOP/cycle", "FLOPs per clock cycle of device k, (15)")
    phi_hat: np.ndarray = _f("device", "phi-hat_k", "W/(cycle/s)^3", "power coefficient of device k's chip, (18)")
    eta_hat: np.ndarray = _f("device", "eta-hat_k", "", "PUE of device k, (18)", lower=(1.0, False))
    B_max: np.ndarray = _f("device", "B_k^max", "samples", "largest fine-tuning batch of device k, (35b)", lower=(1.0, False))
    P_ave: np.ndarray = _f("device", "P_k^ave", "W", "average transmit-power budget of device k, (10)")
    P_max: np.ndarray = _f("device", "P_k^max", "W", "peak transmit-power budget of device k, (11)")
    W_up: np.ndarray = _f("device", "W_k^u", "Hz", "uplink bandwidth of device k, (12)")
    # --- wireless links
    W_down: float = _f("scalar", "W^d", "Hz", "downlink (broadcast) bandwidth, (13)")
    N0: float = _f("scalar", "N_0", "W/Hz", "noise PSD at the server's receiver, (12)")
    N0_down: np.ndarray = _f("device", "N-tilde_0,k", "W/Hz", "noise PSD at device k's receiver, (13)")
    g_up: np.ndarray = _f("channel", "g_k^(n),u", "", "uplink channel power gain, (12)")
    g_down: np.ndarray = _f("channel", "g_k^(n),d", "", "downlink channel power gain, (13)")
    # --- the model
    beta: float = _f("scalar", "beta", "bit", "size of the model / gradient message, (16), (19)")
    n_flop: float = _f("scalar", "N_FLOP", "FLOP", "FLOPs to compute the gradient of one sample, (14), (15)")
    # --- budgets
    tau0: float = _f("scalar", "tau-tilde_0", "s", "total training-delay budget, (35e)")
    E0: float = _f("scalar", "E-tilde_0", "J", "total energy budget, (35f)")
    # --- learning constants of Theorem 3.1
    rho: float = _f("scalar", "rho", "", "smoothness of the pre-training loss, Assumption 2 (22)")
    rho_hat: float = _f("scalar", "rho-hat", "", "smoothness of the fine-tuning loss, Assumption 2 (23)")
    alpha2: float = _f("scalar", "alpha^2", "", "per-sample gradient variance, pre-training, Assumption 3 (28)", lower=(0.0, False))
    alpha_hat2: float = _f("scalar", "alpha-hat^2", "", "per-sample gradient variance, fine-tuning, Assumption 3 (29)", lower=(0.0, False))
    rho_tilde: float = _f("scalar", "rho-tilde", "", "Lipschitz constant of the loss in the data sample, Assumption 4 (30)", lower=(0.0, False))
    wasserstein: float = _f("scalar", "W(P-hat, P)", "", "Wasserstein distance between the two data distributions, Definition 1 (31)", lower=(0.0, False))
    loss_gap: float = _f("scalar", "L(w0, D) - L_inf", "", "initial loss gap, Theorem 3.1 (34)", lower=(0.0, False))

    # ------------------------------------------------------------------ validation
    def __post_init__(self):
        for f in dataclasses.fields(self):
            object.__setattr__(self, f.name, self._check(f, getattr(self, f.name)))
        limit = min(1.0 / self.rho, 1.0 / self.rho_hat)
        if self.gamma > limit * (1 + 1e-12):
            raise ValueError(
                f"Scenario.gamma = {self.gamma:g}: must be <= min(1/rho, 1/rho_hat) = {limit:g} "
                f"(Theorem 3.1; rho = {self.rho:g}, rho_hat = {self.rho_hat:g})"
            )

    def _check(self, f: dataclasses.Field, value):
        meta = f.metadata
        kind, unit = meta["kind"], (" " + meta["unit"] if meta["unit"] else "")
        name = f"Scenario.{f.name}"
        if kind == "int":
            return _v.whole(name, value, meta["lower"][0], _v.MAX_DEVICES)
        if kind == "scalar":
            if isinstance(value, (list, tuple, np.ndarray)) and np.ndim(_v.real_array(name, value)) != 0:
                raise ValueError(f"{name} has shape {np.shape(value)}: must be a single number")
            arr = np.asarray(_v.real(name, value))
        else:
            arr = np.array(_v.real_array(name, value), dtype=float)
        if kind == "device":
            if arr.ndim == 0:
                arr = np.full(self.K, float(arr))
            if arr.shape != (self.K,):
                raise ValueError(f"{name} has shape {arr.shape}: must be a number or have shape (K,) = ({self.K},)")
        elif kind == "channel":
            if arr.ndim == 0:                           # one gain for every device, fixed over rounds
                arr = np.full(self.K, float(arr))
            if arr.shape[-1] != self.K or arr.ndim > 2 or (arr.ndim == 2 and arr.shape[0] < 1):
                raise ValueError(
                    f"{name} has shape {arr.shape}: must have shape (K,) = ({self.K},) for channels fixed "
                    f"over rounds, or (N, K) = (N, {self.K}) for one row per fine-tuning round"
                )
        bound, strict = meta["lower"]
        bad = ~np.isfinite(arr) | ((arr <= bound) if strict else (arr < bound))
        if bad.any():
            idx = np.unravel_index(int(np.argmax(bad)), arr.shape)
            where = name if arr.ndim == 0 else f"{name}[{', '.join(map(str, idx))}]"
            v = float(arr[idx])
            if not np.isfinite(v):
                raise ValueError(f"{where} = {v}{unit}: must be finite")
            raise ValueError(f"{where} = {v:g}{unit}: must be {'>' if strict else '>='} {bound:g}")
        if arr.ndim == 0:
            return float(arr)
        arr.setflags(write=False)
        return arr

    # ------------------------------------------------------------------ helpers
    def replace(self, **changes) -> "Scenario":
        """A validated copy with some fields changed, e.g. ``s.replace(E0=250)``."""
        unknown = set(changes) - {f.name for f in dataclasses.fields(self)}
        if unknown:
            raise ValueError(f"Scenario has no field(s) {sorted(unknown)}; fields are {self.field_names()}")
        return dataclasses.replace(self, **changes)

    @classmethod
    def field_names(cls) -> list[str]:
        return [f.name for f in dataclasses.fields(cls)]

    @classmethod
    def describe(cls) -> list[dict[str, str]]:
        """One row per field: name, paper symbol, unit and meaning (the book's notation table)."""
        return [
            dict(field=f.name, symbol=f.metadata["symbol"], unit=f.metadata["unit"], meaning=f.metadata["doc"])
            for f in dataclasses.fields(cls)
        ]

    @property
    def per_round_channels(self) -> bool:
        """True when ``g_up`` or ``g_down`` gives one row per fine-tuning round."""
        return self.g_up.ndim == 2 or self.g_down.ndim == 2

    @property
    def max_channel_rounds(self) -> float:
        """How many fine-tuning rounds the channel arrays describe (inf when fixed over rounds)."""
        rows = [g.shape[0] for g in (self.g_up, self.g_down) if g.ndim == 2]
        return float(min(rows)) if rows else float("inf")

    def to_dict(self) -> dict[str, Any]:
        """Plain-Python copy of every field (arrays as lists), e.g. for JSON."""
        return {k: (v.tolist() if isinstance(v, np.ndarray) else v) for k, v in self._items()}

    def _items(self):
        return ((f.name, getattr(self, f.name)) for f in dataclasses.fields(self))

    def digest(self) -> str:
        """A stable hash of every value (used to key on-disk caches)."""
        h = hashlib.sha256()
        for k, v in self._items():
            h.update(k.encode())
            h.update(np.asarray(v, dtype=float).tobytes() + str(np.shape(v)).encode())
        return h.hexdigest()

    def __eq__(self, other):
        if not isinstance(other, Scenario):
            return NotImplemented
        return all(np.array_equal(a, b) for (_, a), (_, b) in zip(self._items(), other._items()))

    def __hash__(self):
        return hash(self.digest())

    def __repr__(self):
        def fmt(v):
            if isinstance(v, np.ndarray):
                if v.size <= 4:
                    return "[" + ", ".join(f"{x:.4g}" for x in v.reshape(-1)) + "]"
                return f"array{v.shape}"
            return f"{v:.4g}" if isinstance(v, float) else repr(v)

        return "Scenario(" + ", ".join(f"{k}={fmt(v)}" for k, v in self._items()) + ")"
