"""Long UI work (ingesting images) in background threads, outside Streamlit's script runs.

Streamlit stops a script run when the user touches any widget and starts a new one; work done in the
run stops with it (ingestion once stopped silently at 8 of 40 images). A job here runs in its own
thread, owned by the process-wide backend, so reruns only redraw its progress. A job with a key that
is still running is joined rather than started twice; a finished one keeps its outcome until the
same key starts again. No Streamlit here: it is tested directly.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable

log = logging.getLogger(__name__)

Progress = Callable[[int, int], None]


@dataclass
class Job:
    key: str
    label: str
    total: int
    done: int = 0
    state: str = "running"  # running | done | failed
    result: Any = None
    error: str = ""
    started: float = field(default_factory=time.time)
    finished: float | None = None
    _thread: threading.Thread | None = field(default=None, repr=False)

    @property
    def running(self) -> bool:
        return self.state == "running"

    def progress(self, done: int, total: int) -> None:
        self.done, self.total = done, total

    def wait(self, timeout: float | None = None) -> bool:
        """True once the job has finished (tests and benchmarks; the UI polls instead)."""
        if self._thread is not None:
            self._thread.join(timeout)
        return not self.running


class Jobs:
    """The jobs of one backend (one app), shared by every browser session of the process."""

    def __init__(self) -> None:
        self._jobs: dict[str, Job] = {}
        self._lock = threading.Lock()

    def get(self, key: str) -> Job | None:
        with self._lock:
            return self._jobs.get(key)

    def running(self) -> list[Job]:
        with self._lock:
            return [j for j in self._jobs.values() if j.running]

    def start(self, key: str, label: str, total: int, work: Callable[[Progress], Any]) -> Job:
        """Run ``work(progress)`` in a daemon thread as job ``key``, unless that job is running already
        (then that one is returned: two sessions clicking the same button share one run)."""
        with self._lock:
            job = self._jobs.get(key)
            if job is not None and job.running:
                return job
            job = Job(key, label, total)
            job._thread = threading.Thread(target=self._run, args=(job, work), name=f"mmrag-job-{key}", daemon=True)
            self._jobs[key] = job
        job._thread.start()
        return job

    @staticmethod
    def _run(job: Job, work: Callable[[Progress], Any]) -> None:
        try:
            job.result = work(job.progress)
            job.state = "done"
        except Exception as e:  # noqa: BLE001 - the outcome is shown on the page, the traceback logged
            log.exception("UI job %s failed", job.key)
            job.error = f"{type(e).__name__}: {e}"
            job.state = "failed"
        finally:
            job.finished = time.time()
