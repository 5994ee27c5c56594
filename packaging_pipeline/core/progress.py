"""Progress of the long stages: a bar on a terminal, a plain line every few seconds otherwise.

Why: ``train``, ``designs`` and ``right-size`` run for minutes, and a command that prints nothing
until it ends cannot be told from one that hangs. A stage wraps its loop in :func:`track`; where the
progress goes is the caller's choice. The CLI sends it to stderr (:func:`to_stream`), so ``--json``
keeps stdout a single JSON object; anywhere else (an Airflow task, a test) it is a log line every
30 seconds.
"""

from __future__ import annotations

import contextlib
import contextvars
import dataclasses
import logging
import time
from collections.abc import Iterator
from typing import Any, TextIO

log = logging.getLogger(__name__)

LOG_EVERY_S = 30.0
"""How often a stage without a stream (an Airflow task) logs its progress."""


@dataclasses.dataclass(frozen=True)
class _Stream:
    stream: TextIO
    every_s: float


_destination: contextvars.ContextVar[_Stream | None] = contextvars.ContextVar("progress_destination", default=None)


@contextlib.contextmanager
def to_stream(stream: TextIO, every_s: float = 10.0) -> Iterator[None]:
    """Send the progress of stages run inside to ``stream``: a live bar if it is a terminal, else a line
    every ``every_s`` seconds and one when each stage ends."""
    token = _destination.set(_Stream(stream, every_s))
    try:
        yield
    finally:
        _destination.reset(token)


class Tracker:
    """Counts a stage's done units and reports them; ``advance`` is cheap enough to call per unit."""

    def __init__(self, what: str, total: int | None, unit: str, destination: _Stream | None):
        self.what, self.total, self.unit, self.done = what, total, unit, 0
        self.started = self.last = time.monotonic()
        self._stream = destination.stream if destination else None
        self._every = destination.every_s if destination else LOG_EVERY_S
        self._bar: Any = None
        if self._stream is not None and _is_terminal(self._stream):
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

            self._bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                 TextColumn(unit), TimeElapsedColumn(), console=Console(file=self._stream))  # fmt: skip
            self._bar.start()
            self._task = self._bar.add_task(what, total=total)

    def advance(self, n: int = 1) -> None:
        self.done += n
        if self._bar is not None:
            self._bar.update(self._task, completed=self.done)
            return
        now = time.monotonic()
        if now - self.last >= self._every:
            self.last = now
            self._emit(self.line(now))

    def line(self, now: float | None = None) -> str:
        seconds = (now if now is not None else time.monotonic()) - self.started
        of = f"/{self.total:,}" if self.total is not None else ""
        unit = f" {self.unit}" if self.unit else ""
        share = f" ({self.done / self.total:.0%})" if self.total else ""
        return f"{self.what}: {self.done:,}{of}{unit}{share} after {seconds:.0f} s"

    def close(self) -> None:
        if self._bar is not None:
            self._bar.stop()
            return
        self._emit(self.line() + ", done")

    def _emit(self, text: str) -> None:
        if self._stream is None:
            log.info("%s", text)
        else:
            print(text, file=self._stream, flush=True)


@contextlib.contextmanager
def track(what: str, total: int | None, unit: str = "") -> Iterator[Tracker]:
    """Report the progress of one stage's loop to the current destination (see the module docstring)."""
    tracker = Tracker(what, total, unit, _destination.get())
    try:
        yield tracker
    finally:
        tracker.close()


def _is_terminal(stream: TextIO) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False
