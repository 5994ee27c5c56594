"""SIGKILL trials: kill ``publish`` or the design stage at a random moment of its own progress, then judge.

Progress is what the stage has written: files created or rewritten under the lake's folders it writes
and in its own temporary folder (``TMPDIR``), watched every few milliseconds. A calibration run counts a
whole run's progress; each trial draws a moment in it and sends SIGKILL when the stage gets there, so
every kill lands after start-up, in the stage's real work. Then:

* ``publish``: the night's visible batch is the previous complete one or the new complete one, a
  warehouse pull verifies, ``LATEST`` names the night, and a rerun completes with the new batch.
* ``designs``: the published batch is untouched; the staging is either complete (its plan is there and
  equals a whole run's) or has no plan, so ``publish`` refuses it clearly; a rerun completes identically.

Shared by tests/integration/test_kill_trials.py (a few moments) and bench/fault_trials.py (many).
"""

from __future__ import annotations

import dataclasses
import json
import os
import random
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from packaging_pipeline.contract import read_batch
from packaging_pipeline.core import keys
from packaging_pipeline.core.config import Settings
from packaging_pipeline.core.errors import InputError
from packaging_pipeline.core.storage import LocalLake
from packaging_pipeline.design.batch import generate_night_designs
from packaging_pipeline.publication.publish import publish_batch
from packaging_pipeline.publication.pull import pull_batch
from tests.conftest import TEST_PSEUDONYM_KEY, VENV_BIN
from tests.support.fault_trials import snapshot

CLI = str(VENV_BIN / "packaging-pipeline")


@dataclasses.dataclass
class KillRun:
    killed: bool  # False: the stage finished before it reached the moment
    progress: int  # files written when it was killed (or when it ended)
    returncode: int


def _written(folders: list[Path], since: float) -> set[tuple[str, float]]:
    seen = set()
    for folder in folders:
        for root, _, files in os.walk(folder):
            for name in files:
                path = os.path.join(root, name)
                try:
                    modified = os.stat(path).st_mtime
                except FileNotFoundError:  # removed between the walk and the stat
                    continue
                if modified >= since:
                    seen.add((path, modified))
    return seen


