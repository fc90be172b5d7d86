"""IDX files, MNIST / Fashion-MNIST loading and downloads, scikit-learn wrappers
(tinygrad_mlp/data/idx.py and datasets.py). No test touches the network."""

import gzip
import hashlib
import io
import os
import sys
import tempfile
import urllib.error
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from tinygrad_mlp import Tensor
from tinygrad_mlp.data import (
    DatasetError,
    cache_dir,
    datasets,
    load_breast_cancer,
    load_digits,
    load_fashion_mnist,
    load_mnist,
    make_moons,
    read_idx,
    scale_images,
    search_dirs,
    write_idx,
)
from tinygrad_mlp.data.idx import encode_idx

NAMES = datasets.FILES  # train images, train labels, test images, test labels
IDX_DTYPES = ["uint8", "int8", "int16", "int32", "float32", "float64"]


# ---------------------------------------------------------------------- IDX format
@given(
    array=st.sampled_from(IDX_DTYPES).flatmap(
        lambda dt: hnp.arrays(dt, hnp.array_shapes(min_dims=1, max_dims=4, min_side=0, max_side=5))
    ),
    compress=st.booleans(),
)
def test_idx_round_trip(array, compress):
    with tempfile.TemporaryDirectory() as tmp:
        path = write_idx(Path(tmp) / "a.idx", array, gzip=compress)
        assert (path.read_bytes()[:2] == b"\x1f\x8b") == compress
        out = read_idx(path)
    assert out.dtype == array.dtype and out.shape == array.shape
    assert out.tobytes() == array.tobytes()  # bit-exact, NaNs included
    assert out.flags.writeable and out.dtype.isnative


def test_idx_bytes_follow_the_format(tmp_path):
    """Magic 00 00 <code> <ndim>, big-endian uint32 sizes, big-endian values."""
    path = write_idx(tmp_path / "a", np.array([[1, 258, -2]], dtype=np.int16))
    assert path.read_bytes() == bytes.fromhex("00000b02000000010000000300010102fffe")
    # a file written by hand in the MNIST layout (uint8 labels) reads back
    (tmp_path / "labels").write_bytes(bytes.fromhex("0000080100000004") + bytes([7, 2, 1, 0]))
    labels = read_idx(tmp_path / "labels")
    assert labels.dtype == np.uint8 and labels.tolist() == [7, 2, 1, 0]


def test_gzip_is_detected_by_content_not_name(tmp_path):
    array = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    zipped = write_idx(tmp_path / "plain-name", array, gzip=True)
    raw = write_idx(tmp_path / "looks-zipped.gz", array, gzip=False)
    assert zipped.read_bytes()[:2] == b"\x1f\x8b" and raw.read_bytes()[:2] == b"\x00\x00"
    np.testing.assert_array_equal(read_idx(zipped), array)
    np.testing.assert_array_equal(read_idx(raw), array)
    default = write_idx(tmp_path / "auto.gz", array)  # gzip=None follows the suffix
    assert default.read_bytes()[:2] == b"\x1f\x8b"


def test_write_idx_accepts_tensors_and_leaves_no_temp_files(tmp_path):
    old_umask = os.umask(0o022)
    try:
        write_idx(tmp_path / "sub" / "t.idx", Tensor(np.ones((2, 2), dtype=np.float32)))
    finally:
        os.umask(old_umask)
    path = tmp_path / "sub" / "t.idx"
    np.testing.assert_array_equal(read_idx(path), np.ones((2, 2), np.float32))
    assert sorted(p.name for p in path.parent.iterdir()) == ["t.idx"]
    assert path.stat().st_mode & 0o777 == 0o644  # an ordinary file, not a private temp file


