"""Atomic file writes: the one place that knows how to replace a file without ever leaving a
half-written one (checkpoints, histories, IDX files and downloads all write through it)."""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import IO


@contextlib.contextmanager
def atomic_writer(path: str | os.PathLike, mode: str = "wb") -> Iterator[IO]:
    """Open a new temporary file beside ``path`` for writing (``mode`` "wb" or "w").

    When the block ends normally the file is flushed, fsync'ed and renamed over ``path`` (an
    atomic step on POSIX and Windows), and the directory entry is synced. When the block raises
    anything (KeyboardInterrupt included) the temporary file is deleted and ``path`` is left as it
    was: no reader ever sees a half-written file under the final name. Raise inside the block to
    reject what was written (e.g. a checksum mismatch).
    """
    path = Path(os.fspath(path))
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = _temp_beside(path)
    try:
        with os.fdopen(fd, mode, **({} if "b" in mode else {"encoding": "utf-8"})) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)


def _temp_beside(path: Path) -> tuple[int, Path]:
    """A new hidden file in ``path``'s folder with a plain new file's permissions (0o666 less
    the umask, unlike ``tempfile.mkstemp``'s 0o600): ``(fd, its path)``."""
    for _ in range(100):
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.part")
        try:
            return os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666), tmp
        except FileExistsError:
            continue
    raise FileExistsError(f"{path}: cannot create a temporary file beside it")


def _fsync_dir(directory: Path) -> None:
    """Make the rename durable where the OS allows fsync on a directory (best effort)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
