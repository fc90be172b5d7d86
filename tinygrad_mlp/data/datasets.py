"""Data sets: MNIST and Fashion-MNIST from IDX files, and scikit-learn's offline data.

MNIST-style files are looked for, in this order, in
1. ``data_dir`` (and its subfolder named after the data set, ``mnist`` / ``fashion-mnist``; a
   ``data_dir`` that is not a directory is an error, not skipped),
2. the directory named by the environment variable ``TINYGRAD_MLP_DATA`` (and that subfolder),
3. the per-user cache ``$XDG_CACHE_HOME/tinygrad_mlp/<name>`` (``~/.cache/...`` by default),
   where ``download=True`` puts the files,
4. system directories (:data:`SYSTEM_DIRS`): Debian's ``dataset-fashion-mnist`` package installs
   Fashion-MNIST in ``/usr/share/datasets/fashion-mnist``.
The first directory that holds all four files (each raw or gzipped) is used.

Downloads come from the canonical locations and are checked against their SHA-256 digests
(:data:`SOURCES`) before they are used; a file is written atomically, so an interrupted download
never leaves a half file behind.
"""

from __future__ import annotations

import hashlib
import http.client
import importlib
import os
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from ..files import atomic_writer
from .idx import DatasetError, read_idx, to_host
from .loader import train_val_split

ENV_VAR = "TINYGRAD_MLP_DATA"
FILES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)
FASHION_MNIST_CLASSES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)  # fmt: skip


@dataclass(frozen=True)
class Source:
    """Where a data set's gzipped IDX files are downloaded from, and their SHA-256 digests."""

    title: str
    base_url: str
    sha256: dict[str, str]  # "<file>.gz" -> hex digest


# MNIST: the mirror torchvision downloads from; Fashion-MNIST: Zalando's S3 bucket named in the
# fashion-mnist README. The digests are those TensorFlow Datasets records for these files
# (tensorflow_datasets/url_checksums/{mnist,fashion_mnist}.txt).
SOURCES: dict[str, Source] = {
    "mnist": Source(
        "MNIST",
        "https://ossci-datasets.s3.amazonaws.com/mnist/",
        {
            "train-images-idx3-ubyte.gz": (
                "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609"
            ),
            "train-labels-idx1-ubyte.gz": (
                "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c"
            ),
            "t10k-images-idx3-ubyte.gz": (
                "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6"
            ),
            "t10k-labels-idx1-ubyte.gz": (
                "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6"
            ),
        },
    ),
    "fashion-mnist": Source(
        "Fashion-MNIST",
        "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
        {
            "train-images-idx3-ubyte.gz": (
                "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84"
            ),
            "train-labels-idx1-ubyte.gz": (
                "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845"
            ),
            "t10k-images-idx3-ubyte.gz": (
                "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073"
            ),
            "t10k-labels-idx1-ubyte.gz": (
                "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5"
            ),
        },
    ),
}

# Directories that system packages install data sets into (searched last).
SYSTEM_DIRS: dict[str, list[str]] = {
    "mnist": [],
    "fashion-mnist": ["/usr/share/datasets/fashion-mnist"],
}

Arrays = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]


# ---------------------------------------------------------------------- MNIST-style files
def load_mnist(data_dir: str | os.PathLike[str] | None = None, download: bool = False) -> Arrays:
    """MNIST as ``(X_train, y_train, X_test, y_test)``: uint8 images ``(60000, 784)`` and
    ``(10000, 784)``, int64 labels 0-9. See the module docstring for where files are looked for;
    ``download=True`` fetches missing files into the cache directory (needs a network)."""
    return _load_idx_dataset("mnist", data_dir, download)


def load_fashion_mnist(
    data_dir: str | os.PathLike[str] | None = None, download: bool = False
) -> Arrays:
    """Fashion-MNIST, like :func:`load_mnist` (class names in :data:`FASHION_MNIST_CLASSES`).

    On Debian/Ubuntu ``apt-get install dataset-fashion-mnist`` provides the files offline."""
    return _load_idx_dataset("fashion-mnist", data_dir, download)


def cache_dir(name: str | None = None) -> Path:
    """The per-user cache: ``$XDG_CACHE_HOME/tinygrad_mlp[/name]``, else ``~/.cache/...``."""
    root = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    path = Path(root) / "tinygrad_mlp"
    return path / name if name else path


def search_dirs(name: str, data_dir: str | os.PathLike[str] | None = None) -> list[Path]:
    """The directories searched for data set ``name``, in order (duplicates removed)."""
    _source(name)
    roots: list[Path] = []
    for base in (data_dir, os.environ.get(ENV_VAR) or None):
        if base is not None:
            base = Path(base).expanduser()
            roots += [base, base / name]
    roots.append(cache_dir(name))
    roots += [Path(d) for d in SYSTEM_DIRS.get(name, [])]
    return list(dict.fromkeys(roots))


def _source(name: str) -> Source:
    if name not in SOURCES:
        raise ValueError(f"unknown data set {name!r}; expected one of {sorted(SOURCES)}")
    return SOURCES[name]


