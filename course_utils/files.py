"""Files that are either whole or absent: every file the course writes goes through here.

A run killed part-way (Ctrl-C, the out-of-memory killer, a power cut) must
not leave half a model, figure or page that a later run then trusts. Each
writer here writes a temporary file in the target's folder, flushes it to
disk, and renames it over the target: a rename within one file system is
atomic, so readers see the old file or the new one, never a mixture.

This module imports nothing else of the course (it sits at the bottom).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import Iterator

__all__ = ["check_writable_folder", "replaced_atomically", "write_bytes_atomically", "write_text_atomically"]


@contextlib.contextmanager
def replaced_atomically(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; when the block ends normally, it replaces ``path``.

    The temporary name keeps ``path``'s suffix (Keras insists on ``.keras``)
    and starts with a dot, so folder listings and globs skip it. If the block
    raises, the temporary file is removed and ``path`` is left as it was.

    Parameters
    ----------
    path
        The file to create or replace; its folder is created if missing.

    Examples
    --------
    >>> with replaced_atomically("build/models/cnn.keras") as partial:  # doctest: +SKIP
    ...     model.save(partial)
    """
    target = Path(path)
    if target.is_dir():
        raise IsADirectoryError(f"{str(target)!r} is a folder; pass the path of a file to write")
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(prefix=f".{target.stem}.partial-", suffix=target.suffix, dir=target.parent)
    os.close(handle)
    partial = Path(name)
    try:
        yield partial
        if not partial.is_file():
            raise FileNotFoundError(f"nothing was written to {str(partial)!r} for {str(target)!r}")
        with partial.open("rb+") as written:
            os.fsync(written.fileno())
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)


def write_bytes_atomically(path: str | os.PathLike, content: bytes) -> Path:
    """Write ``content`` to ``path`` whole or not at all (see :func:`replaced_atomically`); return the path."""
    with replaced_atomically(path) as partial:
        partial.write_bytes(content)
    return Path(path)


def write_text_atomically(path: str | os.PathLike, text: str, encoding: str = "utf-8") -> Path:
    """Write ``text`` to ``path`` whole or not at all (see :func:`replaced_atomically`); return the path."""
    return write_bytes_atomically(path, text.encode(encoding))


def check_writable_folder(folder: str | os.PathLike) -> Path:
    """Create ``folder`` if needed and make sure files can be written in it; return it.

    Raises
    ------
    PermissionError
        When the folder cannot be created or written, with a message that says
        to choose another one.
    """
    target = Path(folder).expanduser()
    try:
        target.mkdir(parents=True, exist_ok=True)
        handle, name = tempfile.mkstemp(prefix=".write-check-", dir=target)
        os.close(handle)
        os.unlink(name)
    except OSError as error:
        raise PermissionError(
            f"cannot write in {str(target)!r} ({error.strerror or error}); choose a folder you can write to"
        ) from None
    return target
