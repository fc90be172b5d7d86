"""Reading and writing IDX files, the format of MNIST and Fashion-MNIST.

An IDX file is a 4-byte magic number ``0x00 0x00 <dtype code> <ndim>``, then ``ndim`` big-endian
uint32 dimension sizes, then the values in row-major order, big-endian. MNIST ships its files
gzipped; ``read_idx`` recognises gzip by the file's first two bytes (``1f 8b``), never by its name.
Every problem with a file raises :class:`DatasetError` naming the file and what is wrong with it.
"""

from __future__ import annotations

import gzip as _gzip
import os
import zlib
from pathlib import Path
from typing import Any

import numpy as np

from .. import backend
from ..files import atomic_writer
from ..tensor import Tensor

GZIP_MAGIC = b"\x1f\x8b"

# IDX dtype code -> big-endian NumPy dtype (the codes of the format's definition)
IDX_DTYPES: dict[int, np.dtype] = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_CODES = {dt.newbyteorder("="): code for code, dt in IDX_DTYPES.items()}


class DatasetError(ValueError):
    """A data file is missing, unreadable, corrupt or inconsistent; the message names the file."""


def _read_bytes(path: Path) -> bytes:
    """The file's contents, gunzipped when it starts with the gzip magic bytes."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError as exc:
        raise DatasetError(f"{path}: no such file") from exc
    except OSError as exc:
        raise DatasetError(f"{path}: cannot read the file: {exc}") from exc
    if raw[:2] != GZIP_MAGIC:
        return raw
    try:
        return _gzip.decompress(raw)
    except (EOFError, OSError, zlib.error) as exc:
        raise DatasetError(f"{path}: corrupt or truncated gzip data: {exc}") from exc


def _parse_header(path: Path, data: bytes) -> tuple[np.dtype, tuple[int, ...], int]:
    """(big-endian dtype, shape, header length) of the IDX bytes ``data`` read from ``path``."""
    if len(data) < 4:
        raise DatasetError(f"{path}: {len(data)} bytes is too short for an IDX header (4 or more)")
    if data[0] != 0 or data[1] != 0:
        raise DatasetError(
            f"{path}: bad magic number {data[:4].hex()}: an IDX file starts with two zero bytes "
            "(is this an IDX file?)"
        )
    code, ndim = data[2], data[3]
    if code not in IDX_DTYPES:
        known = ", ".join(f"0x{c:02X}" for c in IDX_DTYPES)
        raise DatasetError(f"{path}: unknown IDX dtype code 0x{code:02X} (known: {known})")
    if ndim == 0:
        raise DatasetError(f"{path}: the IDX header declares 0 dimensions (1 or more expected)")
    header = 4 + 4 * ndim
    if len(data) < header:
        raise DatasetError(
            f"{path}: truncated header: {ndim} dimensions need {header} header bytes, "
            f"the file has {len(data)}"
        )
    shape = tuple(int(d) for d in np.frombuffer(data, dtype=">u4", count=ndim, offset=4))
    return IDX_DTYPES[code], shape, header


def read_idx(path: str | os.PathLike[str]) -> np.ndarray:
    """The array stored in the IDX file ``path`` (gzipped or raw), in native byte order.

    Raises :class:`DatasetError` when the file is missing, the magic number or dtype code is
    wrong, or the data is shorter or longer than its header's dimensions say.
    """
    path = Path(path)
    data = _read_bytes(path)
    dtype, shape, header = _parse_header(path, data)
    expected = int(np.prod(shape, dtype=object)) * dtype.itemsize
    actual = len(data) - header
    if actual != expected:
        problem = "truncated data" if actual < expected else "trailing bytes after the data"
        raise DatasetError(
            f"{path}: {problem}: shape {shape} of {dtype.newbyteorder('=').name} needs "
            f"{expected} bytes after the {header}-byte header, the file has {actual}"
        )
    values = np.frombuffer(data, dtype=dtype, offset=header).reshape(shape)
    return values.astype(dtype.newbyteorder("="))  # a writable native-order copy


def encode_idx(array: Any) -> bytes:
    """The raw (not gzipped) IDX bytes of ``array`` (uint8, int8, int16, int32, float32/64)."""
    array = to_host(array)
    native = array.dtype.newbyteorder("=")
    if native not in _CODES:
        names = ", ".join(dt.newbyteorder("=").name for dt in IDX_DTYPES.values())
        raise DatasetError(f"IDX cannot store dtype {array.dtype.name}; use one of {names}")
    if not 1 <= array.ndim <= 255:
        raise DatasetError(f"IDX stores arrays with 1 to 255 dimensions, got shape {array.shape}")
    if any(n > 0xFFFFFFFF for n in array.shape):
        raise DatasetError(f"IDX dimension sizes must fit in 32 bits, got shape {array.shape}")
    header = bytes([0, 0, _CODES[native], array.ndim])
    dims = np.asarray(array.shape, dtype=">u4").tobytes()
    body = np.ascontiguousarray(array, dtype=IDX_DTYPES[_CODES[native]]).tobytes()
    return header + dims + body


def write_idx(path: str | os.PathLike[str], array: Any, gzip: bool | None = None) -> Path:
    """Write ``array`` to ``path`` as an IDX file (gzipped when ``gzip`` is true, or when it is
    None and the name ends in ``.gz``); atomic: a reader never sees a half-written file.
    Returns the path."""
    path = Path(path)
    payload = encode_idx(array)
    if gzip is None:
        gzip = path.suffix == ".gz"
    if gzip:
        payload = _gzip.compress(payload, mtime=0)
    with atomic_writer(path) as f:
        f.write(payload)
    return path


def to_host(array: Any) -> np.ndarray:
    """A NumPy array holding ``array`` (a Tensor, an array of any backend, or array-like)."""
    if isinstance(array, Tensor):
        return array.numpy()
    if backend.is_array(array):
        return backend.to_numpy(array)
    return np.asarray(array)
