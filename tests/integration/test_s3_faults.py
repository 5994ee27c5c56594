"""S3 fault trials: ingest, the design stage, publication and pull through a fault-injecting proxy in front of
the test S3 endpoint (tests/support/fault_proxy.py: 500/503, resets before and after the store acted, stalls,
truncated bodies). Each trial ends identical to a fault-free run or fails clearly leaving the previous
state for readers (tests/support/fault_trials.py). bench/fault_trials.py runs many more seeds."""

from __future__ import annotations

import pytest

from packaging_pipeline.core import keys
from packaging_pipeline.core.storage import S3Lake
from packaging_pipeline.design.batch import generate_night_designs
from packaging_pipeline.ingest.raw import ingest_partition
from packaging_pipeline.publication.publish import publish_batch
from packaging_pipeline.publication.pull import pull_batch
from tests.support.fault_proxy import FaultProxy
from tests.support.fault_trials import (
    FAILED_CLEARLY,
    IDENTICAL,
    copy_lake,
    design_trial,
    ingest_trial,
    publish_trial,
    pull_trial,
    snapshot,
)
from tests.support.nights import DS

SEEDS = (1, 2, 3)
RATE = 0.08


@pytest.fixture(scope="module")
def night_objects(night):
    """The segmented night (tests/support/nights.py) as key -> bytes, to copy into S3 prefixes."""
    lake, _ = night
    return snapshot(lake, "")


@pytest.fixture
def proxy(s3_endpoint):
    with FaultProxy(s3_endpoint, rate=RATE, seed=0) as p:
        yield p


def _direct(s3_options, bucket, prefix):
    return S3Lake(bucket, prefix, s3_options)


@pytest.mark.parametrize("seed", SEEDS)
def test_ingest_through_faults(proxy, s3_endpoint, s3_bucket, s3_options, settings_for, night_objects, seed):
    raw = {k: v for k, v in night_objects.items() if k.startswith("raw/") and f"ds={DS}/" in k}
    ref = _direct(s3_options, s3_bucket, "ref")
    copy_lake(raw, ref)
    ingest_partition(settings_for(ref), DS, ref)
    reference = snapshot(ref, "accepted/", "quarantine/", "reports/ingest/")
    proxy.random.seed(seed)
    trial = ingest_trial(proxy, s3_endpoint, s3_bucket, raw, reference, DS, seed)
    assert trial.outcome in (IDENTICAL, FAILED_CLEARLY) and sum(trial.faults.values()) > 0, trial


def test_the_design_stage_through_faults(proxy, s3_endpoint, s3_bucket, s3_options, settings_for, night_objects):
    ref = _direct(s3_options, s3_bucket, "ref")
    copy_lake(night_objects, ref)
    generate_night_designs(settings_for(ref), DS, designs_per_segment=1, use_model=False, workers=1)
    reference = snapshot(ref, keys.staging_prefix(DS))
    proxy.random.seed(7)
    trial = design_trial(proxy, s3_endpoint, s3_bucket, night_objects, reference, DS, 7)
    assert trial.outcome in (IDENTICAL, FAILED_CLEARLY) and sum(trial.faults.values()) > 0, trial


@pytest.fixture(scope="module")
def staged_objects(night, night_objects):
    """The night with its designs staged (one per segment), as key -> bytes."""
    from packaging_pipeline.core.storage import LocalLake

    lake, settings = night
    generate_night_designs(settings, DS, designs_per_segment=1, use_model=False, workers=1)
    return snapshot(LocalLake(lake.root), keys.staging_prefix(DS)) | {
        k: v for k, v in night_objects.items() if not k.startswith(keys.staging_prefix(DS))}  # fmt: skip


@pytest.mark.parametrize("seed", SEEDS)
def test_a_republish_through_faults(proxy, s3_endpoint, s3_bucket, s3_options, staged_objects, seed):
    ref = _direct(s3_options, s3_bucket, "ref")
    copy_lake(staged_objects, ref)
    publish_batch(ref, DS, model_version="A")
    batch = publish_batch(ref, DS, model_version="B")
    prefix = keys.published_batch_prefix(DS, batch["batch_id"])
    reference = {k[len(prefix):]: v for k, v in snapshot(ref, prefix).items()}
    proxy.random.seed(seed)
    trial = publish_trial(proxy, s3_endpoint, s3_bucket, staged_objects, reference, DS, seed)
    assert trial.outcome in (IDENTICAL, FAILED_CLEARLY) and sum(trial.faults.values()) > 0, trial


@pytest.mark.parametrize("seed", SEEDS)
def test_a_pull_through_faults(proxy, s3_endpoint, s3_bucket, s3_options, staged_objects, tmp_path, seed):
    ref = _direct(s3_options, s3_bucket, "ref")
    copy_lake(staged_objects, ref)
    published = publish_batch(ref, DS)
    warehouse = max(published["orders_per_warehouse"], key=published["orders_per_warehouse"].get)
    pull_batch(ref, DS, warehouse, tmp_path / "ref")
    reference = {p.relative_to(tmp_path / "ref").as_posix(): p.read_bytes()
                 for p in (tmp_path / "ref").rglob("*") if p.is_file()}  # fmt: skip
    proxy.random.seed(seed)
    proxy.rate = 0.2  # a share is a handful of GETs: a higher rate so every trial meets faults
    trial = pull_trial(proxy, s3_bucket, "ref", warehouse, reference, tmp_path / "trial", DS, seed)
    assert trial.outcome in (IDENTICAL, FAILED_CLEARLY) and sum(trial.faults.values()) > 0, trial
