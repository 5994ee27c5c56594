"""Segmentation on Spark: planted segments recovered, ids stable across nights, small segments merged,
MLflow run (the clustering helpers alone are in tests/unit/test_segments_math.py)."""

from __future__ import annotations

import datetime as dt

import pyarrow.parquet as pq
import pytest

from packaging_pipeline.core.config import Settings
from packaging_pipeline.core.errors import InputError
from packaging_pipeline.core.formats import read_json
from packaging_pipeline.core.keys import GROUND_TRUTH_KEY
from packaging_pipeline.core.storage import LocalLake
from packaging_pipeline.customers.features import run_customer_features
from packaging_pipeline.customers.segments import (
    SegmentationConfig,
    adjusted_rand_index,
    run_segmentation,
)
from packaging_pipeline.customers.spark_io import SparkLake
from packaging_pipeline.ingest.privacy import pseudonym
from packaging_pipeline.ingest.raw import ingest_range
from packaging_pipeline.sample_data.archetypes import ARCHETYPES
from packaging_pipeline.sample_data.generate import generate_sample_data

KEY = "segment-test-key"
NIGHTS = ("2026-11-20", "2026-11-21")
AUTO_K = SegmentationConfig(k_range=(4, 8), min_segment_size=20)


@pytest.fixture(scope="module")
def segmented(tmp_path_factory, spark):
    """Three weeks of a 1200-customer shop, segmented on two consecutive nights (k chosen by silhouette)."""
    lake = LocalLake(tmp_path_factory.mktemp("segments") / "lake")
    generate_sample_data(lake, start=dt.date(2026, 11, 1), days=21, customers=1200, seed=5)
    ingest_range(Settings(lake_uri=lake.uri, pseudonym_key=KEY), "2026-11-01", NIGHTS[-1])
    results = {}
    with SparkLake(lake, spark) as io:
        run_customer_features(io, NIGHTS[0], rebuild=True)
        results[NIGHTS[0]] = run_segmentation(io, NIGHTS[0], AUTO_K)
        run_customer_features(io, NIGHTS[1])
        results[NIGHTS[1]] = run_segmentation(io, NIGHTS[1], AUTO_K)
    return lake, results


def _assignments_with_truth(lake, ds: str):
    truth = pq.read_table(lake.root / GROUND_TRUTH_KEY).to_pandas()
    truth["customer_key"] = [pseudonym(KEY.encode(), c) for c in truth.customer_id]
    assigned = pq.read_table(lake.root / f"segments/ds={ds}/assignments").to_pandas()
    return assigned.merge(truth, on="customer_key", how="left")


@pytest.mark.parametrize("ds", NIGHTS)
def test_planted_segments_are_recovered(segmented, ds):
    lake, results = segmented
    joined = _assignments_with_truth(lake, ds)
    assert joined.planted_segment.notna().all(), "every assigned customer comes from the generated population"
    ari = adjusted_rand_index(joined.planted_segment, joined.segment_id)
    assert ari >= 0.9, f"adjusted Rand index {ari:.3f}; k chosen {results[ds]['k_fitted']}"
    assert len(ARCHETYPES) - 1 <= results[ds]["k_final"] <= len(ARCHETYPES) + 2


def test_segment_ids_are_stable_across_nights(segmented):
    lake, results = segmented
    first, second = (_assignments_with_truth(lake, ds) for ds in NIGHTS)
    # The segment most of each planted group lands in must be the same id on both nights.
    majority = [df.groupby("planted_segment").segment_id.agg(lambda s: s.mode().iloc[0]) for df in (first, second)]
    assert majority[0].to_dict() == majority[1].to_dict()
    same = first.merge(second, on="customer_key", suffixes=("_1", "_2"))
    assert (same.segment_id_1 == same.segment_id_2).mean() >= 0.95
    later = results[NIGHTS[1]]
    assert later["previous_ds"] == NIGHTS[0] and later["new_segments"] == [] and later["vanished_segments"] == []


