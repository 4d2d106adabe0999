"""Fine-tuning on Flower: the FedSGD stage of a plan executed by a federated-learning engine (issue 13).

:func:`run` trains a :class:`~edgelearn.Plan` like :func:`edgelearn.train.run` and returns
the same :class:`~edgelearn.train.History`, but the K devices of the fine-tuning stage are
Flower ClientApps on K SuperNodes, driven by a ServerApp whose strategy is FedSGD
(eqs. 7-9, :class:`~edgelearn.flower.strategy.FedSGD`).  Pre-training stays on the server,
in process.  With the same plan and seed the losses equal ``train.run(...,
per_device=True)``'s bit for bit (the default ``train.run`` sums the K gradients in one
pass over the concatenated batch: the same numbers up to float rounding).

Each round the server sends device k the global model, B_k^(n), its weight
B_k^(n) / B_tot^(n) and the indices of its B_k^(n) samples (drawn by the trainer's random
stream, so the run is the in-process one); device k answers weight * grad L_k (eq. 7).
A device that fails (error reply, or no reply within ``round_timeout``) is skipped and the
weights renormalised (``on_failure="skip"``), or the run stops (``"fail"``: a
:class:`RoundFailedError`); each skipped device is reported as a
:class:`ClientFailureWarning`.

Everything stays on the machine: the run happens in a child process inside a network
namespace that has only ``lo`` (``unshare -n``; root, or an unprivileged user namespace),
with Flower's telemetry, update check and runtime dependency installation off and a
temporary ``FLWR_HOME``.  Every Python process of the run records its connects and the
namespace's socket tables are sampled (:mod:`edgelearn.flower.netaudit`); the run raises
:class:`~edgelearn.flower.netaudit.NetworkLeak` if anything reached beyond loopback.  When
the child ends, the namespace ends with it, and so does every process it started (Ray,
the SuperLink of ``flwr run``).
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

__all__ = ["run", "write_app", "isolation_command", "watch_command", "ClientFailureWarning", "RoundFailedError",
           "ENGINES", "FLOWER_ENV"]

#: How :func:`run` drives Flower: ``run_simulation`` in one process, or the ``flwr run`` CLI
#: against a local simulation federation (a SuperLink started on 127.0.0.1).
ENGINES = ("simulation", "flwr-run")

#: Environment of every Flower process :func:`run` starts (plus a temporary ``FLWR_HOME``).
FLOWER_ENV = {"FLWR_TELEMETRY_ENABLED": "0", "FLWR_DISABLE_UPDATE_CHECK": "1",
              "FLWR_DISABLE_RUNTIME_DEPENDENCY_INSTALLATION": "1", "RAY_USAGE_STATS_ENABLED": "0",
              "RAY_DEDUP_LOGS": "0", "PYTHONWARNINGS": "ignore::DeprecationWarning",
              # Ray kills its workers when the machine's memory is 95% used, by anyone; on a shared machine
              # that fails runs at random.  Leave out-of-memory handling to the kernel.
              "RAY_memory_monitor_refresh_ms": "0",
              # and it gives a starting worker 60 s to register, which a busy machine can exceed
              "RAY_worker_register_timeout_seconds": "600"}

_PACKAGE_ROOT = Path(__file__).resolve().parents[2]
_NETAUDIT = Path(__file__).resolve().parent / "netaudit.py"      # runs as a plain script: no edgelearn import

_APP_TOML = """\
# A Flower app whose ServerApp and ClientApp are edgelearn's FedSGD (written by edgelearn.flower.write_app).
[build-system]
requires = ["hatchling"]
build-backend = "hatchling.build"

[project]
name = "edgelearn-fedsgd"
version = "1.0.0"
description = "FedSGD fine-tuning of an edgelearn plan (Lyu et al. 2024, eqs. 7-9)"
dependencies = []

[tool.hatch.build.targets.wheel]
packages = ["."]

[tool.flwr.app]
publisher = "edgelearn"

[tool.flwr.app.components]
serverapp = "edgelearn.flower.apps:server_app"
clientapp = "edgelearn.flower.apps:client_app"

