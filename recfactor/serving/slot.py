"""The model being served, swapped for a new one when its file changes.

A request takes the model once, at its start, and answers from it to the end: a swap is one
assignment of :attr:`Slot.current`, so requests in flight finish on the old model while new
ones get the new. A thread looks at the file's identity (device, inode, size, time) every
:data:`POLL_SECONDS`; a change is loaded once the file has kept still for a poll (a copy in
progress is not read half-written; `recfactor update` and `train` replace the file whole), and
SIGHUP loads it at once. A file that fails to load is logged and the old model keeps serving;
the same file is not tried again until it changes.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from recfactor.serving.answers import Served, load, signature
from recfactor.serving.metrics import Metrics

POLL_SECONDS = 0.5


class Slot:
    def __init__(self, served: Served, titles: dict[str, str] | None, metrics: Metrics,
                 log: Callable[[str], None]) -> None:  # fmt: skip
        self.current = served
        self._titles = titles
        self._metrics = metrics
        self._log = log
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._failed: tuple | None = None
        self._forced = False
        metrics.loads += 1
        metrics.loaded_at = served.loaded_at
        self._thread = threading.Thread(target=self._watch, name="model-watch", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()

    def reload_now(self) -> None:
        """Load the file on the watcher's next turn, changed or not (SIGHUP)."""
        self._failed = None
        self._forced = True
        self._wake.set()

    def _watch(self) -> None:
        pending: tuple | None = None
        while not self._stop.is_set():
            self._wake.wait(POLL_SECONDS)
            self._wake.clear()
            if self._stop.is_set():
                return
            path = self.current.path
            try:
                now = signature(path)
            except OSError:
                pending = None  # gone for now (being replaced): look again next turn
                continue
            if self._forced:
                self._forced = False
                self._load(path, now)
                pending = None
            elif now != self.current.signature and now != self._failed:
                if pending == now:  # still for a whole poll
                    self._load(path, now)
                    pending = None
                else:
                    pending = now

    def _load(self, path: str, seen: tuple) -> None:
        started = time.perf_counter()
        try:
            served = load(path, self._titles)
        except Exception as exc:  # whatever the file holds, the old model keeps serving
            self._failed = seen
            self._metrics.load_failures += 1
            self._log(f"serve: could not load {path}: {_reason(exc)}; the model loaded at "
                      f"{_clock(self.current.loaded_at)} keeps serving")  # fmt: skip
            return
        self.current = served
        self._failed = None
        self._metrics.loads += 1
        self._metrics.loaded_at = served.loaded_at
        model = served.model
        self._log(
            f"serve: loaded {path} ({model.name}, {len(model.user_ids_)} users, "
            f"{len(model.item_ids_)} items) in {1000 * (time.perf_counter() - started):.0f} ms"
        )


def _reason(exc: Exception) -> str:
    from recfactor.errors import RecfactorError

    if isinstance(exc, RecfactorError):
        return exc.message
    return f"{type(exc).__name__}: {exc}"


def _clock(when: float) -> str:
    return time.strftime("%H:%M:%S", time.localtime(when))
