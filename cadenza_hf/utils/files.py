"""Small file helpers: atomic writes so a failure never leaves a partial output file."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_bytes(path, data: bytes) -> Path:
    """Write ``data`` to ``path`` through a temporary file in the same folder, then rename."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp creates 0600; give the usual mode
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def write_files_atomically(folder, files: dict[str, bytes]) -> list[Path]:
    """Write several files into ``folder``, all or none.

    Every file first goes to a temporary file in ``folder`` (created if missing); only
    when all are written are they renamed into place. On any failure the temporaries,
    the files already renamed and a folder created here are removed, and the error is
    raised. Returns the written paths, in the order of ``files``.
    """
    folder = Path(folder)
    created = not folder.exists()
    temps: list[tuple[str, Path]] = []
    done: list[Path] = []
    try:
        folder.mkdir(parents=True, exist_ok=True)
        for name, data in files.items():
            fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{name}.", suffix=".tmp")
            temps.append((tmp, folder / name))
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            os.chmod(tmp, 0o666 & ~_umask())
        for tmp, final in temps:
            os.replace(tmp, final)
            done.append(final)
    except BaseException:
        for tmp, _ in temps:
            if os.path.exists(tmp):
                os.unlink(tmp)
        for path in done:
            path.unlink(missing_ok=True)
        if created and folder.is_dir() and not any(folder.iterdir()):
            folder.rmdir()
        raise
    return done


__all__ = ["atomic_write_bytes", "write_files_atomically"]
