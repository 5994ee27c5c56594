"""Live progress of a night: the listener plugin under a real ``airflow dags test``, printed as it happens."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

from packaging_pipeline.task_progress import parse_events
from tests.conftest import REPO, VENV_BIN

PROBE_DAG = '''
import datetime as dt

import pendulum
from airflow.sdk import dag, task


@dag(schedule=None, start_date=pendulum.datetime(2026, 1, 1, tz="UTC"), catchup=False, tags=["test"])
def progress_probe():
    @task
    def segments():
        return ["s0", "s1", "s2"]

    @task(retries=1, retry_delay=dt.timedelta(seconds=0))
    def design(segment):
        if segment == "s2":
            raise ValueError("segment s2 fails both tries")
        return segment

    design.expand(segment=segments())


progress_probe()
'''


def test_every_task_state_change_is_printed_live_with_map_index_and_try(airflow_db, tmp_path):
    dags = tmp_path / "dags"
    dags.mkdir()
    (dags / "progress_probe.py").write_text(textwrap.dedent(PROBE_DAG))
    progress, log = tmp_path / "progress.jsonl", tmp_path / "dags-test.log"
    env = {**os.environ, "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
           "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO / "plugins")}  # fmt: skip
    result = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "follow_night.py"), "--progress", str(progress), "--log", str(log),
         "--", str(VENV_BIN / "airflow"), "dags", "test", "progress_probe"],
        capture_output=True, text=True, env=env, timeout=600,
    )  # fmt: skip
    assert result.returncode != 0, "a failed mapped task fails the run, and the script passes its exit code on"
    events = parse_events(progress.read_text().splitlines())
    seen = [(e.label, e.try_number, e.state) for e in events]
    assert seen[:2] == [("segments", 1, "running"), ("segments", 1, "success")], log.read_text()[-3000:]
    for index in (0, 1):
        assert (f"design[{index}]", 1, "success") in seen
    assert [s for s in seen if s[0] == "design[2]"] == [
        ("design[2]", 1, "running"), ("design[2]", 1, "up_for_retry"), ("design[2]", 2, "running"),
        ("design[2]", 2, "failed"),
    ]  # fmt: skip
    assert all(e.seconds is not None and e.seconds >= 0 for e in events if e.state != "running")
    printed = result.stdout.splitlines()
    assert sum(" try " in line for line in printed) == len(events)  # one line per change
    table = printed[printed.index("") + 1 :]
    assert table[0].split() == ["task", "state", "tries", "seconds"]
    rows = {line.split()[0]: line.split() for line in table[2:-1]}
    assert rows["design[2]"][1:3] == ["failed", "2"] and rows["segments"][1:3] == ["success", "1"]
