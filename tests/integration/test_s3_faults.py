"""S3 fault trials: ingest, the design stage, a republish and a pull through a fault-injecting proxy in front
of the test S3 endpoint (tests/support/fault_proxy.py: 500/503, resets before and after the store acted,
stalls, truncated bodies). Each trial ends identical to a fault-free run, or fails clearly leaving the
previous state for readers (judged in tests/support/fault_trials.py). bench/fault_trials.py runs many seeds."""

from __future__ import annotations

import dataclasses

import pytest

from packaging_pipeline.core.storage import LocalLake
from packaging_pipeline.design.batch import generate_night_designs
from tests.support.fault_proxy import FaultProxy
from tests.support.fault_trials import FAILED_CLEARLY, IDENTICAL, FaultBench, snapshot
from tests.support.nights import DS

RATES = {"ingest": 0.08, "designs": 0.08, "publish": 0.08, "pull": 0.2}  # a share is a handful of GETs
TRIALS = [("ingest", 1), ("ingest", 2), ("designs", 1), ("publish", 1), ("publish", 2), ("pull", 1), ("pull", 2)]


@pytest.fixture(scope="module")
def bench(night, s3_endpoint, tmp_path_factory):
    import boto3

    lake, settings = night
    night_objects = snapshot(lake, "")
    work = tmp_path_factory.mktemp("faults")
    staged_lake = LocalLake(work / "staged")
    staged_lake.upload_many((data, key) for key, data in night_objects.items())
    generate_night_designs(dataclasses.replace(settings, lake_uri=staged_lake.uri), DS,
                           designs_per_segment=1, use_model=False, workers=1)  # fmt: skip
    bucket = "fault-trials"
    boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1").create_bucket(Bucket=bucket)
    return FaultBench(s3_endpoint, bucket, night_objects, snapshot(staged_lake, ""), DS, work)


@pytest.mark.parametrize(("stage", "seed"), TRIALS, ids=[f"{s}-{n}" for s, n in TRIALS])
def test_a_stage_through_s3_faults_is_identical_or_fails_clearly(bench, s3_endpoint, stage, seed):
    with FaultProxy(s3_endpoint, rate=RATES[stage]) as proxy:
        trial = bench.trial(stage, proxy, seed)
    assert trial.outcome in (IDENTICAL, FAILED_CLEARLY), trial
    assert sum(trial.faults.values()) > 0, f"the trial met no fault: {trial}"
