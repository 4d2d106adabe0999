"""Type and range checks where input enters (Scenario, Plan): one error wording for all.

Every check names the field, the value given (and its type when the type is wrong)
and what is allowed, e.g. ``Scenario.gamma = '0.01' (str): must be a real number``.
Booleans are not numbers here.
"""
from __future__ import annotations

import numbers

import numpy as np

__all__ = ["InputTypeError", "MAX_DEVICES", "MAX_ROUNDS", "real", "whole", "real_array", "show"]

#: Largest number of devices K: per-device arrays have shape (K,), per-round ones (N, K).
MAX_DEVICES = 10**6
#: Largest number of rounds M or N (a round-invariant plan costs O(1) memory, so this is
#: set by exact integer arithmetic in float64, 2**53 ~ 9e15, with room to spare).
MAX_ROUNDS = 10**12


class InputTypeError(TypeError, ValueError):
    """A value of the wrong type (a string, None, a boolean, ...) where a number is needed.

    A :class:`TypeError`; also a :class:`ValueError`, so ``except ValueError`` around a
    constructor still catches every bad input.
    """


def show(value, limit: int = 60) -> str:
    """``repr(value)``, shortened, followed by its type when that is not obvious."""
    text = repr(value)
    if len(text) > limit:
        text = text[: limit - 3] + "..."
    return text


def _type_name(value) -> str:
    if isinstance(value, np.ndarray):
        return f"array of {value.dtype}"
    if isinstance(value, (list, tuple)):
        kinds = sorted({type(v).__name__ for v in np.asarray(value, dtype=object).reshape(-1)[:1000]})
        return f"{type(value).__name__} of {'/'.join(kinds) or 'nothing'}"
    return type(value).__name__


def _is_real_scalar(value) -> bool:
    if isinstance(value, (bool, np.bool_)):
        return False
    if isinstance(value, numbers.Real):
        return True
    return isinstance(value, np.ndarray) and value.ndim == 0 and value.dtype.kind in "iuf"


def real(name: str, value) -> float:
    """``value`` as a float; :class:`InputTypeError` unless it is a real number (not a bool)."""
    if not _is_real_scalar(value):
        raise InputTypeError(f"{name} = {show(value)} ({_type_name(value)}): must be a real number")
    try:
        return float(value)
    except OverflowError:
        raise ValueError(f"{name} = {show(value)}: must be finite (too large for a float64, max ~1.8e308)") from None


def whole(name: str, value, lo: int, hi: int) -> int:
    """``value`` as an int in [lo, hi]; whole floats (``3.0``, ``1e3``) are accepted."""
    if not _is_real_scalar(value):
        raise InputTypeError(f"{name} = {show(value)} ({_type_name(value)}): must be a whole number in [{lo}, {hi:,}]")
    if isinstance(value, (numbers.Integral, np.integer)) or (isinstance(value, np.ndarray) and value.dtype.kind in "iu"):
        v = int(value)
    else:
        x = float(value)
        if not np.isfinite(x) or not x.is_integer():
            raise ValueError(f"{name} = {show(value)}: must be a whole number in [{lo}, {hi:,}]")
        v = int(x)
    if not lo <= v <= hi:
        raise ValueError(f"{name} = {show(value)}: must be a whole number in [{lo}, {hi:,}]")
    return v


def real_array(name: str, value) -> np.ndarray:
    """``value`` as a float array; :class:`InputTypeError` unless every entry is a real number."""
    if _is_real_scalar(value):
        return np.asarray(real(name, value))
    if isinstance(value, (str, bytes, dict, set)) or value is None:
        raise InputTypeError(f"{name} = {show(value)} ({_type_name(value)}): must be a real number or an array "
                             f"of real numbers")
    try:
        arr = np.asarray(value)
    except (ValueError, TypeError):     # ragged nested lists and the like
        raise ValueError(f"{name} = {show(value)}: must be a real number or a rectangular array of real numbers "
                         f"(rows of equal length)") from None
    if arr.dtype.kind == "O":
        # lists of numbers mixed with numpy scalars: accept when every entry is a real number
        flat = arr.reshape(-1)
        i = next((i for i, v in enumerate(flat) if not _is_real_scalar(v) or isinstance(v, np.ndarray)), None)
        if i is not None:
            bad = flat[i]
            raise InputTypeError(f"{name} = {show(value)} ({_type_name(value)}): must be a real number or an "
                                 f"array of real numbers (found {show(bad, 20)}, a {type(bad).__name__})")
        try:
            return arr.astype(float)
        except OverflowError:
            raise ValueError(f"{name} = {show(value)}: every entry must be finite (one is too large for a "
                             f"float64, max ~1.8e308)") from None
    if arr.dtype.kind not in "iuf" and not (arr.size == 0 and arr.dtype.kind in "iufbO"):
        what = {"b": "booleans", "U": "strings", "S": "bytes", "c": "complex numbers", "M": "dates",
                "m": "time spans"}.get(arr.dtype.kind, arr.dtype.name)
        raise InputTypeError(f"{name} = {show(value)} ({_type_name(value)}): must be a real number or an array "
                             f"of real numbers, not of {what}")
    return arr.astype(float, copy=False)