def _files_in(directory: Path) -> tuple[dict[str, Path], list[str]]:
    """The four files found in ``directory`` (raw preferred over .gz) and the names missing."""
    found, missing = {}, []
    for base in FILES:
        for candidate in (directory / base, directory / f"{base}.gz"):
            if candidate.is_file():
                found[base] = candidate
                break
        else:
            missing.append(base)
    return found, missing


def _load_idx_dataset(name: str, data_dir: Any, download: bool) -> Arrays:
    if data_dir is not None and not Path(data_dir).expanduser().is_dir():
        raise DatasetError(
            f"data_dir {os.fspath(data_dir)}: no such directory (pass the directory that holds "
            f"the {_source(name).title} files, or leave data_dir out to search {ENV_VAR}, the "
            "cache and the system directories)"
        )
    dirs = search_dirs(name, data_dir)
    report = []
    for directory in dirs:
        found, missing = _files_in(directory)
        if not missing:
            return _read_split(found)
        if not directory.is_dir():
            report.append(f"  {directory} (no such directory)")
        elif len(missing) == len(FILES):
            report.append(f"  {directory} (none of the files)")
        else:
            report.append(f"  {directory} (missing {', '.join(m + '[.gz]' for m in missing)})")
    if download:
        return _read_split(_download_all(name))
    raise DatasetError(_missing_message(name, report))


def _missing_message(name: str, report: list[str]) -> str:
    source = _source(name)
    fn = "load_mnist" if name == "mnist" else "load_fashion_mnist"
    lines = [
        f"{source.title} not found: no directory holds all four files "
        f"{', '.join(FILES)} (each raw or .gz). Looked in:",
        *report,
        "To get the files:",
        f"  - data.{fn}(download=True) (--download on the command line) downloads them into "
        f"{cache_dir(name)} (needs a network)",
        f"  - or copy the four .gz files from {source.base_url} into a directory and pass it as "
        f"data_dir= (--data-dir on the command line) or set {ENV_VAR}",
    ]
    if name == "fashion-mnist":
        lines.append(
            "  - on Debian/Ubuntu: apt-get install dataset-fashion-mnist "
            "(installs them in /usr/share/datasets/fashion-mnist)"
        )
    lines.append(
        "  - offline alternative with no files: pip install scikit-learn "
        "(or pip install 'tinygrad_mlp[examples]') and use data.load_digits()"
    )
    return "\n".join(lines)


def _read_split(found: dict[str, Path]) -> Arrays:
    train_images, test_images = found["train-images-idx3-ubyte"], found["t10k-images-idx3-ubyte"]
    X_train, y_train = _read_pair(train_images, found["train-labels-idx1-ubyte"])
    X_test, y_test = _read_pair(test_images, found["t10k-labels-idx1-ubyte"])
    if X_train.shape[1] != X_test.shape[1]:
        raise DatasetError(
            f"{train_images} has {X_train.shape[1]} pixels per image but "
            f"{test_images} has {X_test.shape[1]}"
        )
    return X_train, y_train, X_test, y_test


