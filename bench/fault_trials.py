"""Fault and kill trials at volume: S3 faults under ingest, designs, publish and pull; SIGKILLs of publish and designs.

Usage (see docs/benchmarks.md for how results are recorded)::

    .venv/bin/python bench/fault_trials.py                        # 20 S3 trials per stage, 25 kills per stage
    .venv/bin/python bench/fault_trials.py --s3-trials 3 --kills 3 --out /tmp/trial.json

The same judges as the test suite (tests/support/fault_trials.py, tests/support/kill_trials.py), on the
same small segmented night (tests/support/nights.py), with more seeds: a trial that ends other than
"identical to a fault-free run" or "failed clearly, previous state visible, rerun identical" stops the
run with the seed that found it. The reference in the same run is each stage's fault-free time.
"""

from __future__ import annotations

import argparse
import collections
import logging
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import tests.conftest  # noqa: E402, F401 - the isolated environment the judges assume
from bench.common import load, machine_base, write_result  # noqa: E402
from packaging_pipeline.core.config import Settings  # noqa: E402
from packaging_pipeline.core.storage import LocalLake  # noqa: E402
from packaging_pipeline.design.batch import generate_night_designs  # noqa: E402
from tests.conftest import free_port  # noqa: E402
from tests.support.fault_proxy import FaultProxy  # noqa: E402
from tests.support.fault_trials import FaultBench, snapshot  # noqa: E402
from tests.support.kill_trials import design_kill_trials, publish_kill_trials  # noqa: E402
from tests.support.nights import DS, segmented_night  # noqa: E402

RATES = {"ingest": 0.08, "designs": 0.08, "publish": 0.08, "pull": 0.2}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--s3-trials", type=int, default=20, help="seeds per stage through the fault proxy")
    parser.add_argument("--kills", type=int, default=25, help="kill moments per stage (publish, designs)")
    parser.add_argument("--out")
    args = parser.parse_args(argv)

    import boto3
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's request log
    started = time.perf_counter()
    result: dict = {"machine": machine_base(), "load_before": load(), "s3": {}, "kills": {}}
    with tempfile.TemporaryDirectory(prefix="fault-bench-") as tmp:
        work = Path(tmp)
        lake, settings = segmented_night(work / "night")
        night = snapshot(lake, "")
        staged_lake = LocalLake(work / "staged")
        staged_lake.upload_many((data, key) for key, data in night.items())
        staged_settings = Settings(lake_uri=staged_lake.uri, pseudonym_key=settings.pseudonym_key)
        generate_night_designs(staged_settings, DS, designs_per_segment=1, use_model=False, workers=1)

        port = free_port()
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
        server.start()
        endpoint = f"http://127.0.0.1:{port}"
        try:
            boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1").create_bucket(Bucket="fault-bench")
            bench = FaultBench(endpoint, "fault-bench", night, snapshot(staged_lake, ""), DS, work / "s3")
            for stage in FaultBench.STAGES:
                t = time.perf_counter()
                bench.reference(stage)
                reference_s = time.perf_counter() - t
                outcomes: collections.Counter[str] = collections.Counter()
                faults: collections.Counter[str] = collections.Counter()
                requests, errors, t = 0, [], time.perf_counter()
                with FaultProxy(endpoint, rate=RATES[stage]) as proxy:
                    for seed in range(1, args.s3_trials + 1):
                        trial = bench.trial(stage, proxy, seed)
                        outcomes[trial.outcome] += 1
                        faults.update(trial.faults)
                        requests += trial.requests
                        if trial.error:
                            errors.append(trial.error)
                result["s3"][stage] = {
                    "trials": args.s3_trials, "rate": RATES[stage], "requests": requests,
                    "faults": dict(sorted(faults.items())), "faults_total": sum(faults.values()),
                    "outcomes": dict(outcomes), "first_errors": errors[:5],
                    "s_per_trial": round((time.perf_counter() - t) / args.s3_trials, 2),
                    "fault_free_reference_s": round(reference_s, 2),
                }  # fmt: skip
                print(stage, result["s3"][stage], flush=True)
        finally:
            server.stop()

        staged_root = work / "staged"
        for stage, trials_of in (("publish", publish_kill_trials), ("designs", design_kill_trials)):
            t = time.perf_counter()
            trials = trials_of(staged_root, work / f"kills-{stage}", DS, args.kills, seed=101)
            summary = collections.Counter(
                "finished before the moment" if not tr["killed"] else tr.get("visible") or tr.get("staging")
                for tr in trials
            )
            result["kills"][stage] = {
                "trials": len(trials), "killed": sum(tr["killed"] for tr in trials),
                "moments": sorted(tr["moment"] for tr in trials), "of_writes": trials[0]["of"],
                "after_kill": dict(summary), "s_per_trial": round((time.perf_counter() - t) / len(trials), 2),
            }  # fmt: skip
            print(stage, "kills", result["kills"][stage], flush=True)
    result["load_after"] = load()
    result["seconds"] = round(time.perf_counter() - started, 1)
    print("wrote", write_result(result, "fault_trials", args.out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