@pytest.mark.parametrize(
    "array,message",
    [
        (np.zeros(3, dtype=np.int64), "cannot store dtype int64"),
        (np.zeros(3, dtype=bool), "cannot store dtype bool"),
        (np.float32(1.0), r"1 to 255 dimensions, got shape \(\)"),
    ],
)
def test_write_idx_rejects_what_idx_cannot_hold(tmp_path, array, message):
    with pytest.raises(DatasetError, match=message):
        write_idx(tmp_path / "x", array)
    assert list(tmp_path.iterdir()) == []


def _corrupt(tmp_path, compress, edit):
    """An IDX file of a (3, 2, 2) uint8 array whose raw bytes went through ``edit``."""
    raw = edit(bytearray(encode_idx(np.ones((3, 2, 2), np.uint8))))
    path = tmp_path / ("bad.gz" if compress else "bad")
    path.write_bytes(gzip.compress(bytes(raw)) if compress else bytes(raw))
    return path


@pytest.mark.parametrize("compress", [False, True])
@pytest.mark.parametrize(
    "edit,message",
    [
        (lambda b: b"\x01" + b[1:], "bad magic number 01000803"),
        (lambda b: b[:2] + b"\x0a" + b[3:], "unknown IDX dtype code 0x0A"),
        (lambda b: b[:3] + b"\x00" + b[4:], "declares 0 dimensions"),
        (lambda b: b[:-1], r"truncated data: shape \(3, 2, 2\) of uint8 needs 12 bytes after the "
         r"16-byte header, the file has 11"),
        (lambda b: b + b"\x00\x00", r"trailing bytes after the data: .* needs 12 bytes .* has 14"),
        (lambda b: b[:10], r"truncated header: 3 dimensions need 16 header bytes, the file has 10"),
        (lambda b: b[:3], r"3 bytes is too short for an IDX header"),
    ],
)  # fmt: skip
def test_corrupt_idx_files_name_the_file_and_problem(tmp_path, compress, edit, message):
    path = _corrupt(tmp_path, compress, edit)
    with pytest.raises(DatasetError, match=message) as info:
        read_idx(path)
    assert str(path) in str(info.value)
    assert isinstance(info.value, ValueError)


def test_broken_gzip_and_missing_file(tmp_path):
    good = gzip.compress(bytes.fromhex("0000080100000002") + b"\x01\x02")
    (tmp_path / "cut.gz").write_bytes(good[:-6])
    with pytest.raises(DatasetError, match=r"cut.gz: corrupt or truncated gzip data"):
        read_idx(tmp_path / "cut.gz")
    with pytest.raises(DatasetError, match=r"nothing-here: no such file"):
        read_idx(tmp_path / "nothing-here")


