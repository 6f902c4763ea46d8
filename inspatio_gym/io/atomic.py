"""Files and folders that appear whole or not at all.

Everything the project writes for later use (videos, images, checkpoints, geometry folders,
cache entries) is written under a temporary name beside the target and renamed over it
only when complete, so a crash or Ctrl-C never leaves a half-written file or folder under
the final name. One rule for both: a temporary is named ``.tmp-<name>.<random><suffix>``
(so sweepers recognise leftovers with `is_temporary`), is removed on any exception, and
gets the permissions a plain open() or mkdir() would give before it is renamed.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from pathlib import Path
from typing import Iterator

__all__ = ["atomic_path", "atomic_dir", "is_temporary", "TEMP_PREFIX"]

#: Every temporary file or folder starts with this, and nothing else the project writes does.
TEMP_PREFIX = ".tmp-"


def is_temporary(path: str | Path) -> bool:
    """True for a leftover temporary of atomic_path or atomic_dir (never a finished target)."""
    return Path(path).name.startswith(TEMP_PREFIX)


def _umask() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return umask


def _remove(tmp: Path) -> None:
    """The cleanup rule: a temporary file or folder goes, whatever it holds."""
    if tmp.is_dir():
        shutil.rmtree(tmp, ignore_errors=True)
    else:
        tmp.unlink(missing_ok=True)


@contextlib.contextmanager
def atomic_path(path: str | Path, suffix: str = ".tmp") -> Iterator[str]:
    """Yield a temporary file path beside `path` (ending in `suffix`, so writers that go by
    the extension pick the right format); rename it to `path` on success, delete it on any
    exception."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f"{TEMP_PREFIX}{path.stem}.", suffix=suffix, dir=path.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        yield name
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes it private; give it a plain file's mode
        os.replace(tmp, path)
    except BaseException:
        _remove(tmp)
        raise


@contextlib.contextmanager
def atomic_dir(path: str | Path, keep_existing: bool = False) -> Iterator[Path]:
    """Yield a temporary folder beside `path`; rename it to `path` when the block completes,
    remove it on any exception.

    A finished folder is never overwritten. keep_existing=False: `path` must not exist or
    be an empty folder (FileExistsError otherwise, checked before anything is written).
    keep_existing=True, for writers racing to make the same content (a cache entry): when
    another writer's folder is already there at the rename, theirs is kept and this one
    discarded.
    """
    path = Path(path)
    if not keep_existing and path.exists() and (not path.is_dir() or any(path.iterdir())):
        raise FileExistsError(f"{str(path)!r} already exists and is not an empty folder")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f"{TEMP_PREFIX}{path.name}.", dir=path.parent))
    try:
        yield tmp
        os.chmod(tmp, 0o777 & ~_umask())  # mkdtemp makes it private; give it a plain folder's mode
        try:
            os.replace(tmp, path)  # replaces an empty folder; fails on a full one
        except OSError:
            if not (keep_existing and path.is_dir()):
                raise
            _remove(tmp)  # another writer finished first: keep theirs
    except BaseException:
        _remove(tmp)
        raise
