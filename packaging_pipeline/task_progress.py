"""One line per task state change of a night, as it happens, and the night's per-task duration table.

Why: a night runs for minutes and ``airflow dags test`` prints nothing useful until it ends, so a
newcomer cannot tell a hang from work. The listener in ``plugins/packaging_progress.py`` calls
:func:`record` from each task process (the only place Airflow 3 reports task state changes). A record
always goes to the task's log; when ``PACKAGING_PROGRESS_FILE`` names a file it is also appended
there as one JSON line, which :func:`follow` prints while the run lasts (from another process, so it
works with any executor on the same machine) and :func:`duration_table` sums up at the end.

No Airflow import here: the listener hands over plain attributes.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import logging
import os
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, TextIO

PROGRESS_FILE_ENV = "PACKAGING_PROGRESS_FILE"
"""Names the JSON-lines file the listener appends task state changes to (unset: task log only)."""

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class TaskEvent:
    """A task instance entering a state: which task, map index and try, and how long it has run."""

    at: str
    dag_id: str
    run_id: str
    task_id: str
    map_index: int
    try_number: int
    state: str
    seconds: float | None

    @property
    def label(self) -> str:
        """``task_id`` or ``task_id[map_index]`` for a mapped task's instance."""
        return self.task_id if self.map_index < 0 else f"{self.task_id}[{self.map_index}]"

    def line(self) -> str:
        took = "" if self.seconds is None else f" after {self.seconds:.1f} s"
        return f"{self.at[11:19]}  {self.label:<28} try {self.try_number}  {self.state}{took}"


def event_of(task_instance: Any, state: str, now: dt.datetime | None = None) -> TaskEvent:
    """The event of ``task_instance`` (Airflow's runtime task instance, or anything with its attributes)."""
    now = now or dt.datetime.now(dt.UTC)
    started = getattr(task_instance, "start_date", None)
    seconds = None if state == "running" or started is None else round((now - started).total_seconds(), 3)
    map_index = getattr(task_instance, "map_index", None)
    return TaskEvent(
        at=now.isoformat(timespec="seconds"),
        dag_id=str(getattr(task_instance, "dag_id", "")),
        run_id=str(getattr(task_instance, "run_id", "")),
        task_id=str(task_instance.task_id),
        map_index=-1 if map_index is None else int(map_index),
        try_number=int(getattr(task_instance, "try_number", None) or 1),
        state=state,
        seconds=seconds,
    )


def record(event: TaskEvent, path: str | os.PathLike[str] | None = None) -> None:
    """Log the event, and append it to the progress file (``path`` or ``PACKAGING_PROGRESS_FILE``).

    One ``write`` of one line to a file opened for appending, so tasks running in parallel
    processes never interleave their lines.
    """
    log.info("task progress: %s", event.line())
    target = path if path is not None else os.environ.get(PROGRESS_FILE_ENV)
    if not target:
        return
    data = (json.dumps(dataclasses.asdict(event), sort_keys=True) + "\n").encode()
    fd = os.open(target, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)


def parse_events(lines: Iterable[str]) -> list[TaskEvent]:
    """Events from JSON lines; a torn or foreign line is skipped, not fatal (progress is informational)."""
    out = []
    for line in lines:
        try:
            out.append(TaskEvent(**json.loads(line)))
        except (ValueError, TypeError):
            continue
    return out


def follow(
    path: str | os.PathLike[str], running: Callable[[], bool], out: TextIO, poll_s: float = 0.5
) -> list[TaskEvent]:
    """Print each event appended to ``path`` as it arrives, until ``running()`` is false; returns them all.

    Only whole lines are read, so a line being written is printed once it is complete.
    """
    file, events, offset, pending = Path(path), [], 0, ""
    while True:
        alive = running()
        if file.exists():
            with file.open("r", encoding="utf-8") as handle:
                handle.seek(offset)
                chunk = handle.read()
                offset = handle.tell()
            *complete, pending = (pending + chunk).split("\n")
            for event in parse_events(complete):
                events.append(event)
                print(event.line(), file=out, flush=True)
        if not alive:
            return events
        time.sleep(poll_s)


def duration_table(events: Iterable[TaskEvent]) -> str:
    """One row per task instance in the order it started: final state, tries and the last try's seconds."""
    rows: dict[tuple[str, int], dict[str, Any]] = {}
    for event in events:
        row = rows.setdefault((event.task_id, event.map_index), {"label": event.label, "tries": 0})
        row["tries"] = max(row["tries"], event.try_number)
        row["state"] = event.state
        if event.seconds is not None:
            row["seconds"] = event.seconds
    if not rows:
        return "no task state changes were recorded"
    total_label = "sum of task times"
    width = max(len(total_label), *(len(r["label"]) for r in rows.values()))
    lines = [f"{'task':<{width}}  {'state':<12} {'tries':>5} {'seconds':>9}", "-" * (width + 29)]
    for row in rows.values():
        seconds = f"{row['seconds']:9.1f}" if "seconds" in row else f"{'-':>9}"
        lines.append(f"{row['label']:<{width}}  {row['state']:<12} {row['tries']:>5} {seconds}")
    total = sum(r.get("seconds", 0.0) for r in rows.values())
    lines.append(f"{total_label:<{width}}  {'':<12} {'':>5} {total:9.1f}")
    return "\n".join(lines)
