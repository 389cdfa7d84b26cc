"""Files out, safely: output paths checked before any work starts, files written
to a temporary name and renamed (a reader never sees half a file), folder names
from user text kept inside their parent, and one lock per output folder so that
two sweeps never write the same results.

Every check raises a :class:`ConfigError` naming the option (``--out``,
``--timeline``, ``--write``), so the CLI exits 2 before anything is simulated.
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

from tarsim.config.errors import ConfigError, Problem

LOCK_FILE = ".tarsim.lock"


def _refuse(option: str, rule: str, path: Path | str) -> ConfigError:
    return ConfigError([Problem(option, rule, str(path))])


def _nearest_existing(path: Path) -> Path:
    for candidate in (path, *path.parents):
        if os.path.lexists(candidate):
            return candidate
    return Path(".")


def check_output_file(path: str | Path, option: str) -> Path:
    """*path* if a file can be written there: its folder exists and is writable,
    and it is not itself a folder."""
    file = Path(path)
    folder = file.parent if str(file.parent) else Path(".")
    if file.is_dir():
        raise _refuse(option, "is a folder, not a file", file)
    if not folder.exists():
        raise _refuse(option, f"cannot be written: no folder {str(folder)!r}", file)
    if not folder.is_dir():
        raise _refuse(option, f"cannot be written: {str(folder)!r} is a file, not a folder",
                      file)
    if not os.access(folder, os.W_OK | os.X_OK):
        raise _refuse(option, f"cannot be written: folder {str(folder)!r} is read-only", file)
    if file.exists() and not os.access(file, os.W_OK):
        raise _refuse(option, "cannot be written: the file is read-only", file)
    return file


def check_output_folder(path: str | Path, option: str, *, ours: Callable[[Path], bool],
                        reuse: bool) -> Path:
    """*path* if results can be written there: it is (or can be made) a writable
    folder, and it is empty, was made by tarsim (*ours*), or *reuse* is given."""
    folder = Path(path)
    if folder.exists() and not folder.is_dir():
        raise _refuse(option, "is a file, not a folder", folder)
    existing = _nearest_existing(folder)
    if not existing.is_dir():
        raise _refuse(option, f"cannot be made: {str(existing)!r} is a file, not a folder",
                      folder)
    if not os.access(existing, os.W_OK | os.X_OK):
        raise _refuse(option, f"cannot be written: {str(existing)!r} is read-only", folder)
    if folder.is_dir() and not reuse and any(folder.iterdir()) and not ours(folder):
        raise _refuse(option, "holds files tarsim did not write: choose an empty or new "
                      "folder, or add --force to write there anyway", folder)
    return folder


def safe_name(name: str) -> str:
    """*name* as one folder name that stays inside its parent: path separators,
    dots at the start and anything but letters, digits, ``.``, ``-`` and ``_``
    become ``_`` (``../../x`` -> ``_.._x``)."""
    cleaned = re.sub(r"[^A-Za-z0-9._-]", "_", name).lstrip(".")
    return cleaned[:100] or "experiment"


def atomic_write(path: str | Path, write: Callable[[IO[Any]], object], *,
                 binary: bool = False) -> Path:
    """Write *path* through *write* on a temporary file in the same folder, then
    rename it into place: the old file stays whole until the new one is."""
    target = Path(path)
    handle, tmp = tempfile.mkstemp(dir=target.parent or Path("."), prefix=f".{target.name}.",
                                   suffix=".tmp")
    try:
        out: IO[Any]
        if binary:
            out = os.fdopen(handle, "wb")
        else:
            out = os.fdopen(handle, "w", encoding="utf-8", newline="")
        with out:
            write(out)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return target


def atomic_write_text(path: str | Path, text: str) -> Path:
    return atomic_write(path, lambda out: out.write(text))


@contextlib.contextmanager
def writing(path: Path, option: str) -> Iterator[None]:
    """Turn a failed write under *path* (a full disk, a folder made read-only) into
    a ConfigError naming *option*."""
    try:
        yield
    except OSError as exc:
        raise _refuse(option, f"cannot be written ({exc.strerror or exc})", path) from None


@contextlib.contextmanager
def folder_lock(folder: Path, option: str = "--out") -> Iterator[None]:
    """Hold the lock of *folder* for the duration; a second holder is refused at
    once (naming the folder) rather than writing the same results twice."""
    import fcntl

    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / LOCK_FILE, "a+", encoding="utf-8") as lock:
        try:
            fcntl.flock(lock.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise _refuse(option, "is in use by another tarsim sweep (wait for it to "
                          "finish, or choose another folder)", folder) from None
        try:
            lock.seek(0)
            lock.truncate()
            lock.write(f"{os.getpid()}\n")
            lock.flush()
            yield
        finally:
            fcntl.flock(lock.fileno(), fcntl.LOCK_UN)
