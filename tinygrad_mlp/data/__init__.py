"""Data for training: mini-batches, splits, IDX files, MNIST / Fashion-MNIST, scikit-learn sets.

- :class:`DataLoader` — shuffled mini-batches as Tensors on any device; :func:`train_val_split`.
- :func:`read_idx` / :func:`write_idx` — the IDX format of MNIST (gzipped or raw).
- :func:`load_mnist`, :func:`load_fashion_mnist` — ``(X_train, y_train, X_test, y_test)`` as uint8
  images ``(N, 784)`` and int64 labels; :func:`scale_images` maps the pixels to float32.
- :func:`load_digits`, :func:`make_moons`, :func:`load_breast_cancer` — scikit-learn's offline
  data, split stratified and scaled, float32 features and int64 labels.
"""

from .datasets import (
    ENV_VAR,
    FASHION_MNIST_CLASSES,
    SOURCES,
    SYSTEM_DIRS,
    cache_dir,
    download_file,
    load_breast_cancer,
    load_digits,
    load_fashion_mnist,
    load_mnist,
    make_moons,
    scale_images,
    search_dirs,
    standardize,
)
from .idx import DatasetError, read_idx, write_idx
from .loader import DataLoader, train_val_split

__all__ = [
    "ENV_VAR",
    "FASHION_MNIST_CLASSES",
    "SOURCES",
    "SYSTEM_DIRS",
    "DataLoader",
    "DatasetError",
    "cache_dir",
    "download_file",
    "load_breast_cancer",
    "load_digits",
    "load_fashion_mnist",
    "load_mnist",
    "make_moons",
    "read_idx",
    "scale_images",
    "search_dirs",
    "standardize",
    "train_val_split",
    "write_idx",
]
