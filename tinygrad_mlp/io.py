"""Checkpoints: ``save(obj, path)`` / ``load(path)`` without pickle.

A checkpoint is a ``.npz`` archive (a zip of ``.npy`` files) holding every array of ``obj`` plus
one more member, ``__manifest__``: UTF-8 JSON that records the nesting of ``obj`` (dict keys
with their types, so optimizer states keyed by ``int`` come back keyed by ``int``; lists versus
tuples; Python scalars exactly) and the dtype, shape and SHA-256 of every array. ``load`` opens
the archive with ``allow_pickle=False`` (so loading can never run code), refuses object arrays
and checks every array against its digest, so a tampered or corrupted file is reported, not
silently loaded.

Writes are atomic (``files.atomic_writer``): the archive goes to a temporary file in the same
directory, is flushed and fsync'ed, then renamed over ``path``. If anything fails (or the process
is interrupted) the temporary file is removed and a file already at ``path`` is left untouched.
"""

from __future__ import annotations

import hashlib
import json
import os
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
from numpy.lib import format as npy_format

from . import backend
from .files import atomic_writer
from .tensor import Tensor

FORMAT = "tinygrad_mlp.checkpoint"
VERSION = 1
_MANIFEST = "__manifest__"
_ARRAY_KINDS = "biufc"  # bool, int, uint, float, complex: never object / void


class CheckpointError(ValueError):
    """A checkpoint file is missing, truncated, corrupted, tampered with or not a checkpoint."""


def _digest(array: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(array).tobytes()).hexdigest()


def _host_array(value: Any, where: str) -> np.ndarray:
    if isinstance(value, Tensor):
        array = value.numpy()
    elif isinstance(value, np.ndarray):
        array = value
    else:
        array = backend.to_numpy(value)
    if array.dtype.kind not in _ARRAY_KINDS:
        raise TypeError(
            f"cannot save the array at {where!r}: dtype {array.dtype} is not numeric "
            "(object and structured arrays would need pickle)"
        )
    return array


class _Encoder:
    """Turns a nested object into a JSON tree plus a dict of named host arrays."""

    def __init__(self) -> None:
        self.arrays: dict[str, np.ndarray] = {}
        self.meta: dict[str, dict[str, Any]] = {}

    def add_array(self, array: np.ndarray, kind: str, where: str) -> dict[str, Any]:
        name = f"a{len(self.arrays)}"
        self.arrays[name] = array
        self.meta[name] = {
            "at": where,
            "dtype": array.dtype.str,
            "shape": list(array.shape),
            "sha256": _digest(array),
        }
        return {"t": kind, "ref": name}

    def encode(self, value: Any, where: str) -> dict[str, Any]:
        if isinstance(value, np.generic):  # before float: np.float64 subclasses float
            return self.add_array(_host_array(np.asarray(value), where), "scalar", where)
        if value is None or isinstance(value, bool | str):
            return {"t": "none" if value is None else type(value).__name__, "v": value}
        if isinstance(value, int):
            return {"t": "int", "v": int(value)}
        if isinstance(value, float):
            return {"t": "float", "v": repr(value)}  # repr round-trips exactly, nan/inf included
        if isinstance(value, Tensor | np.ndarray) or backend.is_array(value):
            return self.add_array(_host_array(value, where), "array", where)
        if isinstance(value, list | tuple):
            items = [self.encode(v, f"{where}[{i}]") for i, v in enumerate(value)]
            return {"t": type(value).__name__, "items": items}
        if isinstance(value, dict):
            return {
                "t": "dict",
                "items": [self._encode_item(k, v, where) for k, v in value.items()],
            }
        raise TypeError(
            f"cannot save a value of type {type(value).__name__} at {where!r}; supported: dicts, "
            "lists, tuples, arrays, Tensors, int, float, bool, str, None"
        )

    def _encode_item(self, key: Any, value: Any, where: str) -> list[Any]:
        if isinstance(key, bool) or not isinstance(key, str | int):
            raise TypeError(f"dict keys must be str or int, got {key!r} in {where!r}")
        path = f"{where}.{key}" if where else str(key)
        return [type(key).__name__, key, self.encode(value, path)]


def save(obj: Any, path: str | os.PathLike, compress: bool = False) -> None:
    """Write ``obj`` (nested dicts/lists of arrays, Tensors and Python scalars) to ``path``.

    Tensors and device arrays are stored as host NumPy arrays. The write is atomic (see the
    module docstring); nothing is written when ``obj`` holds an unsupported value.
    """
    path = Path(os.fspath(path))
    encoder = _Encoder()
    tree = encoder.encode(obj, "")
    manifest = {"format": FORMAT, "version": VERSION, "tree": tree, "arrays": encoder.meta}
    blob = np.frombuffer(json.dumps(manifest).encode("utf-8"), dtype=np.uint8)
    with atomic_writer(path) as f:
        _write_npz(f, {**encoder.arrays, _MANIFEST: blob}, compress)


def _write_npz(f: Any, arrays: dict[str, np.ndarray], compress: bool) -> None:
    """An .npz archive (as ``numpy.savez``) written with ``allow_pickle=False``."""
    mode = zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED
    with zipfile.ZipFile(f, mode="w", compression=mode, allowZip64=True) as archive:
        for name, array in arrays.items():
            with archive.open(name + ".npy", "w", force_zip64=True) as member:
                npy_format.write_array(member, np.asarray(array), allow_pickle=False)


