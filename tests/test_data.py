"""Data layer: real downloads through torchvision from a loopback mirror, offline stand-ins, load."""

import functools
import gzip
import hashlib
import http.server
import io
import pickle
import socket
import struct
import tarfile
import threading
from pathlib import Path

import numpy as np
import pytest
import torch
import torchvision.datasets as tvd

from lossbarcode import data
from lossbarcode.data import DATASETS, DataUnavailable, load, prepare

FILES = (
    "train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"
)


@pytest.fixture(autouse=True)
def no_proxy(monkeypatch):
    # A proxy from the environment would swallow the requests to 127.0.0.1.
    for var in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)


def idx_gz(array: np.ndarray) -> bytes:
    """The MNIST archive format: gzip of an IDX file (magic 2051 images / 2049 labels, big-endian dims)."""
    magic = 2051 if array.ndim == 3 else 2049
    header = struct.pack(f">{1 + array.ndim}I", magic, *array.shape)
    return gzip.compress(header + array.astype(np.uint8).tobytes(), mtime=0)


def fake_mnist(seed: int = 0, n_train: int = 60, n_test: int = 20) -> tuple[dict[str, bytes], dict[str, np.ndarray]]:
    rng = np.random.default_rng(seed)
    arrays = {
        "x_train": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        "y_train": rng.integers(0, 10, n_train, dtype=np.uint8),
        "x_test": rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        "y_test": rng.integers(0, 10, n_test, dtype=np.uint8),
    }
    return {file: idx_gz(arrays[key]) for file, key in zip(FILES, arrays)}, arrays


def accept_fake_checksums(monkeypatch, cls, archives: dict[str, bytes]):
    # torchvision verifies every archive against its own table of MD5s of the real files, which
    # fake files cannot match; the table is the only thing replaced, the verification still runs.
    resources = [(file, hashlib.md5(archives[file]).hexdigest()) for file in FILES]
    monkeypatch.setattr(cls, "resources", resources)


class Mirror:
    """A loopback HTTP server over a temporary folder, counting the requests it answers."""

    def __init__(self, folder: Path):
        self.folder, self.requests = folder, []
        mirror = self

        class Handler(http.server.SimpleHTTPRequestHandler):
            def do_GET(self):
                mirror.requests.append(self.path)
                super().do_GET()

            def do_HEAD(self):
                mirror.requests.append(self.path)
                super().do_HEAD()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Handler, directory=folder))
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def serve(self, archives: dict[str, bytes]):
        for file, content in archives.items():
            (self.folder / file).write_bytes(content)

    def close(self):
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()


@pytest.fixture
def mirror(tmp_path):
    folder = tmp_path / "mirror"
    folder.mkdir()
    server = Mirror(folder)
    yield server
    server.close()


