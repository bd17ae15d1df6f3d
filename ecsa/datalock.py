"""One server per data folder: an OS file lock held for the life of the server process.

Two servers on one folder would each keep their own copy of every session in memory and
overwrite each other's files. `flock` is tied to the open file, so the operating system
releases it when the process ends in any way, kill -9 included: no stale lock to clear.
"""

from __future__ import annotations

import errno
import fcntl
import os
import socket
from datetime import datetime
from pathlib import Path

from .config import StartupError

LOCK_NAME = "server.lock"


class DataFolderLock:
    """This process's hold on a data folder (kept until the process ends, or release())."""

    def __init__(self, folder: Path, fd: int):
        self.folder, self.fd = folder, fd

    def release(self) -> None:
        """Let another server use the folder (closing the file drops the lock)."""
        os.close(self.fd)


def hold(data_dir: str) -> DataFolderLock:
    """Create the data folder if need be and lock it for this process, or a StartupError
    saying why not: not a folder, not writable, or in use by the server it names."""
    folder = Path(os.path.abspath(data_dir))
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(folder / LOCK_NAME, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    except (FileExistsError, NotADirectoryError):
        raise StartupError(f"the data folder {folder} cannot be made: a file is in its place or in its path; "
                           "move that file, or set ECSA_DATA_DIR to another folder") from None
    except OSError as error:
        raise StartupError(f"cannot write to the data folder {folder} ({error.strerror}): let this user write "
                           "there, or set ECSA_DATA_DIR to a folder it can write") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as error:
        holder = os.pread(fd, 200, 0).decode("utf-8", "replace").strip() or "it has only just started"
        os.close(fd)
        if error.errno not in (errno.EWOULDBLOCK, errno.EAGAIN):
            raise StartupError(f"cannot lock the data folder {folder} ({error.strerror}): "
                               "use a folder on a local disk (set ECSA_DATA_DIR)") from None
        raise StartupError(f"the data folder {folder} is in use by another ECSA Workshop server ({holder}): "
                           "stop that one first, or set ECSA_DATA_DIR to another folder") from None
    _write_holder(fd)
    return DataFolderLock(folder, fd)


def _write_holder(fd: int) -> None:
    """Say in the lock file who holds it, so a second server can name it."""
    started = datetime.now().astimezone().isoformat(sep=" ", timespec="seconds")
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"pid {os.getpid()} on {socket.gethostname()}, started {started}\n".encode(), 0)
