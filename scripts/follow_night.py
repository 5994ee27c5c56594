"""Run a DAG night (``-- airflow dags test ...``) with its output in --log, printing each task state change live.

    follow_night.py --progress FILE --log FILE -- airflow dags test packaging_nightly 2026-11-08T03:00:00+00:00

The listener plugin (``plugins/packaging_progress.py``) appends the changes to --progress, which this
prints as they come; the per-task duration table follows when the command ends. Exits with its code.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

from packaging_pipeline.task_progress import PROGRESS_FILE_ENV, duration_table, follow


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--progress", required=True, help="JSON-lines file the listener appends to (replaced)")
    ap.add_argument("--log", required=True, help="where the command's stdout and stderr go")
    ap.add_argument("command", nargs=argparse.REMAINDER, help="-- and the command to run")
    args = ap.parse_args()
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        ap.error("give the command to run after --")
    progress = Path(args.progress)
    progress.unlink(missing_ok=True)
    with open(args.log, "wb") as log:
        proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT,
                                env={**os.environ, PROGRESS_FILE_ENV: str(progress)})  # fmt: skip
        events = follow(progress, lambda: proc.poll() is None, sys.stdout)
    print()
    print(duration_table(events))
    return proc.returncode


if __name__ == "__main__":
    sys.exit(main())
