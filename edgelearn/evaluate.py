"""Evaluate a plan: the bound (34), delay and energy per stage, and every constraint of (P1)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import bound as _bound
from . import system as _system

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
        return self.slack >= -FEASIBILITY_RTOL * max(abs(self.limit), 1e-300)


@dataclass(frozen=True)
class Report:
    """What :func:`evaluate` finds.  ``bound``, ``delay``, ``energy``, ``feasible`` are public API."""

    scenario: object
    plan: object
    terms: _bound.BoundTerms
    breakdown: _system.Breakdown
    constraints: tuple

    @property
    def bound(self) -> float:
        """Upsilon of (34)."""
        return self.terms.total

    @property
    def delay(self) -> float:
        """Total training delay (16), s."""
        return self.breakdown.total_delay

    @property
    def energy(self) -> float:
        """Total energy (21), J."""
        return self.breakdown.total_energy

    @property
    def feasible(self) -> bool:
        """True when every constraint of (P1) is met (batch integrality is reported separately)."""
        return all(c.met for c in self.constraints)

    @property
    def violated(self) -> list:
        return [c for c in self.constraints if not c.met]

    @property
    def slack(self) -> dict:
        """Slack of every constraint by name (>= 0 when met)."""
        return {c.name: c.slack for c in self.constraints}

    def __str__(self):
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
        return "\n".join(lines)

    __repr__ = __str__


def _worst(values, limits, lower=False):
    """The member of a constraint family with the least slack: (value, limit)."""
    values, limits = np.broadcast_arrays(np.asarray(values, float), np.asarray(limits, float))
    values, limits = values.reshape(-1), limits.reshape(-1)
    if values.size == 0:
        return None
    slack = (values - limits) if lower else (limits - values)
    i = int(np.argmin(slack / np.maximum(np.abs(limits), 1e-300)))
    return float(values[i]), float(limits[i])


def constraints(scenario, plan, breakdown) -> tuple:
    """Every constraint of (P1) evaluated at ``plan`` (the tightest member of each family)."""
    s, p = scenario, plan
    out = [
        Constraint("delay", "(35e)", breakdown.total_delay, s.tau0, "s"),
        Constraint("energy", "(35f)", breakdown.total_energy, s.E0, "J"),
    ]
    fams = []
    if p.M:
        fams += [
            ("pre-train batch", "(35a)", p.D, s.D_max, "samples", False),
            ("pre-train batch >= 1", "", p.D, 1.0, "samples", True),
            ("server clock", "(35c)", p.f, s.f_max, "Hz", False),
        ]
    if p.N:
        fams += [
            ("average power", "(10)", p.p.mean(axis=0), s.P_ave, "W", False),
            ("peak power", "(11)", p.p, s.P_max, "W", False),
            ("fine-tune batch", "(35b)", p.B, s.B_max, "samples", False),
            ("fine-tune batch >= 1", "", p.B, 1.0, "samples", True),
            ("device clock", "(35d)", p.f_hat, s.f_hat_max, "Hz", False),
        ]
    for name, eq, values, limits, unit, lower in fams:
        v, lim = _worst(values, limits, lower)
        out.append(Constraint(name, eq, v, lim, unit, lower))
    return tuple(out)


def evaluate(scenario, plan) -> Report:
    """Upsilon (34) and its terms, delay and energy per stage (14)-(21), and the slack of every constraint of (P1)."""
    b = _system.breakdown(scenario, plan)
    return Report(scenario=scenario, plan=plan, terms=_bound.terms(scenario, plan), breakdown=b,
                  constraints=constraints(scenario, plan, b))
