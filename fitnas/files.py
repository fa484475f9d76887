"""Writing files and folders so that a crash or a full disk never leaves half of one."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = ["staged_folder", "write_atomic"]


def write_atomic(path: str | Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file in the same folder, then
    ``os.replace``: the old file or the new one is there, never half of either. The folder is
    made if need be; ``OSError`` reaches the caller (which names the file in its own error)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}-", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@contextmanager
def staged_folder(folder: str | Path, force: bool, what: str) -> Iterator[Path]:
    """Write a whole output folder or nothing: yields an empty scratch folder beside
    ``folder``; when the block finishes, the scratch folder takes ``folder``'s place in one
    rename (an old ``folder`` is moved aside first and removed after), and when it raises, the
    scratch folder is removed and ``folder`` is as it was.

    An existing, non-empty ``folder`` is refused before anything is written unless ``force``
    (:class:`~fitnas.errors.FitnasError`, one line naming ``what``, the folder and ``--force``).
    """
    from .errors import FitnasError

    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise FitnasError(f"{what}: {str(folder)!r} is a file, not a folder")
    if folder.is_dir() and any(folder.iterdir()) and not force:
        raise FitnasError(f"{what}: {str(folder)!r} already exists; replace it with --force or "
                          "choose another --out")
    try:
        folder.parent.mkdir(parents=True, exist_ok=True)
        scratch = Path(tempfile.mkdtemp(prefix=f".{folder.name}.tmp-", dir=folder.parent))
    except OSError as err:
        raise FitnasError(f"{what}: cannot write to {str(folder.parent)!r}: "
                          f"{err.strerror or err}") from None
    try:
        yield scratch
        old = None
        if folder.exists():
            old = folder.parent / f".{folder.name}.old-{os.getpid()}"
            shutil.rmtree(old, ignore_errors=True)
            os.replace(folder, old)
        os.replace(scratch, folder)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except OSError as err:
        raise FitnasError(f"{what}: cannot write {str(folder)!r}: {err.strerror or err}"
                          ) from None
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
