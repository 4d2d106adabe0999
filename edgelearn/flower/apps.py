"""The Flower ServerApp and ClientApp of a FedSGD fine-tuning run (issue 13).

``server_app`` runs the in-process trainer's loop (``edgelearn.train._train``): the
pre-training rounds stay on the server, in process, and each fine-tuning round is sent to
the devices by the :class:`~edgelearn.flower.strategy.FedSGD` strategy.  ``client_app``
is device k: it holds partition k of the experiment's device data and, per round, computes
its share of eq. (8) with :func:`edgelearn.train.device_gradient`, the trainer's own code.

Both read the run's description (scenario, plan, experiment, seed, ...) from the JSON file
named by the run-config key ``spec`` (written by :func:`edgelearn.flower.run`), so the same
two objects serve ``run_simulation``, ``flwr run`` on a local simulation federation and
``flwr run`` against real SuperNodes.
"""
from __future__ import annotations

import json
import os
import time
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
from flwr.app import ArrayRecord, ConfigRecord, Context, Message, MessageType, RecordDict
from flwr.clientapp import ClientApp
from flwr.serverapp import Grid, ServerApp

from .. import train as _train_mod
from ..plan import Plan
from ..scenario import Scenario
from .strategy import FedSGD, RoundFailedError

__all__ = ["server_app", "client_app", "device_reply", "discover", "load_spec", "write_atomic"]


def write_atomic(path, data: bytes) -> None:
    path = Path(path)
    tmp = path.with_name(path.name + f".tmp{os.getpid()}")
    tmp.write_bytes(data)
    os.replace(tmp, path)


@lru_cache(maxsize=4)
def load_spec(path: str) -> dict:
    """The run description written by :func:`edgelearn.flower.run`."""
    return json.loads(Path(path).read_text())


def _spec(context: Context) -> dict:
    path = _spec_path(context)
    if not path:
        raise ValueError("run config 'spec' is empty (and EDGELEARN_FLOWER_SPEC unset): it must name the JSON "
                         "file written by edgelearn.flower.run")
    return load_spec(str(path))


def _spec_path(context: Context) -> str:
    return str(context.run_config.get("spec", "") or os.environ.get("EDGELEARN_FLOWER_SPEC", ""))


def _experiment(spec):
    return _train_mod._experiment(spec["experiment"], spec["K"], None, False, spec["partition"], spec["alpha"],
                                  spec["data_seed"])


def _pin_threads(spec):
    if spec.get("threads"):
        torch.set_num_threads(int(spec["threads"]))


# ------------------------------------------------------------------------------------------------- client
client_app = ClientApp()


def _partition(context: Context, spec) -> int:
    k = int(context.node_config.get("partition-id", -1))
    if not 0 <= k < spec["K"]:
        raise ValueError(f"node_config partition-id = {k}: must be in [0, {spec['K'] - 1}] (K = {spec['K']})")
    return k


@client_app.query()
def query(msg: Message, context: Context) -> Message:
    """Tell the server which device this node is and how many samples it holds."""
    spec = _spec(context)
    k = _partition(context, spec)
    n = len(_experiment(spec).devices[k])
    return Message(content=RecordDict({"result": ConfigRecord({"partition-id": k, "num-examples": n})}),
                   reply_to=msg)


@lru_cache(maxsize=2)
def _device(spec_path, k):
    spec = load_spec(spec_path)
    exp = _experiment(spec)
    dev = _train_mod.pick_device(spec["device"])
    model = _build(exp.net, dev)
    return exp.devices[k].tensors(dev), model, dev


def _build(net, dev):
    from .. import nets

    return nets.build(net).to(dev)


@client_app.train()
def train(msg: Message, context: Context) -> Message:
    """Device k's share of FedSGD round n: ``weight`` * grad L_k at the global model (eqs. 7-8)."""
    spec = _spec(context)
    _pin_threads(spec)
    k = _partition(context, spec)
    cfg = msg.content.config_records["config"]
    n = int(cfg["server-round"])
    if n in spec.get("inject", {}).get(str(k), []):
        raise RuntimeError(f"injected failure: device {k} in round {n}")
    (x, y), model, dev = _device(_spec_path(context), k)
    state = msg.content.array_records["arrays"].to_torch_state_dict()
    model.load_state_dict(state)
    model.train()
    model.zero_grad(set_to_none=True)
    if "indices" in cfg:
        idx = torch.as_tensor(np.asarray(cfg["indices"], dtype=np.int64)).to(dev)
    else:   # no indices from the server: draw B_k of our own samples, seeded by (seed, k, round)
        rng = np.random.default_rng([int(spec["seed"]), k, n])
        idx = torch.from_numpy(_train_mod._draw(rng, len(y), int(cfg["batch-size"]))).to(dev)
    if len(idx) != int(cfg["batch-size"]):
        raise ValueError(f"round {n}: got {len(idx)} indices for batch size B_k = {cfg['batch-size']}")
    return Message(content=device_reply(model, x[idx], y[idx], float(cfg["weight"]), k), reply_to=msg)


