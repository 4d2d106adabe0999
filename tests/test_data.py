"""Datasets: loaders on small files in the real on-disk formats, partitions and experiments."""
import pickle
import struct

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from edgelearn import data  # noqa: E402


def write_idx(path, array):
    """An MNIST idx file: magic (0, 0, 0x08 = ubyte, ndim), big-endian int32 dims, raw bytes."""
    array = np.asarray(array, dtype=np.uint8)
    with open(path, "wb") as f:
        f.write(bytes([0, 0, 0x08, array.ndim]))
        f.write(struct.pack(">" + "i" * array.ndim, *array.shape))
        f.write(array.tobytes())


@pytest.fixture
def mnist_root(tmp_path):
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for prefix, n in (("train", 12), ("t10k", 5)):
        write_idx(raw / f"{prefix}-images-idx3-ubyte", rng.integers(0, 256, (n, 28, 28)))
        write_idx(raw / f"{prefix}-labels-idx1-ubyte", np.arange(n) % 10)
    return tmp_path


def test_mnist_loader_reads_idx_files(mnist_root):
    train = data.load("mnist", mnist_root, split="train")
    test = data.load("mnist", mnist_root, split="test")
    assert len(train) == 12 and len(test) == 5 and train.sample_shape == (1, 28, 28)
    assert train.labels.tolist() == [i % 10 for i in range(12)]
    expected = np.random.default_rng(0).integers(0, 256, (12, 28, 28)).astype(np.uint8)
    assert np.array_equal(train.images[:, 0].numpy(), expected)


def test_cifar10_loader_reads_pickle_batches(tmp_path):
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    rng = np.random.default_rng(1)
    batches = {}
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        batches[name] = dict(data=rng.integers(0, 256, (3, 3072)).astype(np.uint8), labels=[1, 2, 3])
        with open(folder / name, "wb") as f:
            pickle.dump(batches[name], f)
    train = data.load("cifar10", tmp_path)
    assert len(train) == 15 and train.sample_shape == (3, 32, 32)
    # row layout of the pickle: 1024 red, then 1024 green, then 1024 blue values
    assert np.array_equal(train.images[0, 1].numpy().ravel(), batches["data_batch_1"]["data"][0, 1024:2048])
    assert len(data.load("cifar10", tmp_path, split="test")) == 3


def test_cinic10_loader_reads_imagefolder_pngs(tmp_path):
    from PIL import Image

    for label, cls in enumerate(data.CIFAR_CLASSES):
        d = tmp_path / "cinic10" / "train" / cls
        d.mkdir(parents=True)
        Image.fromarray(np.full((32, 32, 3), label * 20, np.uint8)).save(d / "a.png")
    ds = data.load("cinic10", tmp_path)
    assert len(ds) == 10 and ds.sample_shape == (3, 32, 32)
    assert ds.labels.tolist() == list(range(10))
    assert ds.images[:, :, 5, 5].tolist() == [[20 * k] * 3 for k in range(10)]


@pytest.mark.parametrize("name", ["mnist", "cifar10", "cinic10"])
def test_missing_dataset_says_where_to_put_it(tmp_path, name):
    with pytest.raises(data.DatasetNotFoundError, match="download=True") as err:
        data.load(name, tmp_path)
    assert str(tmp_path) in str(err.value)


def test_offline_datasets_are_real_digits_in_mnist_shape():
    mnist = data.load("mnist-5k")
    digits = data.load("uci-digits")
    assert len(mnist) == 5000 and mnist.class_counts.tolist() == [500] * 10
    assert len(digits) == 1797 and digits.sample_shape == mnist.sample_shape == (1, 28, 28)
    # the resized 8x8 digits sit in the centre 20x20 box, as MNIST digits do
    assert digits.images[:, :, :4].sum() == 0 and digits.images[:, :, :, -4:].sum() == 0


def test_normalised_tensors_use_the_mnist_constants():
    ds = data.Dataset(torch.tensor([0, 255], dtype=torch.uint8).view(2, 1, 1, 1), torch.tensor([0, 1]))
    x, y = ds.tensors()
    assert torch.allclose(x.view(-1), torch.tensor([-0.1307 / 0.3081, (1 - 0.1307) / 0.3081]))