@pytest.fixture
def dead_url():
    """The URL of a closed port: connections are refused at once."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/"


def assert_equals_arrays(path: Path, arrays: dict[str, np.ndarray]):
    blob = torch.load(path, weights_only=True)
    for key, array in arrays.items():
        expected = torch.from_numpy(array)
        expected = expected.unsqueeze(1) if key.startswith("x") else expected.to(torch.int64)
        assert blob[key].dtype == expected.dtype
        assert torch.equal(blob[key], expected), key


def assert_nothing_written(root: Path, name: str):
    assert not (root / f"{name}.pt").exists()
    assert not list(root.glob(f".{name}.pt.*")), "a temporary file was left behind"


# ----- real datasets through torchvision ---------------------------------------------------------
@pytest.mark.parametrize("name, cls", [("mnist", tvd.MNIST), ("fmnist", tvd.FashionMNIST)])
def test_download_from_mirror_gives_the_served_bytes_and_happens_once(name, cls, mirror, tmp_path, monkeypatch):
    archives, arrays = fake_mnist(seed=len(name))
    mirror.serve(archives)
    accept_fake_checksums(monkeypatch, cls, archives)
    root = tmp_path / "data"

    path = prepare(name, root, mirror=mirror.url)

    assert path == root / f"{name}.pt"
    assert_equals_arrays(path, arrays)
    blob = torch.load(path, weights_only=True)
    assert (blob["name"], blob["title"], blob["classes"]) == (name, DATASETS[name].title, 10)
    assert f"datasets.{cls.__name__}" in blob["source"]
    assert {r.lstrip("/") for r in mirror.requests} == set(FILES)
    assert (root / "torchvision" / cls.__name__ / "raw" / FILES[0]).is_file()
    # the class itself is untouched: the mirror applied to this call only
    assert mirror.url not in cls.mirrors

    served = len(mirror.requests)
    assert prepare(name, root, mirror=mirror.url) == path
    assert len(mirror.requests) == served


def test_corrupted_archive_is_refused_with_checksum_and_instructions(mirror, tmp_path, monkeypatch):
    archives, _ = fake_mnist()
    accept_fake_checksums(monkeypatch, tvd.MNIST, archives)
    corrupted = bytearray(archives[FILES[0]])
    corrupted[len(corrupted) // 2] ^= 0xFF
    mirror.serve({**archives, FILES[0]: bytes(corrupted)})
    root = tmp_path / "data"

    with pytest.raises(DataUnavailable) as caught:
        prepare("mnist", root, mirror=mirror.url)

    message = str(caught.value)
    raw = (root / "torchvision" / "MNIST" / "raw").absolute()
    assert "MNIST" in message and mirror.url + FILES[0] in message
    assert "checksum mismatch" in message and hashlib.md5(bytes(corrupted)).hexdigest() in message
    assert all(str(raw / file) in message for file in FILES)
    assert "data_mirrors: {mnist: URL}" in message
    assert_nothing_written(root, "mnist")


def test_unreachable_mirror_names_the_url_and_how_to_predownload(dead_url, tmp_path):
    root = tmp_path / "data"
    with pytest.raises(DataUnavailable) as caught:
        prepare("mnist", root, mirror=dead_url)
    message = str(caught.value)
    assert dead_url + FILES[0] in message
    assert "refused" in message.lower()
    raw = (root / "torchvision" / "MNIST" / "raw").absolute()
    assert all(str(raw / file) in message for file in FILES)
    # the instructions name the real archives' checksums and where to get them
    assert tvd.MNIST.resources[0][1] in message and tvd.MNIST.mirrors[0] in message
    assert "data_mirrors: {mnist: URL}" in message
    assert_nothing_written(root, "mnist")


def test_silent_mirror_times_out_instead_of_hanging(tmp_path, monkeypatch):
    monkeypatch.setattr(data, "DOWNLOAD_TIMEOUT_S", 0.3)
    with socket.socket() as silent:  # accepts connections (kernel backlog) but never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(4)
        url = f"http://127.0.0.1:{silent.getsockname()[1]}/"
        with pytest.raises(DataUnavailable, match="timed out"):
            prepare("mnist", tmp_path / "data", mirror=url)
    assert socket.getdefaulttimeout() is None


def test_other_datasets_name_their_own_archives(dead_url, tmp_path):
    for name, archive in (("cifar10", "cifar-10-python.tar.gz"), ("cifar100", "cifar-100-python.tar.gz"),
                          ("svhn", "test_32x32.mat")):
        with pytest.raises(DataUnavailable) as caught:
            prepare(name, tmp_path, mirror=dead_url)
        assert str((tmp_path / "torchvision" / archive).absolute()) in str(caught.value)
        assert dead_url + ("train_32x32.mat" if name == "svhn" else archive) in str(caught.value)


def test_cifar10_from_mirror_is_stored_channels_first(mirror, tmp_path, monkeypatch):
    # CIFAR's pickles hold rows of 3072 bytes: the red plane, then green, then blue.
    rng = np.random.default_rng(3)
    batches = {f"data_batch_{i}": rng.integers(0, 256, (4, 3072), dtype=np.uint8) for i in range(1, 6)}
    batches["test_batch"] = rng.integers(0, 256, (3, 3072), dtype=np.uint8)
    labels = {k: rng.integers(0, 10, len(v)).tolist() for k, v in batches.items()}
    members = {k: pickle.dumps({"data": v, "labels": labels[k]}) for k, v in batches.items()}
    members["batches.meta"] = pickle.dumps({"label_names": [str(i) for i in range(10)]})
    archive = io.BytesIO()
    with tarfile.open(fileobj=archive, mode="w:gz") as tar:
        for member, content in members.items():
            entry = tarfile.TarInfo(f"cifar-10-batches-py/{member}")
            entry.size = len(content)
            tar.addfile(entry, io.BytesIO(content))
    mirror.serve({"cifar-10-python.tar.gz": archive.getvalue()})
    # torchvision's checksum table, for the fake archive and its members (see accept_fake_checksums)
    md5 = {k: hashlib.md5(v).hexdigest() for k, v in members.items()}
    monkeypatch.setattr(tvd.CIFAR10, "tgz_md5", hashlib.md5(archive.getvalue()).hexdigest())
    monkeypatch.setattr(tvd.CIFAR10, "train_list", [[f"data_batch_{i}", md5[f"data_batch_{i}"]] for i in range(1, 6)])
    monkeypatch.setattr(tvd.CIFAR10, "test_list", [["test_batch", md5["test_batch"]]])
    monkeypatch.setattr(tvd.CIFAR10, "meta", {**tvd.CIFAR10.meta, "md5": md5["batches.meta"]})

    blob = torch.load(prepare("cifar10", tmp_path / "data", mirror=mirror.url), weights_only=True)

    train = np.concatenate([batches[f"data_batch_{i}"] for i in range(1, 6)])
    assert blob["x_train"].shape == (20, 3, 32, 32) and blob["x_test"].shape == (3, 3, 32, 32)
    assert blob["x_train"][7, 2, 5, 9] == train[7, 2 * 1024 + 5 * 32 + 9]
    assert torch.equal(blob["x_train"], torch.from_numpy(train).reshape(20, 3, 32, 32))
    assert blob["y_train"].tolist() == sum((labels[f"data_batch_{i}"] for i in range(1, 6)), [])
    assert torch.equal(blob["x_test"], torch.from_numpy(batches["test_batch"]).reshape(3, 3, 32, 32))


def test_svhn_preplaced_is_stored_channels_first_with_zero_for_ten(dead_url, tmp_path, monkeypatch):
    from scipy.io import savemat

    # SVHN's .mat files hold X as [H, W, C, N] and label 10 for the digit 0.
    rng = np.random.default_rng(4)
    root, split_list = tmp_path / "data", {}
    (root / "torchvision").mkdir(parents=True)
    arrays = {}
    for split, n in (("train", 6), ("test", 2)):
        x, y = rng.integers(0, 256, (32, 32, 3, n), dtype=np.uint8), np.array([[10], [3]] * (n // 2), dtype=np.uint8)
        path = root / "torchvision" / f"{split}_32x32.mat"
        savemat(path, {"X": x, "y": y})
        split_list[split] = [tvd.SVHN.split_list[split][0], path.name, hashlib.md5(path.read_bytes()).hexdigest()]
        arrays[split] = x, y
    monkeypatch.setattr(tvd.SVHN, "split_list", split_list)

    blob = torch.load(prepare("svhn", root, mirror=dead_url), weights_only=True)

    x, y = arrays["train"]
    assert blob["x_train"].shape == (6, 3, 32, 32)
    assert blob["x_train"][4, 1, 7, 20] == x[7, 20, 1, 4]
    assert blob["y_train"].tolist() == [0, 3] * 3 and blob["y_train"].dtype == torch.int64
    assert blob["x_test"].shape == (2, 3, 32, 32)


@pytest.fixture
def mnist_file(tmp_path, monkeypatch, dead_url):
    """MNIST prepared offline from archives placed where torchvision looks: the pre-download route."""
    archives, arrays = fake_mnist()
    accept_fake_checksums(monkeypatch, tvd.MNIST, archives)
    raw = tmp_path / "data" / "torchvision" / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for file, content in archives.items():
        (raw / file).write_bytes(content)
    return prepare("mnist", tmp_path / "data", mirror=dead_url), arrays


def test_preplaced_archives_need_no_network(mnist_file):
    path, arrays = mnist_file
    assert_equals_arrays(path, arrays)


def test_real_data_keeps_its_shape_and_takes_a_seeded_subset(mnist_file):
    path, arrays = mnist_file
    full = load(path)
    assert full.x_train.shape == (60, 1, 28, 28) and full.x_train.dtype == torch.float32
    assert torch.equal(full.x_train, torch.from_numpy(arrays["x_train"]).unsqueeze(1).float() / 255)
    assert load(path, shape=(1, 28, 28)).x_train.shape == (60, 1, 28, 28)
    with pytest.raises(ValueError, match="expects"):
        load(path, shape=(3, 32, 32))

    part = load(path, train_size=25)
    assert part.x_train.shape[0] == part.y_train.shape[0] == 25
    assert torch.equal(part.x_train, load(path, train_size=25).x_train)  # seeded
    assert not torch.equal(part.x_train, full.x_train[:25])  # a random subset, not the head
    rows = {bytes(r.numpy()) for r in full.x_train}
    assert all(bytes(r.numpy()) in rows for r in part.x_train)
    with pytest.raises(ValueError, match="train_size"):
        load(path, train_size=61)


# ----- stand-ins ---------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def standins(tmp_path_factory):
    root = tmp_path_factory.mktemp("standins")
    return {name: prepare(name, root) for name in ("mnist5k", "digits")}


@pytest.mark.parametrize("name, n_train, n_test, hw", [("mnist5k", 4000, 1000, 28), ("digits", 1437, 360, 8)])
def test_standins_are_offline_shuffled_and_deterministic(standins, tmp_path, name, n_train, n_test, hw):
    blob = torch.load(standins[name], weights_only=True)
    assert blob["x_train"].shape == (n_train, 1, hw, hw) and blob["x_test"].shape == (n_test, 1, hw, hw)
    assert (DATASETS[name].train_samples, DATASETS[name].test_samples) == (n_train, n_test)  # what the check knows
    assert blob["x_train"].dtype == torch.uint8 and blob["y_train"].dtype == torch.int64
    assert int(blob["x_train"].max()) == 255  # the full range, also for digits' 0..16
    assert set(blob["y_train"].tolist()) == set(range(10)) == set(blob["y_test"].tolist())
    assert not torch.all(blob["y_train"][1:] >= blob["y_train"][:-1])
    assert blob["title"] == DATASETS[name].title and "shuffled" in blob["source"]

    again = torch.load(prepare(name, tmp_path), weights_only=True)
    assert all(torch.equal(blob[k], again[k]) for k in ("x_train", "y_train", "x_test", "y_test"))


@pytest.mark.parametrize("name", ["mnist5k", "digits"])
def test_standins_resize_to_the_shape_an_experiment_expects(standins, name):
    native = load(standins[name])
    resized = load(standins[name], shape=(3, 32, 32))
    assert resized.x_train.shape == (len(native.x_train), 3, 32, 32)
    assert resized.x_test.shape == (len(native.x_test), 3, 32, 32)
    assert resized.x_train.dtype == torch.float32
    assert 0 <= resized.x_train.min() and resized.x_train.max() <= 1
    assert torch.equal(resized.x_train[:, 0], resized.x_train[:, 2])
    assert torch.equal(resized.y_train, native.y_train)
    # shrinking too (antialiased): the mean brightness is kept
    small = load(standins[name], shape=(1, 7, 7)).x_train
    assert small.shape[1:] == (1, 7, 7)
    torch.testing.assert_close(small.mean(), native.x_train.mean(), atol=0.02, rtol=0)


def test_standin_train_size_keeps_the_shuffled_head(standins):
    full, part = load(standins["digits"]), load(standins["digits"], train_size=100)
    assert torch.equal(part.x_train, full.x_train[:100]) and torch.equal(part.y_train, full.y_train[:100])
    assert torch.equal(part.x_test, full.x_test)
    with pytest.raises(ValueError, match="1437"):
        load(standins["digits"], train_size=1438)


def test_unknown_dataset_is_refused(tmp_path):
    with pytest.raises(ValueError, match="mnist5k"):
        prepare("imagenet", tmp_path)
