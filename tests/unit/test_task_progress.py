"""Task progress records: what a line says, a torn line, the duration table."""

from __future__ import annotations

import datetime as dt
import types

from packaging_pipeline.task_progress import duration_table, event_of, parse_events, record

T0 = dt.datetime(2026, 11, 8, 3, 0, tzinfo=dt.UTC)


def ti(task_id: str, map_index: int = -1, try_number: int = 1) -> types.SimpleNamespace:
    return types.SimpleNamespace(task_id=task_id, map_index=map_index, try_number=try_number, start_date=T0,
                                 dag_id="packaging_nightly", run_id="scheduled__2026-11-08")  # fmt: skip


def test_an_event_names_the_task_instance_and_how_long_it_ran(tmp_path):
    running = event_of(ti("generate_designs", 3), "running", T0)
    done = event_of(ti("generate_designs", 3), "success", T0 + dt.timedelta(seconds=42.5))
    assert running.seconds is None and done.seconds == 42.5
    assert done.line() == "03:00:42  generate_designs[3]          try 1  success after 42.5 s"
    path = tmp_path / "progress.jsonl"
    record(running, path)
    record(done, path)
    with path.open("a") as f:
        f.write('{"at": "2026-11-08T03:00:43+00:00", "task_id": "cut off mid-wri')  # a line being written
    assert parse_events(path.read_text().splitlines()) == [running, done]


def test_the_table_has_one_row_per_task_instance_with_its_last_state_and_tries():
    events = [
        event_of(ti("ingest"), "running", T0),
        event_of(ti("ingest"), "success", T0 + dt.timedelta(seconds=10)),
        event_of(ti("design", 0), "up_for_retry", T0 + dt.timedelta(seconds=3)),
        event_of(ti("design", 0, 2), "success", T0 + dt.timedelta(seconds=4)),
    ]
    rows = [line.split() for line in duration_table(events).splitlines()]
    assert rows[0] == ["task", "state", "tries", "seconds"]
    assert rows[2] == ["ingest", "success", "1", "10.0"] and rows[3] == ["design[0]", "success", "2", "4.0"]
    assert rows[4][-1] == "14.0"
    assert duration_table([]) == "no task state changes were recorded"