def toy(n=100):
    return data.Dataset(torch.zeros(n, 1, 2, 2, dtype=torch.uint8), torch.arange(n) % 10, "toy")


@pytest.mark.parametrize("scheme", ["iid", "dirichlet"])
def test_partition_is_disjoint_and_covers_the_data(scheme):
    ds = data.Dataset(torch.arange(100, dtype=torch.uint8).view(100, 1, 1, 1), torch.arange(100) % 10)
    parts = data.partition(ds, 3, scheme=scheme, alpha=0.3, seed=4)
    ids = np.concatenate([p.images.view(-1).numpy() for p in parts])
    assert sorted(ids.tolist()) == list(range(100)) and all(len(p) for p in parts)
    if scheme == "iid":
        assert [len(p) for p in parts] == [34, 33, 33]


def test_dirichlet_with_small_alpha_skews_the_labels():
    parts = data.partition(toy(1000), 3, scheme="dirichlet", alpha=0.05, seed=0)
    top_share = [p.class_counts.max() / len(p) for p in parts]
    assert max(top_share) > 0.3          # an i.i.d. split would give about 0.1


def test_partition_rejects_bad_arguments():
    with pytest.raises(ValueError, match="K = 0"):
        data.partition(toy(), 0)
    with pytest.raises(ValueError, match="scheme"):
        data.partition(toy(), 2, scheme="shards")


def test_split_is_stratified_and_disjoint():
    a, b = data.split(toy(100), [50, 30], seed=1)
    assert a.class_counts.tolist() == [5] * 10 and b.class_counts.tolist() == [3] * 10


def test_offline_experiments_share_devices_and_test_set_but_not_server_data():
    same = data.experiment("mnist-mnist", K=3)
    shift = data.experiment("digits-mnist", K=3)
    assert [len(d) for d in same.devices] == [667, 667, 666] and len(same.test) == 1000
    assert len(same.server) == 2000 and len(shift.server) == 1797
    for a, b in zip(same.devices, shift.devices):
        assert torch.equal(a.images, b.images)
    # the server, device and test digits of mnist-mnist are disjoint images of mnist-5k
    rows = lambda d: {bytes(x) for x in d.images.view(len(d), -1).numpy()}  # noqa: E731
    dev = set().union(*(rows(d) for d in same.devices))
    assert not (rows(same.server) & rows(same.test)) and not (dev & rows(same.test))


def test_full_experiment_without_files_raises_not_found(tmp_path):
    with pytest.raises(data.DatasetNotFoundError):
        data.experiment("mnist-mnist-full", root=tmp_path)


# ---------------------------------------------------------------- corrupt or incomplete files (issue 14)
@pytest.mark.parametrize("damage, message", [
    (lambda b: b"", "is empty"),
    (lambda b: b"\x12\x34" + b[2:], "is not an idx file"),
    (lambda b: b[:-100], "is truncated"),
    (lambda b: b[:6], "is truncated"),
    (lambda b: b + b"\x00", "has extra bytes"),
])
def test_a_corrupt_idx_file_is_named_and_not_reported_missing(mnist_root, damage, message):
    path = mnist_root / "MNIST" / "raw" / "train-images-idx3-ubyte"
    path.write_bytes(damage(path.read_bytes()))
    with pytest.raises(data.DatasetCorruptError, match=message) as err:
        data.load("mnist", mnist_root)
    assert "train-images-idx3-ubyte" in str(err.value)
    assert not isinstance(err.value, data.DatasetNotFoundError) and isinstance(err.value, data.DatasetError)


def test_mnist_labels_that_do_not_match_the_images_are_reported(mnist_root):
    write_idx(mnist_root / "MNIST" / "raw" / "train-labels-idx1-ubyte", np.arange(11) % 10)
    with pytest.raises(data.DatasetCorruptError, match="has 11 labels but train-images-idx3-ubyte has 12 images"):
        data.load("mnist", mnist_root)


def test_an_incomplete_mnist_names_the_missing_file(mnist_root):
    (mnist_root / "MNIST" / "raw" / "t10k-labels-idx1-ubyte").unlink()
    with pytest.raises(data.DatasetCorruptError, match="incomplete: .*t10k-labels-idx1-ubyte is missing"):
        data.load("mnist", mnist_root, split="test")


