"""Output files that never destroy an input and never have two writers.

Every command that writes calls :func:`claim_outputs` with *all* the paths it will create or
replace (the output, its manifest, parts directory and temporary files, and any side files:
:meth:`aligner.runner.outputs.OutputSpec.files`), and every input path. It refuses, before anything is opened for writing:

- an output that is an input, compared by real path (symlinks resolved) and by
  :func:`os.path.samefile` (hard links, bind mounts);
- an output that another run is writing: an exclusive :func:`fcntl.flock` on ``OUTPUT.lock`` is
  held for the whole run. The kernel drops it when the holder dies (``kill -9`` included), so a
  ``--resume`` after a crash just works; the host and pid written into the lock file are only for
  the message. The lock is taken *before* the existence check, which closes the window between
  "does it exist?" and "open it".
"""

from __future__ import annotations

import errno
import fcntl
import os
import socket
from contextlib import ExitStack
from pathlib import Path
from typing import IO, Callable, Iterable, Optional, Sequence

from .errors import InputError
from .io import STDIN

LOCK_SUFFIX = ".lock"


def lock_path(output: str | os.PathLike) -> Path:
    path = Path(output)
    return path.with_name(path.name + LOCK_SUFFIX)


def _same_file(first: str, second: str) -> bool:
    if os.path.realpath(first) == os.path.realpath(second):
        return True
    try:
        return os.path.samefile(first, second)
    except OSError:  # one of them does not exist (yet): it cannot be the other
        return False


def check_not_inputs(outputs: Iterable[str | os.PathLike], inputs: Iterable[Optional[str | os.PathLike]]) -> None:
    """Refuse any output path that is (or, through links, points at) one of ``inputs``."""
    sources = [str(name) for name in inputs if name is not None and str(name) != STDIN]
    for output in outputs:
        target = str(output)
        if target == STDIN:
            continue
        for source in sources:
            if _same_file(target, source):
                raise InputError(f"output is also an input ({source}); refusing to overwrite it, write it elsewhere", target)


def _holder(lock: Path) -> str:
    try:
        text = lock.read_text(encoding="utf-8").strip()
    except OSError:
        text = ""
    return text or "another process"


def acquire_lock(output: str | os.PathLike, stack: ExitStack) -> IO[str]:
    """Hold ``OUTPUT.lock`` exclusively until ``stack`` closes; refuse if another run holds it."""
    path = lock_path(output)
    while True:
        try:
            stream = open(path, "a+", encoding="utf-8")
        except OSError as exc:
            raise InputError(f"cannot create the lock file {path}: {exc.strerror}", output) from None
        try:
            fcntl.flock(stream.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            stream.close()
            if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise InputError(f"cannot lock {path}: {exc.strerror}", output) from None
            raise InputError(f"another run is writing this output (lock {path} held by {_holder(path)})", output) from None
        # A finishing holder unlinks the file it locked; if we locked that unlinked inode, the
        # lock guards nothing (a third run may lock a new file at the path), so try again.
        try:
            if os.stat(path).st_ino == os.fstat(stream.fileno()).st_ino:
                break
        except FileNotFoundError:
            pass
        stream.close()
    stack.callback(stream.close)
    stack.callback(_release, path)
    stream.seek(0)
    stream.truncate()
    stream.write(f"host {socket.gethostname()} pid {os.getpid()}\n")
    stream.flush()
    return stream


def _release(path: Path) -> None:
    # Unlinked while still held (the stream closes after this), see acquire_lock.
    try:
        os.unlink(path)
    except OSError:
        pass


def claim_outputs(
    outputs: Sequence[Optional[str | os.PathLike]],
    inputs: Iterable[Optional[str | os.PathLike]],
    stack: ExitStack,
    overwrite: bool = False,
    lock: bool = True,
    files: Optional[Sequence[str | os.PathLike]] = None,
    create_dirs: bool = False,
) -> None:
    """Check and lock the outputs of a run; ``outputs`` are every path it may create or replace.

    ``files`` are those among them written as files of their own (the main output and its side
    files: scores, words), by default ``outputs[0]``; the others (manifest, parts, temporary
    files) belong to one of them. Refuses any output that is an input, a file another run holds,
    and (unless ``overwrite``, which ``--resume`` also implies) an existing file. ``None`` or
    ``-`` (stdout) is skipped. A missing output directory is refused, or made when ``create_dirs``
    (reports and images, whose directories the command creates).
    """
    real = [str(name) for name in outputs if name is not None and str(name) != STDIN]
    if not real:
        return
    owned = [str(name) for name in files] if files is not None else real[:1]
    check_not_inputs([*real, *(lock_path(name) for name in owned)], list(inputs))
    for name in owned:
        directory = os.path.dirname(os.path.abspath(name))
        if create_dirs:
            os.makedirs(directory, exist_ok=True)
        elif not os.path.isdir(directory):
            raise InputError("cannot write: the output directory does not exist", name)
    written = [name for name in owned if not _is_device(name)]  # /dev/null, /dev/full: nothing to lock or protect
    if lock:
        # Every lock before any existence check: the check and the open are then one run's.
        for name in written:
            acquire_lock(name, stack)
    for name in written:
        if os.path.exists(name) and not overwrite:
            raise InputError("output exists; refusing to overwrite it (use --overwrite)", name)


def _is_device(path: str) -> bool:
    import stat

    try:
        mode = os.stat(path).st_mode
    except OSError:
        return False
    return stat.S_ISCHR(mode) or stat.S_ISFIFO(mode)


def temporary_path(path: str | os.PathLike) -> Path:
    """Where :func:`write_atomically` writes ``path`` first (claim it with ``path``)."""
    target = Path(path)
    return target.with_name(target.name + ".tmp")


def write_atomically(path: str | os.PathLike, write: Callable[[Path], object]) -> None:
    """Call ``write`` on a temporary file beside ``path``, then rename it into place: a failure
    (full disk, a signal) leaves the old file or none, never half a report, and no temporary file."""
    temporary = temporary_path(path)
    try:
        write(temporary)
        os.replace(temporary, path)
    except BaseException:
        remove_quietly(temporary)
        raise


def describe_os_error(exc: OSError) -> str:
    """``PATH: what happened`` for an operating-system error (``<stdout>`` when no file is known)."""
    what = exc.strerror or str(exc) or type(exc).__name__
    where = exc.filename if exc.filename is not None else "<stdout>"
    return f"{where}: {what}"


def remove_quietly(path: str | os.PathLike) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