def run_until(argv: list[str], watch: list[Path], kill_at: int | None, timeout_s: float = 300) -> KillRun:
    """Run the CLI; with ``kill_at``, SIGKILL it once it has written that many files (watched folders + TMPDIR)."""
    with tempfile.TemporaryDirectory(prefix="kill-trial-tmp-") as tmp:
        env = {**os.environ, "PACKAGING_PSEUDONYM_KEY": TEST_PSEUDONYM_KEY, "TMPDIR": tmp}
        since = time.time() - 0.01
        process = subprocess.Popen([CLI, *argv], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        seen: set[tuple[str, float]] = set()
        deadline = time.monotonic() + timeout_s
        while process.poll() is None:
            seen |= _written([*watch, Path(tmp)], since)
            if kill_at is not None and len(seen) >= kill_at:
                process.send_signal(signal.SIGKILL)
                process.wait()
                return KillRun(True, len(seen), process.returncode)
            if time.monotonic() > deadline:
                process.kill()
                raise AssertionError(f"{argv[0]} ran over {timeout_s} s")
            time.sleep(0.002)
        stderr = process.stderr.read().decode() if process.stderr else ""
        if process.returncode != 0:
            raise AssertionError(f"{argv[0]} failed without a kill: {stderr[-2000:]}")
        return KillRun(False, len(seen), process.returncode)


def moments(total: int, count: int, seed: int) -> list[int]:
    """``count`` kill moments drawn over a whole run's ``total`` writes (the first write at the earliest)."""
    rng = random.Random(seed)
    return [rng.randint(1, max(1, total)) for _ in range(count)]


def _published_copy(staged: Path, root: Path, ds: str) -> LocalLake:
    """The staged night, with its first batch (model "A") published."""
    shutil.copytree(staged, root)
    lake = LocalLake(root)
    publish_batch(lake, ds, model_version="A")
    return lake


def batch_files(lake: LocalLake, ds: str) -> dict[str, bytes]:
    """The night's visible batch, keys relative to its folder; the trial fails when there is none."""
    batch = read_batch(lake, ds)
    assert batch is not None, f"ds={ds} has no complete batch in {lake.uri}"
    return {k[len(batch.prefix):]: v for k, v in snapshot(lake, batch.prefix).items()}


def _pull_verifies(lake: LocalLake, ds: str, dest: Path) -> None:
    warehouse = json.loads(batch_files(lake, ds)["manifest.json"])["warehouses"][0]["warehouse_id"]
    pull_batch(lake, ds, warehouse, dest)


def publish_kill_trials(staged: Path, work: Path, ds: str, count: int, seed: int) -> list[dict[str, Any]]:
    """Republish (model "B" over "A") killed at ``count`` random moments; each judged, then rerun."""
    calibration = _published_copy(staged, work / "calibration", ds)
    first = read_batch(calibration, ds).batch_id
    argv = ["publish", "--ds", ds, "--model-version", "B"]
    whole = run_until([*argv, "--lake", calibration.uri], [calibration.root / "published"], kill_at=None)
    reference, new = batch_files(calibration, ds), read_batch(calibration, ds).batch_id
    assert whole.progress > len(reference), "the calibration run watched the batch being written"
    trials = []
    for i, moment in enumerate(moments(whole.progress, count, seed)):
        lake = _published_copy(staged, work / f"publish-{i}", ds)
        run = run_until([*argv, "--lake", lake.uri], [lake.root / "published"], kill_at=moment)
        visible = read_batch(lake, ds)
        assert visible is not None and visible.batch_id in (first, new), "the night lost its complete batch"
        assert lake.read_text(keys.PUBLISHED_LATEST_KEY).strip() == ds
        _pull_verifies(lake, ds, work / f"publish-{i}-pull")
        publish_batch(lake, ds, model_version="B")  # the rerun completes with the new batch
        assert batch_files(lake, ds) == reference, "the rerun's batch differs from a whole run's"
        trials.append({"stage": "publish", "moment": moment, "of": whole.progress, "killed": run.killed,
                       "visible": "previous" if visible.batch_id == first else "new"})  # fmt: skip
        shutil.rmtree(work / f"publish-{i}")
    return trials


def design_kill_trials(staged: Path, work: Path, ds: str, count: int, seed: int) -> list[dict[str, Any]]:
    """The design stage killed at ``count`` random moments; each judged, then rerun."""
    calibration = _published_copy(staged, work / "calibration-designs", ds)
    argv = ["designs", "--ds", ds, "--per-segment", "1", "--procedural", "--workers", "1"]
    whole = run_until([*argv, "--lake", calibration.uri], [calibration.root / "designs"], kill_at=None)
    reference = snapshot(calibration, keys.staging_prefix(ds))
    plan = keys.staging_prefix(ds) + keys.PLAN_NAME
    assert plan in reference and whole.progress >= len(reference)
    trials = []
    for i, moment in enumerate(moments(whole.progress, count, seed)):
        lake = _published_copy(staged, work / f"designs-{i}", ds)
        published = batch_files(lake, ds)
        run = run_until([*argv, "--lake", lake.uri], [lake.root / "designs"], kill_at=moment)
        assert batch_files(lake, ds) == published, "the design stage touched the published batch"
        _pull_verifies(lake, ds, work / f"designs-{i}-pull")
        staged_now = snapshot(lake, keys.staging_prefix(ds))
        if plan in staged_now:
            assert staged_now == reference, "a plan beside a partial staging"
        else:
            try:
                publish_batch(lake, ds)
            except InputError as exc:
                assert "no complete design staging" in str(exc), exc
            else:
                raise AssertionError("publish took a staging without its plan")
        settings = Settings(lake_uri=lake.uri, pseudonym_key=TEST_PSEUDONYM_KEY)
        generate_night_designs(settings, ds, designs_per_segment=1, use_model=False, workers=1)
        assert snapshot(lake, keys.staging_prefix(ds)) == reference, "the rerun's staging differs from a whole run's"
        trials.append({"stage": "designs", "moment": moment, "of": whole.progress, "killed": run.killed,
                       "staging": "complete" if plan in staged_now else "incomplete, refused by publish"})  # fmt: skip
        shutil.rmtree(work / f"designs-{i}")
    return trials