[tool.flwr.app.config]
# the JSON run description written by edgelearn.flower.run (scenario, plan, experiment, seed, ...)
spec = "{spec}"
"""


_RAY_START_FAILED = "The current node timed out during startup"
_START_RETRIES = 2


class RoundFailedError(RuntimeError):
    """A FedSGD round could not be aggregated (rule ``"fail"`` and a device failed, or no device answered)."""


class ClientFailureWarning(UserWarning):
    """A device gave no usable reply in a fine-tuning round and was skipped (``on_failure="skip"``)."""


def write_app(directory, spec: str = "") -> Path:
    """Write a Flower app directory (``pyproject.toml`` + a stub module) for ``flwr run``; return it.

    Its components are :data:`edgelearn.flower.apps.server_app` and ``client_app``; the
    run-config key ``spec`` names the run description.  Point it at real SuperNodes with
    ``flwr run DIR <superlink-connection>``.
    """
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    (d / "pyproject.toml").write_text(_APP_TOML.replace("{spec}", str(spec).replace("\\", "/")))
    (d / "edgelearn_fedsgd.py").write_text('"""The app\'s code lives in edgelearn.flower.apps."""\n'
                                          "from edgelearn.flower.apps import client_app, server_app  # noqa: F401\n")
    return d


def _can_unshare(extra) -> bool:
    if not shutil.which("unshare"):
        return False
    try:
        return subprocess.run(["unshare", *extra, "-n", "true"], capture_output=True, timeout=10).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def isolation_command(script: str, python=None) -> list[str]:
    """``unshare`` argv running ``sh -c script`` in fresh network, pid and mount namespaces, ``lo`` up.

    Root uses the namespaces directly; other users get an unprivileged user namespace
    (``unshare -r``) where the kernel allows it.  Raises ``RuntimeError`` when neither
    works.  ``--kill-child`` and the pid namespace make every process of the run end
    with it.
    """
    python = python or sys.executable
    extra = [] if os.geteuid() == 0 else ["-r"]
    if not _can_unshare(extra):
        raise RuntimeError(
            "edgelearn.flower.run needs a loopback-only network namespace (`unshare -n`, as root or with "
            "unprivileged user namespaces), which this machine does not allow; Ray, which Flower's simulation "
            "uses, probes outside addresses (8.8.8.8:53, 169.254.169.254) when it starts. Run as root, or pass "
            "isolate=False to run without the namespace (and accept those probes).")
    lo_up = f'"{python}" "{_NETAUDIT}" lo-up'
    return ["unshare", *extra, "--kill-child", "-n", "-p", "-f", "--mount-proc", "sh", "-c",
            f"{lo_up} && {script}"]


def watch_command(directory, python=None) -> str:
    """Shell: start :func:`edgelearn.flower.netaudit.watch` on ``directory`` in the background, wait until it runs."""
    python = python or sys.executable
    return (f'("{python}" "{_NETAUDIT}" watch "{directory}" &); '
            f'until [ -s "{directory}/sockets.jsonl" ]; do sleep 0.05; done')


def _validate(scenario, plan, experiment, seed, eval_every, eval_samples, engine, on_failure, inject, isolate):
    from .. import data as _data
    from .. import train as _train

    if isinstance(seed, bool) or int(seed) != seed:
        raise ValueError(f"seed = {seed!r}: must be a whole number")
    if eval_every is not None and (int(eval_every) != eval_every or eval_every < 0):
        raise ValueError(f"eval_every = {eval_every!r}: must be a whole number >= 0 (0: final evaluation only)")
    if int(eval_samples) != eval_samples or eval_samples < 1:
        raise ValueError(f"eval_samples = {eval_samples!r}: must be a whole number >= 1")
    if engine not in ENGINES:
        raise ValueError(f"engine = {engine!r}: must be one of {ENGINES}")
    if engine == "flwr-run" and not isolate:
        raise ValueError("engine = 'flwr-run' with isolate = False: `flwr run` leaves a detached SuperLink "
                         "running, which only the namespace's end stops; use isolate=True")
    if on_failure not in ("skip", "fail"):
        raise ValueError(f"on_failure = {on_failure!r}: must be 'skip' or 'fail'")
    if not isinstance(experiment, str) or experiment not in _data.EXPERIMENTS:
        raise ValueError(f"experiment = {experiment!r}: must be one of {sorted(_data.EXPERIMENTS)} (the devices "
                         f"load their partition by name)")
    if plan.K != scenario.K:
        raise ValueError(f"plan has K = {plan.K} devices but the scenario has K = {scenario.K}")
    if plan.N < 1:
        raise ValueError(f"plan has N = {plan.N} fine-tuning rounds: nothing to run on Flower (use train.run)")
    if not plan.integer_batches:
        _train._check(scenario, plan, None)
    for k, rounds in (inject or {}).items():
        if not 0 <= int(k) < scenario.K:
            raise ValueError(f"inject_failures device {k!r}: must be in [0, {scenario.K - 1}]")
        bad = [r for r in rounds if not 1 <= int(r) <= plan.N]
        if bad:
            raise ValueError(f"inject_failures rounds {bad} of device {k}: must be in [1, N = {plan.N}]")


