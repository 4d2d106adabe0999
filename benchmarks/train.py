"""Benchmark: is simulating FedSGD as cheap as the centralized step it is equivalent to?

Prints samples per second of one training step for
  * centralized SGD on a batch of B samples, and
  * FedSGD with K = 3 devices whose batches add up to the same B (eqs. 7-9, via
    ``edgelearn.train.fedsgd_gradient``),
for LeNet-5 on mnist-5k (goal: ratio >= 0.9) and for the CIFAR GoogLeNet on a small
CIFAR-shaped batch (BatchNorm: one pass per device; goal: ratio >= 0.7).

    python benchmarks/train.py [--threads 1] [--repeat 5]
"""
from __future__ import annotations

import argparse
import time

import numpy as np
import torch
import torch.nn.functional as F

from edgelearn import data, nets, train


def step_rate(model, opt, make_batches, steps, repeat, federated):
    """Median samples/s over ``repeat`` timings of ``steps`` steps (after one warm-up step)."""
    rates = []
    for rep in range(repeat + 1):
        batches_list = [make_batches(i) for i in range(steps)]
        t = time.perf_counter()
        for batches in batches_list:
            opt.zero_grad(set_to_none=True)
            if federated:
                train.fedsgd_gradient(model, batches)
            else:
                x = torch.cat([b[0] for b in batches])
                y = torch.cat([b[1] for b in batches])
                F.cross_entropy(model(x), y).backward()
            opt.step()
        elapsed = time.perf_counter() - t
        if rep:  # the first timing is a warm-up
            rates.append(sum(len(b[1]) for bs in batches_list for b in bs) / elapsed)
    return float(np.median(rates))


def compare(name, model, x, y, sizes, steps, repeat, dev):
    model = model.to(dev).train()
    x, y = x.to(dev), y.to(dev)
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    rng = np.random.default_rng(0)

    def make_batches(_):
        out = []
        for b in sizes:
            idx = torch.from_numpy(rng.choice(len(y), b, replace=False)).to(dev)
            out.append((x[idx], y[idx]))
        return out

    central = step_rate(model, opt, make_batches, steps, repeat, federated=False)
    fed = step_rate(model, opt, make_batches, steps, repeat, federated=True)
    how = "one pass per device (BatchNorm)" if nets.has_batchnorm(model) else "one pass on the union"
    print(f"{name}: batch {sum(sizes)} = {' + '.join(map(str, sizes))} ({how})")
    print(f"  centralized SGD : {central:10.1f} samples/s")
    print(f"  FedSGD, K = {len(sizes)}   : {fed:10.1f} samples/s")
    print(f"  ratio FedSGD / centralized = {fed / central:.3f}")
    return fed / central


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--device", default="auto")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    dev = train.pick_device(args.device)
    print(f"device: {dev}" + (f" ({torch.cuda.get_device_name(dev)})" if dev.type == "cuda" else
                               f" (CPU, {torch.get_num_threads()} thread(s))") + f", torch {torch.__version__}")
    torch.manual_seed(0)
    mnist = data.load("mnist-5k")
    x, y = mnist.tensors()
    compare("LeNet-5 on mnist-5k", nets.lenet5(), x, y, (100, 100, 100), steps=20, repeat=args.repeat, dev=dev)
    g = torch.Generator().manual_seed(0)
    cx, cy = torch.randn(256, 3, 32, 32, generator=g), torch.randint(0, 10, (256,), generator=g)
    compare("GoogLeNet (CIFAR) on a random CIFAR-shaped set", nets.googlenet_cifar(), cx, cy, (8, 8, 8),
            steps=2, repeat=max(2, args.repeat // 2), dev=dev)


if __name__ == "__main__":
    main()
