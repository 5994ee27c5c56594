"""The console script as users run it: sample-data + ingest round trips on a local lake and on S3."""

from __future__ import annotations

import json

import pytest

from tests.support.cli import run_cli


@pytest.fixture(params=["file", "s3"])
def lake_target(request, tmp_path):
    """(lake URI, extra environment) for a local lake and for an S3 lake behind the moto server."""
    if request.param == "file":
        return (tmp_path / "lake").as_uri(), {}
    endpoint = request.getfixturevalue("s3_endpoint")
    bucket = request.getfixturevalue("s3_bucket")
    return f"s3://{bucket}/lake", {"AWS_ENDPOINT_URL": endpoint}


def test_sample_data_and_ingest_round_trip_with_bad_rows(lake_target):
    uri, env = lake_target
    gen = run_cli("sample-data", "--lake", uri, "--start", "2026-11-01", "--days", "2", "--customers", "150",
                  "--seed", "5", "--bad-row-share", "0.03", "--json", env=env)  # fmt: skip
    assert gen.returncode == 0, gen.stderr
    summary = json.loads(gen.stdout)
    assert summary["sources"]["clickstream"]["rows"] > 0 and sum(summary["bad_rows"].values()) > 0

    ing = run_cli("ingest", "--lake", uri, "--start", "2026-11-01", "--end", "2026-11-02", "--json",
                  env={**env, "PACKAGING_MAX_BAD_ROW_SHARE": "0.5"})  # fmt: skip
    assert ing.returncode == 0, ing.stderr
    nights = json.loads(ing.stdout)["nights"]
    assert [n["ds"] for n in nights] == ["2026-11-01", "2026-11-02"]
    quarantined = 0
    for night in nights:
        for name, src in night["sources"].items():
            assert src["read"] == src["accepted"] + src["quarantined"], (night["ds"], name)
            assert sum(src["reasons"].values()) == src["quarantined"]
            quarantined += src["quarantined"]
    assert quarantined > 0


def test_single_night_json_shape(lake_target):
    uri, env = lake_target
    assert run_cli("sample-data", "--lake", uri, "--start", "2026-11-01", "--days", "1", "--customers", "80",
                   env=env).returncode == 0  # fmt: skip
    out = run_cli("ingest", "--lake", uri, "--ds", "2026-11-01", "--json", env=env)
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert result["ds"] == "2026-11-01"
    assert set(result["sources"]) == {"clickstream", "orders", "catalog", "feedback"}
    clicks = result["sources"]["clickstream"]
    assert clicks["read"] == clicks["accepted"] > 0 and clicks["reasons"] == {}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["ingest", "--ds", "2026-13-01"], "invalid ds '2026-13-01'"),
        (["ingest"], "ingest needs --ds"),
        (["ingest", "--ds", "2026-11-01"], "no clickstream data for ds=2026-11-01"),
        (["sample-data", "--start", "2026-11-01", "--customers", "0"], "must be greater than zero"),
    ],
)
def test_bad_input_gets_a_message_not_a_traceback(tmp_path, args, message):
    out = run_cli(*args, "--lake", (tmp_path / "lake").as_uri())
    assert out.returncode == 2
    assert message in out.stderr
    assert "Traceback" not in out.stderr


def test_unreachable_s3_lake_is_a_clear_error(tmp_path):
    out = run_cli("ingest", "--lake", "s3://no-such-bucket/lake", "--ds", "2026-11-01",
                  env={"AWS_ENDPOINT_URL": "http://127.0.0.1:9"})  # fmt: skip
    assert out.returncode == 2 and "cannot access s3://no-such-bucket/lake" in out.stderr
    assert "Traceback" not in out.stderr


def test_pull_into_a_file_is_refused(tmp_path):
    target = tmp_path / "a-file"
    target.write_text("keep me")
    out = run_cli("pull", "--lake", (tmp_path / "lake").as_uri(), "--ds", "latest", "--warehouse", "WH-1",
                  "--dest", str(target))  # fmt: skip
    assert out.returncode == 2 and "is a file, not a folder" in out.stderr and "Traceback" not in out.stderr
    assert target.read_text() == "keep me"