def run(scenario, plan, experiment: str = "mnist-mnist", *, seed: int = 0, eval_every: int | None = None,
        eval_samples: int = 1000, partition: str = "iid", alpha: float = 0.5, data_seed: int = 0,
        engine: str = "simulation", on_failure: str = "skip", round_timeout: float = 120.0,
        timeout: float = 900.0, device: str = "cpu", threads: int | None = None, ray_cpus: int | None = None,
        inject_failures: dict | None = None, isolate: bool = True, audit_dir=None, progress: bool = True):
    """Train ``plan`` with its fine-tuning stage on Flower; return the :class:`~edgelearn.train.History`.

    ``scenario``, ``plan``, ``experiment`` (a name of :data:`edgelearn.data.EXPERIMENTS`),
    ``seed``, ``eval_every``, ``eval_samples``, ``partition``, ``alpha``, ``data_seed``: as
    for :func:`edgelearn.train.run` (same seed, same history: ``train.run(...,
    per_device=True)`` bit for bit).  ``engine``: ``"simulation"`` (``run_simulation``) or
    ``"flwr-run"`` (the ``flwr run`` CLI on a local simulation federation).
    ``on_failure``: ``"skip"`` a failed device and renormalise, or ``"fail"`` the run;
    ``round_timeout``: seconds to wait for the devices' replies in a round; ``timeout``:
    seconds for the whole run (the run's processes are then killed), and for the SuperNodes to
    come up and answer the first (QUERY) round.  ``device``: where the
    server and the clients compute; ``threads``: torch threads on both sides (default: this
    process's count, so the float results match it).  ``ray_cpus``: CPUs Ray may use
    (default: min(K, cores)).  ``inject_failures``: ``{k: [rounds]}``, device k raises in
    those fine-tuning rounds (1-based), to see the failure rule at work.  ``isolate=False``
    runs without the loopback-only namespace.  ``audit_dir``: keep the network records there
    (:func:`edgelearn.flower.netaudit.check` reads them); they are checked in any case.

    Simulated time and energy are the system model's (eqs. 14-21), as in ``train.run``: a
    skipped device does not change the clock.  ``EDGELEARN_FLOWER_KEEP=1`` in the environment
    keeps the run's temporary directory (log, run description, Ray's logs) for inspection.
    """
    import torch

    from .. import train as _train
    from . import netaudit

    _validate(scenario, plan, experiment, seed, eval_every, eval_samples, engine, on_failure, inject_failures,
              isolate)
    rounds = plan.M + plan.N
    eval_every = max(1, rounds // 10) if eval_every is None else int(eval_every)
    threads = int(threads or torch.get_num_threads())
    ray_cpus = int(ray_cpus or max(1, min(scenario.K, os.cpu_count() or 1)))

    tmp = Path(tempfile.mkdtemp(prefix="edgelearn-flower-"))
    try:
        audit = Path(audit_dir) if audit_dir is not None else tmp / "net"
        audit.mkdir(parents=True, exist_ok=True)
        spec_path, out = tmp / "spec.json", tmp / "history.npz"
        spec = dict(scenario=scenario.to_dict(), plan=plan.to_dict(), K=scenario.K, experiment=experiment,
                    partition=partition, alpha=float(alpha), data_seed=int(data_seed), seed=int(seed),
                    eval_every=eval_every, eval_samples=int(eval_samples), device=str(device), threads=threads,
                    on_failure=on_failure, timeout=float(round_timeout), start_timeout=float(timeout),
                    ray_cpus=ray_cpus,
                    inject={str(k): [int(r) for r in v] for k, v in (inject_failures or {}).items()},
                    out=str(out), progress=str(tmp / "progress"))
        spec_path.write_text(json.dumps(spec))

        env = netaudit.audit_env(audit)
        env["PYTHONPATH"] = os.pathsep.join([env["PYTHONPATH"], str(_PACKAGE_ROOT)])
        env.update(FLOWER_ENV, FLWR_HOME=str(tmp / "flwr-home"), RAY_TMPDIR=str(tmp / "ray"),
                   OMP_NUM_THREADS=str(threads),
                   PATH=os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")]))
        py = sys.executable
        if engine == "simulation":
            main = f'"{py}" -m edgelearn.flower._child "{spec_path}"'
        else:
            app = write_app(tmp / "app", spec=str(spec_path))
            flwr = str(Path(py).parent / "flwr")
            # as run_simulation gets in _child.py: Ray may use ray_cpus CPUs, one per ClientApp actor
            federation = f"num-supernodes={scenario.K} init-args-num-cpus={ray_cpus} client-resources-num-cpus=1"
            main = (f'"{flwr}" run "{app}" local --stream --federation-config "{federation}" '
                    f'--run-config "spec=\'{spec_path}\'"')
        if isolate:
            argv = isolation_command(f"{watch_command(audit, py)}; {main}", python=py)
        else:
            argv = ["sh", "-c", main]
        deadline = time.monotonic() + timeout
        for attempt in range(1 + _START_RETRIES):
            rc, log = _supervise(argv, env, tmp, deadline - time.monotonic(), plan.N, progress)
            if out.exists() or out.with_suffix(".error.json").exists() or _RAY_START_FAILED not in log:
                break
            # Ray gives its node a fixed 30 s to come up; on a loaded machine it can miss that: start afresh
            warnings.warn(f"Ray did not start in time (attempt {attempt + 1} of {1 + _START_RETRIES}); "
                          f"starting the Flower run again", RuntimeWarning, stacklevel=2)
            for d in ("flwr-home", "ray"):
                shutil.rmtree(tmp / d, ignore_errors=True)
        if out.with_suffix(".error.json").exists():
            raise RoundFailedError(json.loads(out.with_suffix(".error.json").read_text())["message"])
        if not out.exists():
            raise RuntimeError(f"the Flower run ({engine}) wrote no result (exit status {rc}); its log ends:\n"
                               + log[-3000:])
        history = _train.History.from_bytes(out.read_bytes(), cached=False)
        failures = json.loads(out.with_suffix(".failures.json").read_text())
        if isolate:
            netaudit.check(audit)
        for f in failures:
            warnings.warn(f"FedSGD round {f['round']}: device {f['k']} skipped ({f['reason']}); the other "
                          f"devices' weights renormalised", ClientFailureWarning, stacklevel=2)
        return history
    finally:
        if os.environ.get("EDGELEARN_FLOWER_KEEP"):
            print("kept", tmp, file=sys.stderr)
        else:
            shutil.rmtree(tmp, ignore_errors=True)


def _supervise(argv, env, tmp: Path, timeout: float, N: int, progress: bool):
    """Run ``argv`` (its output to a log file), show a bar over the fine-tuning rounds, kill it by pid on timeout."""
    from tqdm.auto import tqdm

    if timeout <= 0:
        raise TimeoutError("the Flower run used up its timeout before it could start")
    log_path = tmp / "run.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                cwd=str(tmp))
    bar = tqdm(total=N, desc="Flower FedSGD", unit="round", disable=not progress, leave=False)
    deadline = time.monotonic() + timeout
    try:
        while proc.poll() is None:
            if time.monotonic() > deadline:
                proc.send_signal(signal.SIGKILL)     # --kill-child: the namespace and all in it end with it
                proc.wait()
                raise TimeoutError(f"the Flower run took longer than its timeout and was killed; "
                                   f"its log ends:\n" + log_path.read_text(errors="replace")[-3000:])
            try:
                done = int((tmp / "progress").read_text() or 0)
                bar.update(done - bar.n)
            except (OSError, ValueError):
                pass
            time.sleep(0.2)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        bar.close()
    return proc.returncode, log_path.read_text(errors="replace")
