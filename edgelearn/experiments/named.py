"""The named experiments of the book: each bundles a scenario, data, a network and budgets.

Every scenario is built from a preset of :mod:`edgelearn.scenarios` with ``replace``, so
it follows the presets when they change.  The budgets are the preset's scaled by one factor
(``scale``) for both tau0 and E0: the paper's budgets buy millions of training samples per
run, and the book's runs must fit on a laptop CPU (about 10,000 samples, a few seconds of
training, per run); scaling both budgets by the same factor keeps their ratio
E0 / tau0, which decides how the plan splits the work between the stages.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass, field

__all__ = ["Spec", "EXPERIMENTS", "get", "net_constants", "SEEDS", "FRACTIONS"]

#: Training seeds of every run (the initial weights and every batch draw).
SEEDS = (0, 1, 2)
#: Figs. 4 and 5: the budget that varies, as fractions of its nominal value (the other stays nominal).
FRACTIONS = (0.25, 0.5, 0.75, 1.0, 1.5)


@functools.lru_cache(maxsize=None)
def net_constants(net: str) -> dict:
    """``beta`` (bits of one model upload: 32 per parameter) and ``n_flop`` (FLOPs of one sample's
    gradient, forward + backward, by :func:`edgelearn.nets.flops_per_sample`), measured on ``net``."""
    from .. import nets

    model = nets.build(net)
    return {"beta": 32.0 * nets.count_parameters(model), "n_flop": nets.flops_per_sample(model, backward=True)}


@dataclass(frozen=True)
class Spec:
    """One named experiment: ``data`` (a name of :data:`edgelearn.data.EXPERIMENTS`), ``net`` (a
    name of :data:`edgelearn.nets.NETS`), the scenario (``preset`` with ``changes``, its budgets
    times ``scale``), the seeds and the budget fractions of Figs. 4 and 5."""

    name: str
    data: str
    net: str
    preset: str
    scale: float
    description: str
    why: str
    changes: tuple = ()            # (field, value or callable returning the value)
    measured: bool = False         # beta and n_flop measured on the network
    seeds: tuple = SEEDS
    fractions: tuple = FRACTIONS
    schemes: tuple = field(default=("proposed", "fixed_power", "fixed_frequency", "fixed_batch",
                                    "pretrain_only", "finetune_only"))

    def scenario(self):
        """The nominal scenario of this experiment (built from the current preset)."""
        from .. import scenarios

        base = getattr(scenarios, self.preset)()
        kw = {k: (v() if callable(v) else v) for k, v in self.changes}
        if self.measured:
            kw.update(net_constants(self.net))
        kw.update(tau0=self.scale * base.tau0, E0=self.scale * base.E0)
        return base.replace(**kw)

    def points(self) -> dict:
        """The budget points ``{label: scenario}``: ``"nominal"``, then ``"tau0x<f>"`` (Fig. 4:
        tau0 times f, E0 nominal) and ``"E0x<f>"`` (Fig. 5) for each fraction f other than 1."""
        s = self.scenario()
        out = {"nominal": s}
        for budget in ("tau0", "E0"):
            for f in self.fractions:
                if f != 1.0:
                    out[f"{budget}x{f:g}"] = s.replace(**{budget: f * getattr(s, budget)})
        return out

    def data_experiment(self, K: int):
        """The :class:`edgelearn.data.Experiment` this trains on, with this experiment's network."""
        import dataclasses

        from .. import data

        return dataclasses.replace(data.experiment(self.data, K), name=self.name, net=self.net)


def _cifar_W():
    from .. import scenarios

    return scenarios.cifar().wasserstein


def _mnist_W():
    from .. import scenarios

    return scenarios.mnist().wasserstein


EXPERIMENTS = {
    "mnist-mnist": Spec(
        "mnist-mnist", "mnist-mnist", "lenet5_he", "mnist", 0.005,
        "LeNet-5 (He initialisation), MNIST -> MNIST (mnist-5k: 2,000 server digits, 2,000 device digits, 1,000 test digits), "
        "the MNIST preset",
        "budgets x0.005: at the preset's budgets the proposed plan trains on millions of samples; x0.005 "
        "leaves about 10,000 per run, a few seconds of LeNet-5 on one CPU core"),
    "digits-mnist": Spec(
        "digits-mnist", "digits-mnist", "lenet5_he", "mnist", 0.005,
        "LeNet-5 (He initialisation), UCI digits -> MNIST (the 1,797 UCI digits at the server; the devices and the test set of "
        "mnist-mnist), the MNIST preset with the CIFAR preset's Wasserstein distance (a real shift)",
        "budgets x0.005, as for mnist-mnist", changes=(("wasserstein", _cifar_W),)),
    "mnist-allconv": Spec(
        "mnist-allconv", "mnist-mnist", "allconv8", "cifar", 0.001,
        "allconv8 (2,178 parameters, about 117 FLOP per transmitted bit), the MNIST -> MNIST data of mnist-mnist, "
        "over the CIFAR preset's hardware; beta and n_flop measured on the network, W of the MNIST preset "
        "(both stages sample one distribution)",
        "budgets x0.001: with the measured beta and n_flop the preset's budgets buy millions of samples; "
        "x0.001 leaves about 7,000 per run, a few seconds on one CPU core",
        changes=(("wasserstein", _mnist_W),), measured=True),
}


def get(name: str) -> Spec:
    """The named experiment ``name`` (one of :data:`EXPERIMENTS`)."""
    if name not in EXPERIMENTS:
        raise ValueError(f"experiment = {name!r}: must be one of {sorted(EXPERIMENTS)}")
    return EXPERIMENTS[name]