def test_profiles_give_designers_what_they_need(segmented):
    lake, results = segmented
    profiles = read_json(lake, f"segments/ds={NIGHTS[1]}/profiles.json")
    assert profiles == results[NIGHTS[1]]
    assert sum(s["size"] for s in profiles["segments"]) == profiles["customers"]
    for seg in profiles["segments"]:
        assert seg["size"] >= AUTO_K.min_segment_size
        assert 3 <= len(seg["palette"]) <= 5 and all(c["hex"].startswith("#") for c in seg["palette"])
        assert seg["label"] and seg["top_categories"] and seg["preferred_device"]
        assert seg["centroid"]["monetary"] >= 0 and 0 <= seg["centroid"]["category_share_home"] <= 1
    ids = [s["segment_id"] for s in profiles["segments"]]
    assert profiles["next_segment_id"] > max(ids)


def test_a_rerun_of_a_night_gives_identical_outputs(segmented, spark):
    lake, results = segmented
    before = pq.read_table(lake.root / f"segments/ds={NIGHTS[1]}/assignments").to_pandas()
    with SparkLake(lake, spark) as io:
        again = run_segmentation(io, NIGHTS[1], AUTO_K)
    after = pq.read_table(lake.root / f"segments/ds={NIGHTS[1]}/assignments").to_pandas()
    assert before.equals(after)
    assert again == results[NIGHTS[1]]


def test_minimum_size_merges_small_segments(segmented, spark):
    lake, _ = segmented
    with SparkLake(lake, spark) as io:
        result = run_segmentation(io, NIGHTS[1], SegmentationConfig(k=8, min_segment_size=250))
    assert all(s["size"] >= 250 for s in result["segments"])
    assert result["k_fitted"] == 8 and result["k_final"] < 8
    assert sum(len(s["clusters_merged"]) for s in result["segments"]) == 8 - result["k_final"]


def test_k_is_searched_on_a_sample_and_the_chosen_k_fitted_on_everyone(segmented, spark):
    """At a million customers the search over k runs on a sample; everyone is then clustered with its k."""
    from dataclasses import replace

    from packaging_pipeline.customers.segments import fit_clusters, model_inputs

    lake, results = segmented
    with SparkLake(lake, spark) as io:
        inputs = model_inputs(io.read_prefix(f"features/customer/ds={NIGHTS[1]}"))
        n = inputs.count()
        sampled = fit_clusters(inputs, replace(AUTO_K, search_sample_size=600))
        clustered = sampled.assignments.toPandas()
    assert results[NIGHTS[1]]["k_search_customers"] == n, "below the sample size the search sees everyone"
    assert 400 < sampled.search_customers < 800, "a seeded sample of about 600 of the 1200 customers"
    assert sorted(sampled.silhouette_by_k) == list(range(AUTO_K.k_range[0], AUTO_K.k_range[1] + 1))
    assert len(clustered) == n and clustered.cluster.nunique() == sampled.k
    truth = _assignments_with_truth(lake, NIGHTS[1])[["customer_key", "planted_segment"]]
    joined = clustered.merge(truth, on="customer_key")
    ari = adjusted_rand_index(joined.planted_segment, joined.cluster)
    assert ari >= 0.9, f"adjusted Rand index {ari:.3f} with k={sampled.k} chosen on the sample"
    with pytest.raises(InputError, match="search_sample_size"):
        SegmentationConfig(search_sample_size=10)


def test_segmenting_without_features_is_a_clear_error(spark, tmp_path):
    with SparkLake(LocalLake(tmp_path / "lake"), spark) as io, pytest.raises(InputError, match="features --ds"):
        run_segmentation(io, "2026-11-21")


def test_segment_run_is_logged_to_mlflow(segmented):
    import mlflow

    from packaging_pipeline.customers.tracking import SEGMENTS_EXPERIMENT, log_segments

    _, results = segmented
    run_id = log_segments(results[NIGHTS[1]])
    run = mlflow.get_run(run_id)
    sizes = {k: v for k, v in run.data.metrics.items() if k.startswith("segment_") and k.endswith("_size")}
    assert sum(sizes.values()) == results[NIGHTS[1]]["customers"]
    assert run.data.tags["ds"] == NIGHTS[1] and run.data.params["previous_ds"] == NIGHTS[0]
    experiment = mlflow.get_experiment(run.info.experiment_id)
    assert experiment.name == SEGMENTS_EXPERIMENT
    artifacts = {a.path for a in mlflow.MlflowClient().list_artifacts(run_id)}
    assert {"segment_profiles.json", "profiles.json"} <= artifacts