@pytest.fixture
def cifar_root(tmp_path):
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    rng = np.random.default_rng(1)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        with open(folder / name, "wb") as f:
            pickle.dump(dict(data=rng.integers(0, 256, (3, 3072)).astype(np.uint8), labels=[1, 2, 3]), f)
    return tmp_path


@pytest.mark.parametrize("damage, message", [
    (lambda b: b[: len(b) // 2], "cannot be read as a CIFAR-10 batch.*(EOFError|UnpicklingError)"),
    (lambda b: b"garbage" + b[7:], "cannot be read as a CIFAR-10 batch"),
    (lambda b: b"", "is empty"),
    (lambda b: pickle.dumps(dict(data=np.zeros((3, 3072), np.uint8))), "expected a dict with 'data' and 'labels'"),
    (lambda b: pickle.dumps(dict(data=np.zeros((3, 100), np.uint8), labels=[1, 2, 3])), r"shape \(3, 100\)"),
    (lambda b: pickle.dumps(dict(data=np.zeros((3, 3072), np.uint8), labels=[1, 2])), "2 labels for 3 images"),
])
def test_a_corrupt_cifar_batch_is_named(cifar_root, damage, message):
    path = cifar_root / "cifar-10-batches-py" / "data_batch_3"
    path.write_bytes(damage(path.read_bytes()))
    with pytest.raises(data.DatasetCorruptError, match=message) as err:
        data.load("cifar10", cifar_root)
    assert "data_batch_3" in str(err.value)


def test_an_incomplete_cifar_names_the_missing_batch(cifar_root):
    (cifar_root / "cifar-10-batches-py" / "data_batch_4").unlink()
    with pytest.raises(data.DatasetCorruptError, match="incomplete: .*data_batch_4 missing"):
        data.load("cifar10", cifar_root)


def _cinic(tmp_path, size=lambda label: 32):
    from PIL import Image

    for label, cls in enumerate(data.CIFAR_CLASSES):
        d = tmp_path / "cinic10" / "train" / cls
        d.mkdir(parents=True)
        Image.fromarray(np.full((size(label), size(label), 3), label * 20, np.uint8)).save(d / "a.png")
    return tmp_path


def test_cinic_pngs_of_mixed_sizes_name_the_odd_file(tmp_path):
    root = _cinic(tmp_path, size=lambda label: 32 if label != 4 else 40)
    with pytest.raises(data.DatasetCorruptError, match=r"deer/a\.png is 40x40 pixels but airplane/a\.png is 32x32.*BayesWatch"):
        data.load("cinic10", root)


def test_a_broken_cinic_png_is_named(tmp_path):
    root = _cinic(tmp_path)
    (root / "cinic10" / "train" / "cat" / "b.png").write_bytes(b"\x89PNG not really")
    with pytest.raises(data.DatasetCorruptError, match=r"cat/b\.png is not a readable PNG"):
        data.load("cinic10", root)


def test_a_cinic_class_without_images_is_incomplete(tmp_path):
    root = _cinic(tmp_path)
    (root / "cinic10" / "train" / "ship" / "a.png").unlink()
    with pytest.raises(data.DatasetCorruptError, match="incomplete: no PNG files in .*ship"):
        data.load("cinic10", root)


def test_wrong_types_are_named():
    with pytest.raises(TypeError, match=r"dataset name = 3 \(int\): must be one of"):
        data.load(3)
    ds = data.load("uci-digits")
    with pytest.raises(TypeError, match=r"K = '2' \(str\): must be a whole number in \[1, 1,797\] \(len\(dataset\) = 1797\)"):
        data.partition(ds, "2")
    with pytest.raises(ValueError, match=r"K = 2\.5: must be a whole number"):
        data.partition(ds, 2.5)
    with pytest.raises(TypeError, match=r"alpha = '0\.5' \(str\): must be a real number"):
        data.partition(ds, 2, "dirichlet", alpha="0.5")
    with pytest.raises(TypeError, match=r"split sizes\[1\] = None"):
        data.split(ds, [10, None])
