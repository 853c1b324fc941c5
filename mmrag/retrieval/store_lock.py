"""One process per store folder: an exclusive ``fcntl`` lock on a file inside it.

Qdrant Edge refuses a second opener with a bare WAL error ("WouldBlock"); this lock fails first,
naming the folder and the process holding it. The kernel drops the lock when the holder dies
(even by kill -9), so a stale lock file never blocks a restart.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from mmrag.errors import StoreError

LOCK_NAME = ".mmrag.lock"


class FolderLock:
    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        self._fd: int | None = None

    def acquire(self) -> "FolderLock":
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.folder / LOCK_NAME
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise StoreError(
                f"the store folder {self.folder} is in use by another process (pid {holder}); one process at a "
                "time can open it: stop that process, or use a Qdrant server (qdrant.url) for shared access"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None