def device_reply(model, x, y, weight: float, k: int) -> RecordDict:
    """What device k answers: ``weight`` * grad L_k at ``model`` (zeroed ``.grad`` first), its BatchNorm statistics
    after the batch, and L_k, computed by :func:`edgelearn.train.device_gradient`."""
    model.zero_grad(set_to_none=True)
    loss = _train_mod.device_gradient(model, x, y, weight)
    arrays = {f"grad.{name}": p.grad.detach().cpu() for name, p in model.named_parameters() if p.grad is not None}
    arrays.update({f"buffer.{name}": b.detach().cpu() for name, b in _train_mod._bn_buffers(model)})
    return RecordDict({"arrays": ArrayRecord(arrays),
                       "result": ConfigRecord({"partition-id": k, "loss": loss, "num-examples": len(y)})})


# ------------------------------------------------------------------------------------------------- server
server_app = ServerApp()


def discover(grid: Grid, K: int, timeout: float = 60.0) -> tuple[list[int], list[int]]:
    """One QUERY round: device k's node id and sample count, for k = 0..K-1.

    Node ids are random; only a node knows its partition.  Waits up to ``timeout`` s for K
    nodes and K answers; raises ``RuntimeError`` naming the devices that did not answer.
    """
    deadline = time.monotonic() + timeout
    nodes = {}
    while time.monotonic() < deadline and len(nodes) < K:
        known = {node for node, _ in nodes.values()}
        ids = [i for i in grid.get_node_ids() if i not in known]
        if not ids:
            time.sleep(0.2)
            continue
        msgs = [Message(content=RecordDict({}), message_type=MessageType.QUERY, dst_node_id=i) for i in ids]
        for r in grid.send_and_receive(msgs, timeout=max(1.0, deadline - time.monotonic())):
            if not r.has_error():
                res = r.content.config_records["result"]
                nodes[int(res["partition-id"])] = (r.metadata.src_node_id, int(res["num-examples"]))
    missing = [k for k in range(K) if k not in nodes]
    if missing:
        raise RuntimeError(f"devices {missing} did not answer the QUERY round within {timeout:g} s "
                           f"({len(nodes)} of K = {K} found)")
    return [nodes[k][0] for k in range(K)], [nodes[k][1] for k in range(K)]


@server_app.main()
def main(grid: Grid, context: Context) -> None:
    """Pre-train in process, fine-tune by FedSGD over the SuperNodes, write the History to ``spec['out']``."""
    spec = _spec(context)
    _pin_threads(spec)
    scenario = Scenario(**spec["scenario"])
    K = scenario.K
    p = spec["plan"]
    plan = Plan(**{k: (np.array(v, float).reshape(-1, K) if k in ("B", "f_hat", "p") else v) for k, v in p.items()})
    exp = _experiment(spec)
    dev = _train_mod.pick_device(spec["device"])
    nodes, sizes = discover(grid, K, timeout=spec.get("start_timeout", spec["timeout"]))
    expected = [len(d) for d in exp.devices]
    if sizes != expected:
        raise RuntimeError(f"the SuperNodes hold {sizes} samples but the experiment's devices hold {expected}")
    strategy = FedSGD(plan.B, nodes, on_failure=spec["on_failure"])

    def fedsgd(model, n, drawn):
        arrays = ArrayRecord(model.state_dict())
        msgs = strategy.configure_train(n + 1, arrays, ConfigRecord(), grid, indices=drawn)
        replies = list(grid.send_and_receive(msgs, timeout=spec["timeout"]))
        agg, metrics = strategy.aggregate_train(n + 1, replies)
        state = agg.to_torch_state_dict()
        for name, prm in model.named_parameters():
            g = state.get(f"grad.{name}")
            prm.grad = None if g is None else g.to(dev, copy=True)
        with torch.no_grad():
            for name, b in _train_mod._bn_buffers(model):
                b.copy_(state[f"buffer.{name}"])
        if spec.get("progress"):
            write_atomic(spec["progress"], str(n + 1).encode())
        return float(metrics["loss"])

    out = Path(spec["out"])
    try:
        history = _train_mod._train(scenario, plan, exp, dev, int(spec["seed"]), int(spec["eval_every"]),
                                    int(spec["eval_samples"]), False, False, per_device=True, fedsgd=fedsgd)
    except RoundFailedError as e:     # the caller re-raises it (edgelearn.flower.run)
        write_atomic(out.with_suffix(".error.json"), json.dumps({"message": str(e)}).encode())
        raise
    write_atomic(out.with_suffix(".failures.json"),
                 json.dumps([vars(f) for f in strategy.failures]).encode())
    write_atomic(out, history.to_bytes())