def load(path: str | os.PathLike) -> Any:
    """Read a checkpoint written by ``save``: the same nesting, arrays as NumPy arrays.

    Raises ``CheckpointError`` naming the file when it is missing, truncated, corrupted,
    modified after saving, or not a tinygrad_mlp checkpoint.
    """
    path = Path(os.fspath(path))
    if not path.exists():
        raise CheckpointError(f"checkpoint file {str(path)!r} does not exist")
    if not path.is_file():
        raise CheckpointError(f"checkpoint path {str(path)!r} is not a file")
    with open(path, "rb") as f:
        magic = f.read(4)
    if magic[:2] != b"PK":
        raise CheckpointError(
            f"{str(path)!r} is not a tinygrad_mlp checkpoint: not an .npz (zip) archive"
            + (" (the file is empty)" if not magic else "")
        )
    try:
        with np.load(path, allow_pickle=False) as archive:
            manifest = _read_manifest(archive, path)
            arrays = {
                name: _read_array(archive, name, meta, path)
                for name, meta in manifest["arrays"].items()
            }
            extra = sorted(set(archive.files) - set(arrays) - {_MANIFEST})
    except CheckpointError:
        raise
    except (ValueError, OSError, EOFError, KeyError, zipfile.BadZipFile) as exc:
        raise CheckpointError(
            f"cannot read checkpoint {str(path)!r}: {type(exc).__name__}: {exc} "
            "(the file is truncated, corrupted or not a checkpoint)"
        ) from exc
    if extra:
        raise CheckpointError(f"checkpoint {str(path)!r} holds arrays not in its manifest: {extra}")
    try:
        return _decode(manifest["tree"], arrays)
    except (KeyError, TypeError, ValueError, IndexError) as exc:
        raise CheckpointError(f"checkpoint {str(path)!r} has a malformed manifest: {exc}") from exc


def _read_manifest(archive: Any, path: Path) -> dict[str, Any]:
    if _MANIFEST not in archive.files:
        raise CheckpointError(
            f"{str(path)!r} is not a tinygrad_mlp checkpoint: it has no {_MANIFEST!r} member "
            f"(members: {sorted(archive.files)[:10]})"
        )
    raw = _member(archive, _MANIFEST, path)
    try:
        manifest = json.loads(raw.tobytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CheckpointError(
            f"checkpoint {str(path)!r} has an unreadable manifest: {exc}"
        ) from exc
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise CheckpointError(f"{str(path)!r} is not a tinygrad_mlp checkpoint (bad manifest)")
    if manifest.get("version") != VERSION:
        raise CheckpointError(
            f"checkpoint {str(path)!r} has format version {manifest.get('version')!r}; "
            f"this tinygrad_mlp reads version {VERSION}"
        )
    if not isinstance(manifest.get("arrays"), dict) or "tree" not in manifest:
        raise CheckpointError(f"checkpoint {str(path)!r} has a malformed manifest")
    return manifest


def _member(archive: Any, name: str, path: Path) -> np.ndarray:
    """``archive[name]`` (ValueError for object arrays: allow_pickle=False). NumPy returns the raw
    bytes of a member that is not a .npy array, e.g. a pickle: refused, never unpickled."""
    value = archive[name]
    if not isinstance(value, np.ndarray):
        raise CheckpointError(
            f"checkpoint {str(path)!r}: member {name!r} is not a .npy array (a pickle or other "
            "data); refused"
        )
    return value


def _read_array(archive: Any, name: str, meta: Any, path: Path) -> np.ndarray:
    if name not in archive.files:
        raise CheckpointError(
            f"checkpoint {str(path)!r} lacks array {name!r} named in its manifest"
        )
    array = _member(archive, name, path)
    if array.dtype.kind not in _ARRAY_KINDS:
        raise CheckpointError(f"checkpoint {str(path)!r}: array {name!r} has dtype {array.dtype}")
    if (
        not isinstance(meta, dict)
        or array.dtype.str != meta.get("dtype")
        or list(array.shape) != meta.get("shape")
        or _digest(array) != meta.get("sha256")
    ):
        where = meta.get("at") if isinstance(meta, dict) else None
        raise CheckpointError(
            f"checkpoint {str(path)!r}: array {name!r} (at {where!r}) does not match the "
            "SHA-256/dtype/shape in its manifest; the file was modified or corrupted after saving"
        )
    return array


def _decode(node: dict[str, Any], arrays: dict[str, np.ndarray]) -> Any:
    kind = node["t"]
    if kind in ("none", "bool", "str", "int"):
        value = node["v"]
        expected = {"none": type(None), "bool": bool, "str": str, "int": int}[kind]
        if type(value) is not expected:
            raise TypeError(f"a {kind} node holds {value!r}")
        return value
    if kind == "float":
        return float(node["v"])
    if kind == "array":
        return arrays[node["ref"]]
    if kind == "scalar":
        return arrays[node["ref"]][()]
    if kind in ("list", "tuple"):
        items = [_decode(item, arrays) for item in node["items"]]
        return items if kind == "list" else tuple(items)
    if kind == "dict":
        out: dict[Any, Any] = {}
        for key_type, key, item in node["items"]:
            if {"str": str, "int": int}[key_type] is not type(key):
                raise TypeError(f"dict key {key!r} recorded as {key_type}")
            out[key] = _decode(item, arrays)
        return out
    raise ValueError(f"unknown node type {kind!r}")