# ---------------------------------------------------------------------- MNIST-style data sets
@pytest.fixture
def isolated(tmp_path, monkeypatch):
    """No environment variable, a private cache, a fake system directory, no network."""
    monkeypatch.delenv(datasets.ENV_VAR, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache-home"))
    system = {"mnist": [], "fashion-mnist": [str(tmp_path / "system" / "fashion-mnist")]}
    monkeypatch.setattr(datasets, "SYSTEM_DIRS", system)

    def no_network(url):
        raise AssertionError(f"a test tried to download {url}")

    monkeypatch.setattr(datasets, "_open_url", no_network)
    return tmp_path


def fake_dataset(directory, n_train=12, n_test=5, seed=0, compress=True, shape=(28, 28)):
    """Write the four MNIST files with random content; return the arrays a loader should give."""
    rng = np.random.default_rng(seed)
    arrays = [
        rng.integers(0, 256, (n_train, *shape), dtype=np.uint8),
        rng.integers(0, 10, n_train, dtype=np.uint8),
        rng.integers(0, 256, (n_test, *shape), dtype=np.uint8),
        rng.integers(0, 10, n_test, dtype=np.uint8),
    ]
    directory = Path(directory)
    for name, array in zip(NAMES, arrays, strict=True):
        write_idx(directory / (name + ".gz" if compress else name), array, gzip=compress)
    images_train, labels_train, images_test, labels_test = arrays
    return (
        images_train.reshape(n_train, -1),
        labels_train.astype(np.int64),
        images_test.reshape(n_test, -1),
        labels_test.astype(np.int64),
    )


def assert_same(got, expected):
    for g, e in zip(got, expected, strict=True):
        assert g.dtype == e.dtype and g.shape == e.shape
        np.testing.assert_array_equal(g, e)


@pytest.mark.parametrize("compress", [True, False])
def test_load_mnist_from_data_dir(isolated, compress):
    expected = fake_dataset(isolated / "d", compress=compress)
    got = load_mnist(isolated / "d")
    assert_same(got, expected)
    assert got[0].shape == (12, 784) and got[0].dtype == np.uint8 and got[1].dtype == np.int64


def test_mixed_raw_and_gzipped_files_and_subfolder(isolated):
    expected = fake_dataset(isolated / "root" / "mnist", compress=True, shape=(4, 5))
    os.rename(isolated / "root/mnist/t10k-labels-idx1-ubyte.gz", isolated / "root/mnist/x.gz")
    with gzip.open(isolated / "root/mnist/x.gz") as fh:
        (isolated / "root/mnist/t10k-labels-idx1-ubyte").write_bytes(fh.read())
    got = load_mnist(str(isolated / "root"))  # a root holding mnist/ works too
    assert_same(got, expected)
    assert got[0].shape == (12, 20)


def test_search_order_data_dir_then_env_then_cache_then_system(isolated, monkeypatch):
    explicit = fake_dataset(isolated / "explicit", n_train=3, seed=1)
    env = fake_dataset(isolated / "env" / "fashion-mnist", n_train=4, seed=2)
    cached = fake_dataset(cache_dir("fashion-mnist"), n_train=5, seed=3)
    system = fake_dataset(isolated / "system" / "fashion-mnist", n_train=6, seed=4)
    monkeypatch.setenv(datasets.ENV_VAR, str(isolated / "env"))
    assert_same(load_fashion_mnist(isolated / "explicit"), explicit)
    assert_same(load_fashion_mnist(), env)
    (isolated / "empty").mkdir()
    assert_same(load_fashion_mnist(isolated / "empty"), env)  # a data_dir without files
    with pytest.raises(DatasetError, match=r"data_dir .*typo: no such directory"):
        load_fashion_mnist(isolated / "typo")  # not skipped for the env's files: a typo
    monkeypatch.setenv("HOME", str(isolated))
    assert_same(load_fashion_mnist("~/explicit"), explicit)  # ~ is the home directory
    monkeypatch.delenv(datasets.ENV_VAR)
    assert_same(load_fashion_mnist(), cached)
    for name in NAMES:
        (cache_dir("fashion-mnist") / f"{name}.gz").unlink()
    assert_same(load_fashion_mnist(), system)  # Debian's directory in real life
    with pytest.raises(DatasetError, match="MNIST not found"):
        load_mnist()  # the Fashion-MNIST system directory is not MNIST's


def test_search_dirs_lists_every_place_in_order(isolated, monkeypatch):
    monkeypatch.setenv(datasets.ENV_VAR, str(isolated / "env"))
    assert search_dirs("fashion-mnist", isolated / "d") == [
        isolated / "d",
        isolated / "d" / "fashion-mnist",
        isolated / "env",
        isolated / "env" / "fashion-mnist",
        isolated / "cache-home" / "tinygrad_mlp" / "fashion-mnist",
        isolated / "system" / "fashion-mnist",
    ]
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert cache_dir("mnist") == Path.home() / ".cache" / "tinygrad_mlp" / "mnist"
    with pytest.raises(ValueError, match="unknown data set 'cifar'"):
        search_dirs("cifar")


def test_debian_directory_is_searched_for_fashion_mnist_by_default():
    assert datasets.SYSTEM_DIRS["fashion-mnist"] == ["/usr/share/datasets/fashion-mnist"]
    assert datasets.SYSTEM_DIRS["mnist"] == []


def test_missing_dataset_lists_directories_and_remedies(isolated, monkeypatch):
    monkeypatch.setenv(datasets.ENV_VAR, str(isolated / "env"))
    partial = isolated / "partial"
    fake_dataset(partial)
    (partial / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(DatasetError) as info:
        load_fashion_mnist(partial)
    message = str(info.value)
    for directory in search_dirs("fashion-mnist", partial):
        assert str(directory) in message
    assert f"{partial} (missing t10k-labels-idx1-ubyte[.gz])" in message
    assert f"{isolated / 'env'} (no such directory)" in message
    assert f"{partial / 'fashion-mnist'} (no such directory)" in message
    partial.joinpath("fashion-mnist").mkdir()
    with pytest.raises(DatasetError, match=r"fashion-mnist \(none of the files\)"):
        load_fashion_mnist(partial)
    for remedy in ("download=True", "--data-dir", "TINYGRAD_MLP_DATA", "pip install",
                   "apt-get install dataset-fashion-mnist", "fashion-mnist.s3"):  # fmt: skip
        assert remedy in message
    with pytest.raises(DatasetError) as info:
        load_mnist()
    assert "apt-get" not in str(info.value) and "ossci-datasets" in str(info.value)


def test_image_and_label_counts_must_agree(isolated):
    fake_dataset(isolated / "d")
    write_idx(isolated / "d" / "train-labels-idx1-ubyte.gz", np.zeros(11, np.uint8))
    with pytest.raises(DatasetError, match="image and label counts disagree") as info:
        load_mnist(isolated / "d")
    message = str(info.value)
    assert "train-images-idx3-ubyte.gz has 12 images" in message
    assert "train-labels-idx1-ubyte.gz has 11 labels" in message


@pytest.mark.parametrize(
    "name,array,message",
    [
        (NAMES[0], np.zeros((12, 784), np.uint8), r"uint8 images of shape \(N, rows, cols\)"),
        (NAMES[2], np.zeros((5, 28, 28), np.float32), "got float32 of shape"),
        (NAMES[1], np.zeros(12, np.float32), r"integer labels of shape \(N,\)"),
        (NAMES[2], np.zeros((5, 27, 28), np.uint8), "has 784 pixels per image but"),
    ],
)
def test_wrong_file_contents(isolated, name, array, message):
    fake_dataset(isolated / "d")
    write_idx(isolated / "d" / f"{name}.gz", array)
    with pytest.raises(DatasetError, match=message):
        load_mnist(isolated / "d")


def test_a_corrupt_file_is_reported_not_skipped(isolated, monkeypatch):
    fake_dataset(isolated / "d")
    fake_dataset(cache_dir("mnist"))
    bad = isolated / "d" / "t10k-images-idx3-ubyte.gz"
    bad.write_bytes(gzip.compress(b"\x00\x00\x08\x03" + b"\x00" * 5))
    with pytest.raises(DatasetError, match="t10k-images-idx3-ubyte.gz: truncated header"):
        load_mnist(isolated / "d")


# ---------------------------------------------------------------------- downloads
@pytest.fixture
def served(isolated, monkeypatch):
    """Serve small fake MNIST files for the canonical URLs, with matching digests."""
    fake_dataset(isolated / "origin", n_train=8, n_test=3, seed=9)
    source = datasets.SOURCES["mnist"]
    files, requested = {}, []
    for name in NAMES:
        payload = (isolated / "origin" / f"{name}.gz").read_bytes()
        files[source.base_url + f"{name}.gz"] = payload
        monkeypatch.setitem(source.sha256, f"{name}.gz", hashlib.sha256(payload).hexdigest())

    def fake_open(url):
        requested.append(url)
        return io.BytesIO(files[url])

    monkeypatch.setattr(datasets, "_open_url", fake_open)
    return files, requested


def test_download_verifies_and_caches(isolated, served, monkeypatch):
    files, requested = served
    expected = load_mnist(isolated / "origin")
    assert_same(load_mnist(download=True), expected)
    base = datasets.SOURCES["mnist"].base_url
    assert requested == [f"{base}{name}.gz" for name in NAMES]
    assert sorted(p.name for p in cache_dir("mnist").iterdir()) == sorted(f"{n}.gz" for n in NAMES)
    requested.clear()
    assert_same(load_mnist(download=True), expected)  # second time: from the cache
    assert_same(load_mnist(), expected)
    assert requested == []


def test_download_fetches_only_missing_files(isolated, served):
    _, requested = served
    load_mnist(download=True)
    (cache_dir("mnist") / "t10k-labels-idx1-ubyte.gz").unlink()
    requested.clear()
    load_mnist(download=True)
    assert [u.rsplit("/", 1)[1] for u in requested] == ["t10k-labels-idx1-ubyte.gz"]


def test_checksum_mismatch_removes_the_file(isolated, served, monkeypatch):
    files, _ = served
    url = datasets.SOURCES["mnist"].base_url + "train-labels-idx1-ubyte.gz"
    tampered = bytearray(files[url])
    tampered[len(tampered) // 2] ^= 0xFF
    files[url] = bytes(tampered)
    expected = datasets.SOURCES["mnist"].sha256["train-labels-idx1-ubyte.gz"]
    actual = hashlib.sha256(files[url]).hexdigest()
    with pytest.raises(DatasetError) as info:
        load_mnist(download=True)
    message = str(info.value)
    assert "checksum mismatch for train-labels-idx1-ubyte.gz" in message
    assert f"expected SHA-256 {expected}, got {actual}" in message
    left = sorted(p.name for p in cache_dir("mnist").iterdir())
    assert left == ["train-images-idx3-ubyte.gz"]  # verified before; no bad or partial file


def test_network_failure_names_the_url(isolated, monkeypatch):
    def offline(url):
        raise urllib.error.URLError("no route to host")

    monkeypatch.setattr(datasets, "_open_url", offline)
    with pytest.raises(DatasetError, match=r"downloading https://ossci-datasets\S+ to .* failed"):
        load_mnist(download=True)
    assert list(cache_dir("mnist").iterdir()) == []


def test_canonical_sources():
    hosts = {
        "mnist": "https://ossci-datasets.s3.amazonaws.com/mnist/",
        "fashion-mnist": "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
    }
    for name, host in hosts.items():
        source = datasets.SOURCES[name]
        assert source.base_url == host
        assert sorted(source.sha256) == sorted(f"{n}.gz" for n in NAMES)
        assert all(len(d) == 64 and int(d, 16) >= 0 for d in source.sha256.values())


def _real_fashion_dir():
    for directory in search_dirs("fashion-mnist"):
        if not datasets._files_in(directory)[1]:
            return directory
    return None


@pytest.mark.skipif(_real_fashion_dir() is None, reason="Fashion-MNIST files not installed")
def test_real_fashion_mnist():
    X_train, y_train, X_test, y_test = load_fashion_mnist(_real_fashion_dir())
    assert X_train.shape == (60000, 784) and X_test.shape == (10000, 784)
    assert X_train.dtype == np.uint8 and y_train.dtype == np.int64
    assert np.bincount(y_train).tolist() == [6000] * 10
    assert np.bincount(y_test).tolist() == [1000] * 10
    assert X_train.max() == 255 and X_train.min() == 0
    # re-encoding gives back the published files byte for byte (SHA-256 of the gunzipped files)
    raw_sha256 = [
        ("c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888", X_train, 3),
        ("bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9", y_train, 1),
        ("5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b", X_test, 3),
        ("0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34", y_test, 1),
    ]
    for digest, array, ndim in raw_sha256:
        array = array.reshape(-1, 28, 28) if ndim == 3 else array
        assert hashlib.sha256(encode_idx(array.astype(np.uint8))).hexdigest() == digest


# ---------------------------------------------------------------------- scikit-learn data
def test_load_digits():
    X_train, y_train, X_test, y_test = load_digits()
    assert X_train.shape == (1438, 64) and X_test.shape == (359, 64)  # 1797 * 0.2 = 359.4
    assert X_train.dtype == np.float32 and y_train.dtype == np.int64
    assert 0.0 == X_train.min() and X_train.max() == 1.0 and X_test.max() <= 1.0
    counts = np.bincount(y_train) + np.bincount(y_test)
    np.testing.assert_allclose(np.bincount(y_test), counts * 0.2, atol=1)  # stratified
    raw = load_digits(scale=False)
    np.testing.assert_array_equal(raw[0] / 16, X_train)
    assert raw[0].max() == 16.0


def test_make_moons_standardised_on_training_part():
    X_train, y_train, X_test, y_test = make_moons(n_samples=1000, noise=0.2, seed=3)
    assert X_train.shape == (800, 2) and X_test.shape == (200, 2)
    assert X_train.dtype == np.float32 and y_test.dtype == np.int64
    assert sorted(set(y_train.tolist())) == [0, 1] and np.bincount(y_test).tolist() == [100, 100]
    np.testing.assert_allclose(X_train.mean(axis=0), 0, atol=1e-6)
    np.testing.assert_allclose(X_train.std(axis=0), 1, atol=1e-5)
    assert_same(make_moons(n_samples=1000, noise=0.2, seed=3), (X_train, y_train, X_test, y_test))
    assert not np.array_equal(make_moons(n_samples=1000, noise=0.2, seed=4)[0], X_train)
    assert make_moons()[0].shape == (4000, 2)


def test_breast_cancer_test_part_uses_training_statistics():
    X_train, y_train, X_test, y_test = load_breast_cancer(seed=1)
    assert X_train.shape == (455, 30) and X_test.shape == (114, 30)
    assert set(np.unique(y_train).tolist()) == {0, 1} and y_train.dtype == np.int64
    raw_train, raw_y, raw_test, _ = load_breast_cancer(seed=1, scale=False)
    np.testing.assert_array_equal(raw_y, y_train)
    mean, std = raw_train.astype(np.float64).mean(0), raw_train.astype(np.float64).std(0)
    np.testing.assert_allclose(X_test, (raw_test - mean) / std, rtol=1e-4, atol=1e-4)
    assert np.abs(X_test.mean(axis=0)).max() > 1e-3  # not re-centred on its own statistics


def test_sklearn_errors(monkeypatch):
    with pytest.raises(ValueError, match="test_size must be strictly between 0 and 1, got 1.0"):
        load_digits(test_size=1.0)
    with pytest.raises(ValueError, match="n_samples must be at least 4, got 2"):
        make_moons(n_samples=2)
    with pytest.raises(ValueError, match="noise must be >= 0, got -1"):
        make_moons(noise=-1)
    monkeypatch.setitem(sys.modules, "sklearn.datasets", None)
    with pytest.raises(ImportError, match=r"pip install scikit-learn .*tinygrad_mlp\[examples\]"):
        load_breast_cancer()


def test_scale_images():
    pixels = np.array([[0, 51, 255]], dtype=np.uint8)
    unit = scale_images(pixels)
    assert unit.dtype == np.float32
    np.testing.assert_array_equal(unit, np.array([[0.0, 0.2, 1.0]], dtype=np.float32))
    symmetric = scale_images(pixels, mode="symmetric")
    assert symmetric.dtype == np.float32
    np.testing.assert_allclose(symmetric, [[-1.0, -0.6, 1.0]], atol=1e-7)
    assert symmetric.min() == -1.0 and symmetric.max() == 1.0
    with pytest.raises(ValueError, match="mode must be 'unit' or 'symmetric', got 'zscore'"):
        scale_images(pixels, mode="zscore")
    with pytest.raises(TypeError, match="expects uint8 pixels .*got float64"):
        scale_images(pixels / 255.0)
