"""Evaluate a plan: the bound (34), delay and energy per stage, and every constraint of (P1)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import bound as _bound
from . import system as _system
from ._validate import InputTypeError, show
from .plan import distinct_rows

__all__ = ["Constraint", "Report", "evaluate", "FEASIBILITY_RTOL"]

#: A constraint counts as met when it is violated by at most this fraction of its limit
#: (numerical solvers stop at ~1e-8 relative accuracy).
FEASIBILITY_RTOL = 1e-7


@dataclass(frozen=True)
class Constraint:
    """One constraint of (P1) written as ``value <= limit`` (or ``value >= limit`` when ``lower``)."""

    name: str
    equation: str
    value: float
    limit: float
    unit: str
    lower: bool = False

    @property
    def slack(self) -> float:
        """How far inside the constraint the plan is (negative: violated), in ``unit``."""
        return (self.value - self.limit) if self.lower else (self.limit - self.value)

    @property
    def met(self) -> bool:
        """Within :data:`FEASIBILITY_RTOL` of the limit; a value that is not a finite number never meets it."""
        if not (np.isfinite(self.value) and np.isfinite(self.limit)):
            return False
        return self.slack >= -FEASIBILITY_RTOL * max(abs(self.limit), 1e-300)


@dataclass(frozen=True)
class Report:
    """What :func:`evaluate` finds.  ``bound``, ``delay``, ``energy``, ``feasible`` are public API."""

    scenario: object
    plan: object
    terms: _bound.BoundTerms
    breakdown: _system.Breakdown
    constraints: tuple
    #: What went wrong in float64 arithmetic (overflow, an infinite or NaN result), one sentence each;
    #: empty when every number is finite and no operation overflowed.
    numerics: tuple = ()

    @property
    def bound(self) -> float:
        """Upsilon of (34)."""
        return self.terms.total

    @property
    def delay(self) -> float:
        """Total training delay (16), s."""
        with np.errstate(all="ignore"):     # an overflow here is explained in ``numerics``
            return self.breakdown.total_delay

    @property
    def energy(self) -> float:
        """Total energy (21), J."""
        with np.errstate(all="ignore"):
            return self.breakdown.total_energy

    @property
    def feasible(self) -> bool:
        """True when every constraint of (P1) is met (batch integrality is reported separately).

        A plan whose delay, energy or bound is NaN is never feasible (see :attr:`why`).
        """
        return all(c.met for c in self.constraints) and not np.isnan(self.bound)

    @property
    def why(self) -> str:
        """Why the plan is not feasible (empty when it is): each violated constraint by how much,
        and the float64 overflow or infinite/NaN value that decided it, if one did."""
        if self.feasible:
            return ""
        parts = []
        for c in self.violated:
            rel = ">=" if c.lower else "<="
            if np.isfinite(c.value):
                parts.append(f"{c.name} {c.equation}: {c.value:.6g} {c.unit} is not {rel} {c.limit:.6g} {c.unit} "
                             f"(by {-c.slack:.6g} {c.unit})".replace("  ", " "))
            else:
                parts.append(f"{c.name} {c.equation}: the value is {c.value} {c.unit}, not a finite number, so it "
                             f"cannot meet the limit {c.limit:.6g} {c.unit}".replace("  ", " "))
        if np.isnan(self.bound):
            parts.append("the bound Upsilon (34) is NaN")
        return "; ".join(parts) + (". " + " ".join(self.numerics) if self.numerics else "")

    @property
    def violated(self) -> list:
        return [c for c in self.constraints if not c.met]

    @property
    def slack(self) -> dict:
        """Slack of every constraint by name (>= 0 when met)."""
        return {c.name: c.slack for c in self.constraints}

    def __str__(self):
        with np.errstate(all="ignore"):     # float64 trouble is explained in the last lines, not warned
            return self._table()

    def _table(self):
        p, b = self.plan, self.breakdown
        t = self.terms
        lines = [
            f"Plan: M = {p.M} pre-training rounds, N = {p.N} fine-tuning rounds, "
            f"{'whole' if p.integer_batches else 'fractional'} batches",
            "",
            f"  bound Upsilon (34)          {self.bound:12.6g}",
            f"    pre-training variance     {t.pretrain_variance:12.6g}",
            f"    fine-tuning variance      {t.finetune_variance:12.6g}",
            f"    distribution shift        {t.shift:12.6g}",
            f"    initial loss gap          {t.initial_gap:12.6g}",
            "",
            f"  {'':26s}{'delay (s)':>12s}{'energy (J)':>12s}",
            f"  {'pre-training':26s}{b.pretrain_total_delay:12.6g}{b.pretrain_total_energy:12.6g}",
            f"  {'fine-tuning':26s}{b.finetune_total_delay:12.6g}{b.finetune_total_energy:12.6g}",
            f"  {'total':26s}{self.delay:12.6g}{self.energy:12.6g}",
            "",
            f"  {'constraint':30s}{'value':>12s}{'limit':>12s}{'slack':>12s}  unit",
        ]
        for c in self.constraints:
            flag = "" if c.met else "  VIOLATED"
            rel = ">=" if c.lower else "<="
            lines.append(f"  {c.name + ' ' + c.equation:30s}{c.value:12.6g}{rel}{c.limit:10.6g}{c.slack:12.4g}  {c.unit}{flag}")
        lines.append("")
        lines.append(f"  feasible: {self.feasible}")
        if not self.feasible:
            lines.append(f"  why: {self.why}")
        elif self.numerics:
            lines.append("  numerics: " + " ".join(self.numerics))
        return "\n".join(lines)

    __repr__ = __str__


def _worst(values, limits, lower=False):
    """The member of a constraint family with the least relative slack: (value, limit); NaN counts as worst."""
    values, limits = np.broadcast_arrays(np.asarray(values, float), np.asarray(limits, float))
    values, limits = values.reshape(-1), limits.reshape(-1)
    if values.size == 0:
        return None
    slack = (values - limits) if lower else (limits - values)
    rel = slack / np.maximum(np.abs(limits), 1e-300)
    i = int(np.argmin(np.where(np.isnan(rel), -np.inf, rel)))
    return float(values[i]), float(limits[i])


def constraints(scenario, plan, breakdown) -> tuple:
    """Every constraint of (P1) evaluated at ``plan`` (the tightest member of each family)."""
    s, p = scenario, plan
    rows = lambda a: distinct_rows(a)[0]  # noqa: E731   a round-invariant stage: its one row
    out = [
        Constraint("delay", "(35e)", breakdown.total_delay, s.tau0, "s"),
        Constraint("energy", "(35f)", breakdown.total_energy, s.E0, "J"),
    ]
    fams = []
    if p.M:
        fams += [
            ("pre-train batch", "(35a)", rows(p.D), s.D_max, "samples", False),
            ("pre-train batch >= 1", "", rows(p.D), 1.0, "samples", True),
            ("server clock", "(35c)", rows(p.f), s.f_max, "Hz", False),
        ]
    if p.N:
        fams += [
            ("average power", "(10)", rows(p.p).mean(axis=0), s.P_ave, "W", False),
            ("peak power", "(11)", rows(p.p), s.P_max, "W", False),
            ("fine-tune batch", "(35b)", rows(p.B), s.B_max, "samples", False),
            ("fine-tune batch >= 1", "", rows(p.B), 1.0, "samples", True),
            ("device clock", "(35d)", rows(p.f_hat), s.f_hat_max, "Hz", False),
        ]
    for name, eq, values, limits, unit, lower in fams:
        v, lim = _worst(values, limits, lower)
        out.append(Constraint(name, eq, v, lim, unit, lower))
    return tuple(out)


class _FloatErrors:
    """Collects numpy's floating-point errors (overflow, invalid, divide) instead of warning."""

    def __init__(self):
        self.kinds = []

    def __call__(self, kind, flag):
        if kind not in self.kinds:
            self.kinds.append(kind)

    def state(self):
        return np.errstate(over="call", invalid="call", divide="call", under="ignore", call=self)