def _read_pair(images_path: Path, labels_path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Images flattened to ``(N, rows * cols)`` uint8 and labels ``(N,)`` int64."""
    images, labels = read_idx(images_path), read_idx(labels_path)
    if images.ndim != 3 or images.dtype != np.uint8:
        raise DatasetError(
            f"{images_path}: expected uint8 images of shape (N, rows, cols), got "
            f"{images.dtype.name} of shape {images.shape}"
        )
    if labels.ndim != 1 or labels.dtype.kind not in "iu":
        raise DatasetError(
            f"{labels_path}: expected integer labels of shape (N,), got "
            f"{labels.dtype.name} of shape {labels.shape}"
        )
    if images.shape[0] != labels.shape[0]:
        raise DatasetError(
            f"image and label counts disagree: {images_path} has {images.shape[0]} images, "
            f"{labels_path} has {labels.shape[0]} labels"
        )
    return images.reshape(images.shape[0], -1), labels.astype(np.int64)


# ---------------------------------------------------------------------- downloads
def _open_url(url: str) -> BinaryIO:
    """Open ``url`` for reading (the one place that touches the network; tests replace it)."""
    return urllib.request.urlopen(url, timeout=60)


def _download_all(name: str) -> dict[str, Path]:
    """Fetch the files missing from the cache directory, verify them, and return all four."""
    source, target = _source(name), cache_dir(name)
    found, missing = _files_in(target)
    for base in missing:
        found[base] = download_file(
            source.base_url + f"{base}.gz", target / f"{base}.gz", source.sha256[f"{base}.gz"]
        )
    return found


def download_file(url: str, dest: Path, sha256: str) -> Path:
    """Download ``url`` to ``dest`` atomically, keeping it only if its SHA-256 is ``sha256``.

    A digest mismatch removes the downloaded bytes and raises :class:`DatasetError` naming the
    file and both digests; a network failure raises :class:`DatasetError` naming the URL."""
    dest = Path(dest)
    digest = hashlib.sha256()
    try:
        with atomic_writer(dest) as out, _open_url(url) as response:
            while chunk := response.read(1 << 20):
                digest.update(chunk)
                out.write(chunk)
            actual = digest.hexdigest()
            if actual != sha256.lower():  # raising here discards the temporary file
                raise DatasetError(
                    f"checksum mismatch for {dest.name} downloaded from {url}: expected SHA-256 "
                    f"{sha256.lower()}, got {actual}; the file was removed (try again, or get it "
                    "by hand)"
                )
    except (urllib.error.URLError, http.client.HTTPException, OSError) as exc:
        raise DatasetError(f"downloading {url} to {dest} failed: {exc}") from exc
    return dest


# ---------------------------------------------------------------------- scikit-learn data
def _sklearn_datasets() -> Any:
    try:
        return importlib.import_module("sklearn.datasets")
    except ImportError as exc:
        raise ImportError(
            "this data set comes with scikit-learn, which is not installed: "
            "pip install scikit-learn (or pip install 'tinygrad_mlp[examples]')"
        ) from exc


def _split(X: np.ndarray, y: np.ndarray, test_size: float, seed: int | None) -> Arrays:
    if isinstance(test_size, bool) or not isinstance(test_size, int | float):
        raise TypeError(f"test_size must be a number, got {type(test_size).__name__}")
    if not 0.0 < test_size < 1.0:
        raise ValueError(f"test_size must be strictly between 0 and 1, got {test_size}")
    X_train, X_test, y_train, y_test = train_val_split(X, y, test_size, stratify=True, seed=seed)
    return X_train, y_train.astype(np.int64), X_test, y_test.astype(np.int64)


def standardize(X_train: np.ndarray, X_test: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Both parts shifted and scaled by the training part's per-feature mean and standard
    deviation (a constant feature is only shifted), as float32."""
    mean = X_train.mean(axis=0, dtype=np.float64)
    std = X_train.std(axis=0, dtype=np.float64)
    std[std == 0] = 1.0
    return ((X_train - mean) / std).astype(np.float32), ((X_test - mean) / std).astype(np.float32)


def _finish(X: np.ndarray, y: np.ndarray, test_size: float, seed: int | None, scale: bool):
    X_train, y_train, X_test, y_test = _split(X, y, test_size, seed)
    if scale:
        X_train, X_test = standardize(X_train, X_test)
    return X_train.astype(np.float32), y_train, X_test.astype(np.float32), y_test


def load_digits(test_size: float = 0.2, seed: int | None = 0, scale: bool = True) -> Arrays:
    """scikit-learn's 8x8 digits (1,797 images, 64 features, 10 classes), split stratified.

    ``scale=True`` divides the pixel values (0-16) by 16, keeping them in [0, 1] (standardising
    would blow up the always-zero border pixels); ``False`` keeps 0-16. Returns
    ``(X_train, y_train, X_test, y_test)``, float32 features and int64 labels."""
    bunch = _sklearn_datasets().load_digits()
    X_train, y_train, X_test, y_test = _split(bunch.data, bunch.target, test_size, seed)
    if scale:
        X_train, X_test = X_train / 16.0, X_test / 16.0
    return X_train.astype(np.float32), y_train, X_test.astype(np.float32), y_test


def make_moons(
    n_samples: int = 5000,
    noise: float = 0.1,
    test_size: float = 0.2,
    seed: int | None = 0,
    scale: bool = True,
) -> Arrays:
    """Two interleaving half circles (2 features, 2 classes) from scikit-learn, drawn with
    ``seed``; ``scale=True`` standardises with the training part's mean and std."""
    if isinstance(n_samples, bool) or not isinstance(n_samples, int | np.integer):
        raise TypeError(f"n_samples must be an int, got {type(n_samples).__name__}")
    if n_samples < 4:
        raise ValueError(f"n_samples must be at least 4, got {n_samples}")
    if not noise >= 0:
        raise ValueError(f"noise must be >= 0, got {noise}")
    X, y = _sklearn_datasets().make_moons(n_samples=int(n_samples), noise=noise, random_state=seed)
    return _finish(X, y, test_size, seed, scale)


def load_breast_cancer(test_size: float = 0.2, seed: int | None = 0, scale: bool = True) -> Arrays:
    """scikit-learn's Wisconsin breast cancer data (569 samples, 30 features, binary: 0 malignant,
    1 benign); ``scale=True`` standardises with the training part's mean and std."""
    bunch = _sklearn_datasets().load_breast_cancer()
    return _finish(bunch.data, bunch.target, test_size, seed, scale)


def scale_images(X: Any, mode: str = "unit") -> np.ndarray:
    """uint8 pixels as float32: ``mode="unit"`` maps 0-255 to [0, 1], ``"symmetric"`` to
    [-1, 1]."""
    if mode not in ("unit", "symmetric"):
        raise ValueError(f"mode must be 'unit' or 'symmetric', got {mode!r}")
    X = to_host(X)
    if X.dtype != np.uint8:
        raise TypeError(f"scale_images expects uint8 pixels (0-255), got {X.dtype.name}")
    out = X.astype(np.float32) / np.float32(255.0)
    return out * np.float32(2.0) - np.float32(1.0) if mode == "symmetric" else out
