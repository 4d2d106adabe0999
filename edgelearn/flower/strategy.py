"""FedSGD as a Flower strategy (eqs. 7-9): one gradient per device per round, weighted by B_k / B_tot.

Flower has no FedSGD; :class:`FedSGD` subclasses its message-based ``FedAvg`` and
overrides ``configure_train`` (one message per device, each with its own batch size
B_k^(n), weight B_k^(n) / B_tot^(n) and sample indices) and ``aggregate_train`` (the
weighted sum of the devices' gradients, eq. 8).  The global step (eq. 9) is taken by the
server's loop, the trainer's own (``edgelearn.train._train``), so pre-training,
evaluation and the SGD step are the in-process trainer's code.

Failure rule (``on_failure``): a device that answers with an error, or does not answer
before the round's timeout, is

* ``"skip"`` (default): left out of the round; the others' weights are renormalised to
  B_k / (sum of the B_j that answered), so the step is the mean-loss gradient over the
  batches that arrived.  When no device answers the round fails (:class:`RoundFailedError`).
* ``"fail"``: the round fails (:class:`RoundFailedError`, naming the devices and why).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from flwr.app import ArrayRecord, ConfigRecord, Message, MessageType, MetricRecord, RecordDict
from flwr.serverapp.strategy import FedAvg

from . import RoundFailedError

__all__ = ["FedSGD", "RoundFailedError", "Failure", "FAILURE_RULES"]

FAILURE_RULES = ("skip", "fail")


@dataclass
class Failure:
    """Device ``k`` gave no usable reply in fine-tuning round ``round`` (1-based): ``reason``."""

    round: int
    k: int
    reason: str


def _last_line(text: str, limit: int = 200) -> str:
    """The last non-empty line of an error text (Ray wraps a ClientApp's exception in its whole traceback)."""
    lines = [line.strip() for line in str(text).splitlines() if line.strip()]
    line = lines[-1].rstrip("'>)") if lines else ""
    return line if len(line) <= limit else line[:limit] + "..."


class FedSGD(FedAvg):
    """FedSGD over the K devices of a plan (eqs. 7-9).

    ``batch_sizes``: the plan's B, shape (N, K); ``nodes``: device k's Flower node id, one
    per device (found with a QUERY round, :func:`edgelearn.flower.apps.discover`);
    ``on_failure``: ``"skip"`` or ``"fail"`` (module docstring).  Replies are summed in
    device order whatever order they arrive in, so the float sums are the in-process
    trainer's.  ``failures`` collects every :class:`Failure` of the run.
    """

    def __init__(self, batch_sizes, nodes, on_failure: str = "skip"):
        if on_failure not in FAILURE_RULES:
            raise ValueError(f"on_failure = {on_failure!r}: must be one of {FAILURE_RULES}")
        B = np.asarray(batch_sizes)
        if B.ndim != 2 or len(nodes) != B.shape[1]:
            raise ValueError(f"batch_sizes has shape {B.shape} but there are {len(nodes)} nodes: "
                             f"need shape (N, K) with K = the number of nodes")
        super().__init__(min_train_nodes=B.shape[1], min_available_nodes=B.shape[1])
        self.fraction_evaluate, self.min_evaluate_nodes = 0.0, 0      # no federated evaluation: the server tests
        self.batch_sizes, self.nodes, self.on_failure = B, list(nodes), on_failure
        self.failures: list[Failure] = []

    def weights(self, server_round: int) -> list[float]:
        """B_k^(n) / B_tot^(n) of round n = ``server_round`` (1-based), as the trainer computes them."""
        import torch

        sizes = torch.tensor(self.batch_sizes[server_round - 1], dtype=torch.float64)
        return (sizes / sizes.sum()).tolist()

    def configure_train(self, server_round: int, arrays: ArrayRecord, config: ConfigRecord, grid,
                        indices=None) -> list[Message]:
        """One TRAIN message per device: the global model and its own B_k^(n), weight and ``indices[k]``."""
        messages = []
        for k, (node, w) in enumerate(zip(self.nodes, self.weights(server_round))):
            cfg = ConfigRecord({**dict(config), "server-round": server_round, "partition-id": k,
                                "batch-size": int(self.batch_sizes[server_round - 1, k]), "weight": float(w)})
            if indices is not None:
                cfg["indices"] = [int(i) for i in indices[k]]
            messages.append(Message(content=RecordDict({self.arrayrecord_key: arrays, self.configrecord_key: cfg}),
                                    message_type=MessageType.TRAIN, dst_node_id=node))
        return messages

    def aggregate_train(self, server_round: int, replies) -> tuple[ArrayRecord | None, MetricRecord | None]:
        """Eq. (8): sum_k w_k grad L_k over the devices that answered, in device order.

        Each reply carries its device's weighted gradient (``"grad.<param>"``), its
        BatchNorm statistics after the round's batch (``"buffer.<name>"``) and its loss L_k.
        Returns the aggregate as an ArrayRecord (same keys) and ``{"loss": sum_k w_k L_k,
        "devices": answered}``; the weights are renormalised over the devices that answered.
        """
        import torch

        w = self.weights(server_round)
        by_k, why = {}, {k: "no reply before the timeout" for k in range(len(self.nodes))}
        node_k = {node: k for k, node in enumerate(self.nodes)}
        for msg in replies:
            k = node_k.get(msg.metadata.src_node_id)
            if k is None:
                continue
            if msg.has_error():
                why[k] = f"error reply: {_last_line(msg.error.reason)}"
                continue
            cfg = msg.content.config_records.get("result") if hasattr(msg.content, "config_records") else None
            if cfg is None or int(cfg["partition-id"]) != k:
                why[k] = "malformed reply"
                continue
            by_k[k] = msg
            why.pop(k)
        for k, reason in sorted(why.items()):
            self.failures.append(Failure(server_round, k, reason))
        if why and (self.on_failure == "fail" or not by_k):
            raise RoundFailedError(f"FedSGD round {server_round}: " + "; ".join(
                f"device {k}: {r}" for k, r in sorted(why.items())) +
                (f" (on_failure = {self.on_failure!r})" if by_k else " (no device answered)"))
        order = sorted(by_k)
        share = sum(w[k] for k in order)           # 1 when every device answered
        grads, buffers, loss = None, None, 0.0
        for k in order:
            rec = by_k[k].content.array_records["arrays"].to_torch_state_dict()
            g = {n: t for n, t in rec.items() if n.startswith("grad.")}
            b = {n: t for n, t in rec.items() if n.startswith("buffer.")}
            if grads is None:                     # the first reply is .grad as autograd first sets it
                grads = {n: t.clone() for n, t in g.items()}
                buffers = {n: torch.zeros_like(t) for n, t in b.items()}
            else:
                for n, t in g.items():
                    grads[n].add_(t)
            for n, t in b.items():
                buffers[n].add_(t, alpha=w[k])
            loss += w[k] * float(by_k[k].content.config_records["result"]["loss"])
        if len(order) < len(self.nodes):           # renormalise over the devices that answered
            for t in grads.values():
                t.div_(share)
            for t in buffers.values():
                t.div_(share)
            loss /= share
        out = ArrayRecord({**grads, **buffers}) if (grads or buffers) else ArrayRecord()
        return out, MetricRecord({"loss": loss, "devices": len(order)})