_PARTS = (("pretrain_delay", "pre-training compute time (14)", "s"),
          ("pretrain_energy", "pre-training energy (17)", "J"),
          ("download_time", "model download time beta / r^d (13)", "s"),
          ("compute_time", "device compute time (15)", "s"),
          ("upload_time", "gradient upload time beta / r^u (12)", "s"),
          ("broadcast_energy", "broadcast energy (20)", "J"),
          ("compute_energy", "device compute energy (18)", "J"),
          ("upload_energy", "upload energy (19)", "J"))


def _diagnose(scenario, breakdown, terms, errors) -> tuple:
    """One sentence per float64 problem: where an infinite or NaN value first appears, and what overflowed."""
    notes = []
    for attr, what, unit in _PARTS:
        rows = distinct_rows(getattr(breakdown, attr))[0]
        bad = ~np.isfinite(rows)
        if bad.any():
            idx = tuple(int(i) for i in np.argwhere(bad)[0])
            where = ("" if rows.ndim < 2 else f" of device {idx[-1]}")
            notes.append(f"The {what}{where} is {rows[idx]} {unit} in float64: the scenario's or the plan's values "
                         f"are too large or too small for double precision (about 1e-308 to 1e308).")
    for name, value in terms.as_dict().items():
        if not np.isfinite(value):
            notes.append(f"The bound's {name.replace('_', ' ')} term is {value}: it overflows float64.")
    if errors.kinds:
        names = {"overflow": "an overflow", "invalid": "an invalid operation (inf - inf, 0 * inf, ...)",
                 "divide by zero": "a division by zero"}
        notes.append("Float64 arithmetic met " + " and ".join(names.get(k, k) for k in errors.kinds)
                     + "; the numbers that depend on it are not exact.")
    return tuple(notes)


def evaluate(scenario, plan) -> Report:
    """Upsilon (34) and its terms, delay and energy per stage (14)-(21), and the slack of every constraint of (P1).

    Float64 overflow does not warn: it is explained in :attr:`Report.numerics` (and :attr:`Report.why`).
    """
    from .plan import Plan
    from .scenario import Scenario

    if not isinstance(scenario, Scenario):
        raise InputTypeError(f"evaluate: scenario = {show(scenario)} ({type(scenario).__name__}): must be a Scenario")
    if not isinstance(plan, Plan):
        raise InputTypeError(f"evaluate: plan = {show(plan)} ({type(plan).__name__}): must be a Plan")
    errors = _FloatErrors()
    with errors.state():
        b = _system.breakdown(scenario, plan)
        terms = _bound.terms(scenario, plan)
        cons = constraints(scenario, plan, b)
        numerics = _diagnose(scenario, b, terms, errors)
    return Report(scenario=scenario, plan=plan, terms=terms, breakdown=b, constraints=cons, numerics=numerics)
