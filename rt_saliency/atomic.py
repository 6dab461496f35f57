"""Outputs that appear only when complete: write to a temporary name beside the target and
rename it over the target on success, so a failed run never destroys an earlier output.

:class:`AtomicTarget` is the path bookkeeping (file or folder); :func:`write_text` is the
one-shot form.  A failed output is not thrown away when it holds data: it is kept beside the
target as ``NAME.partial`` (the earlier ``NAME`` untouched).  Targets that are not regular files
or folders (``/dev/null``, ``/dev/full``, a FIFO) are written in place: renaming over a device
would replace it.
"""

from __future__ import annotations

import errno
import logging
import os
import secrets
import shutil
from pathlib import Path

from rt_saliency.errors import ConfigError, OutputError

log = logging.getLogger(__name__)

PARTIAL_SUFFIX = ".partial"


def _special(path: Path) -> bool:
    """An existing target that is neither a regular file nor a folder (a device, a FIFO)."""
    return path.exists() and not (path.is_file() or path.is_dir())


def output_error(name: str | Path, exc: OSError) -> OutputError:
    """The one-line :class:`OutputError` for a failed write to ``name``."""
    reason = exc.strerror or str(exc) or type(exc).__name__
    err = OutputError(f"{name}: cannot write ({reason})")
    err.errno = exc.errno
    return err


class AtomicTarget:
    """``path`` is where to write; :meth:`commit` puts it at ``target``, :meth:`discard` keeps
    it as ``target.partial`` (if it holds data) and leaves ``target`` as it was.

    ``directory=True`` makes ``path`` a fresh folder (per-frame ``.npy`` files); committing it
    swaps the folders (the old one is removed after the new one is in place).
    """

    def __init__(self, target: str | Path, *, directory: bool = False) -> None:
        self.target = Path(target)
        self.directory = directory
        parent = self.target.parent
        if not parent.is_dir():
            raise ConfigError(f"output folder {parent} does not exist")
        if directory and self.target.exists() and not self.target.is_dir():
            raise ConfigError(f"{self.target} exists and is not a folder")
        if not directory and self.target.is_dir():
            raise ConfigError(f"{self.target} is a folder, not a file")
        self.in_place = _special(self.target)
        if self.in_place:
            self.path = self.target
        else:
            token = secrets.token_hex(4)
            suffix = "" if directory else self.target.suffix  # writers guess formats from it
            self.path = parent / f".{self.target.name}.tmp-{token}{suffix}"
            if directory:
                try:
                    self.path.mkdir()
                except OSError as exc:
                    raise output_error(self.target, exc) from exc
        self.done = False

    def commit(self) -> None:
        """Make the output visible at ``target`` (fsync first: a crash cannot leave half a
        file under the final name)."""
        if self.done:
            return
        self.done = True
        if self.in_place:
            return
        try:
            if self.directory:
                self._commit_folder()
            else:
                _fsync(self.path)
                os.replace(self.path, self.target)
        except OSError as exc:
            self.done = False
            self.discard()
            raise output_error(self.target, exc) from exc

    def _commit_folder(self) -> None:
        old = None
        if self.target.exists():
            old = self.target.parent / f".{self.target.name}.old-{secrets.token_hex(4)}"
            os.rename(self.target, old)
        try:
            os.rename(self.path, self.target)
        except OSError:
            if old is not None:
                os.rename(old, self.target)
            raise
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)

    def discard(self) -> Path | None:
        """Leave ``target`` as it was; keep what was written as ``target.partial`` when it holds
        anything (returned), else remove it."""
        if self.done:
            return None
        self.done = True
        if self.in_place or not self.path.exists():
            return None
        partial = self.target.with_name(self.target.name + PARTIAL_SUFFIX)
        has_data = any(self.path.iterdir()) if self.directory else self.path.stat().st_size > 0
        try:
            if not has_data:
                _remove(self.path)
                return None
            if partial.exists():
                _remove(partial)
            os.rename(self.path, partial)
        except OSError as exc:
            log.warning("could not keep the partial output %s: %s", self.path, exc)
            return None
        log.warning("output incomplete: %s left unchanged, what was written is in %s",
                    self.target, partial)
        return partial


def _remove(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path)
    else:
        path.unlink()


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    except OSError as exc:
        if exc.errno not in (errno.EINVAL, errno.EROFS):  # not syncable (tmpfs ok, pipes)
            raise
    finally:
        os.close(fd)


def write_text(target: str | Path, text: str) -> None:
    """Write ``text`` (UTF-8) to ``target`` atomically; :class:`OutputError` on failure, with
    the earlier file kept."""
    atomic = AtomicTarget(target)
    try:
        with open(atomic.path, "w", encoding="utf-8") as fh:
            fh.write(text)
    except OSError as exc:
        atomic.discard()
        raise output_error(target, exc) from exc
    atomic.commit()


def write_bytes(target: str | Path, data: bytes) -> None:
    """Write ``data`` to ``target`` atomically; :class:`OutputError` on failure, with the earlier
    file kept."""
    atomic = AtomicTarget(target)
    try:
        with open(atomic.path, "wb") as fh:
            fh.write(data)
    except OSError as exc:
        atomic.discard()
        raise output_error(target, exc) from exc
    atomic.commit()
