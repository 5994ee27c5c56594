"""Shared fixtures: an isolated environment, a real S3 endpoint over HTTP (moto server), lakes on both.

Airflow reads its configuration at import, so the test Airflow home is set here, before any test
module imports it.
"""

from __future__ import annotations

import logging
import os
import socket
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
VENV_BIN = Path(sys.executable).parent

for name in list(os.environ):
    if name.startswith(("PACKAGING_", "AWS_", "AIRFLOW_", "AIRFLOW__", "MLFLOW_")):
        del os.environ[name]
_AIRFLOW_HOME = Path(tempfile.mkdtemp(prefix="airflow-home-"))
os.environ.update(
    {
        "AIRFLOW_HOME": str(_AIRFLOW_HOME),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{_AIRFLOW_HOME / 'airflow.db'}",
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        "PACKAGING_HOME": str(_AIRFLOW_HOME / "packaging-home"),
        # moto accepts any credentials; real ones must never be needed (or leak) in tests.
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",  # pragma: allowlist secret - moto takes any
        "AWS_DEFAULT_REGION": "us-east-1",
        "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        "PYSPARK_PYTHON": sys.executable,
        "PYSPARK_DRIVER_PYTHON": sys.executable,
        "MLFLOW_TRACKING_URI": f"sqlite:///{_AIRFLOW_HOME / 'mlflow.db'}",
        # Spark jobs in DAG tests run through spark-submit on a local master.
        "AIRFLOW_CONN_SPARK_DEFAULT": '{"conn_type": "spark", "host": "local[2]"}',
        "PACKAGING_SPARK_SHUFFLE_PARTITIONS": "2",
    }
)

TEST_PSEUDONYM_KEY = "test-pseudonym-key-not-a-secret"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def s3_endpoint() -> str:
    """A moto S3 server on 127.0.0.1: boto3 talks real HTTP to it."""
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture
def s3_options(s3_endpoint):
    from packaging_pipeline.core.config import S3Options

    return S3Options(endpoint_url=s3_endpoint, region_name="us-east-1")


@pytest.fixture
def s3_bucket(s3_endpoint) -> str:
    import boto3

    name = f"test-{uuid.uuid4().hex[:12]}"
    boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1").create_bucket(Bucket=name)
    return name


@pytest.fixture
def s3_lake(s3_bucket, s3_options):
    from packaging_pipeline.core.storage import S3Lake

    return S3Lake(s3_bucket, "lake", s3_options)


@pytest.fixture
def local_lake(tmp_path):
    from packaging_pipeline.core.storage import LocalLake

    return LocalLake(tmp_path / "lake")


@pytest.fixture(params=["file", "s3"])
def lake(request):
    """The same test against a local directory and against S3 over HTTP."""
    return request.getfixturevalue("local_lake" if request.param == "file" else "s3_lake")


@pytest.fixture
def settings_for():
    from packaging_pipeline.core.config import S3Options, Settings

    def make(lake, **overrides):
        s3 = getattr(lake, "options", S3Options())
        return Settings(lake_uri=lake.uri, s3=s3, pseudonym_key=TEST_PSEUDONYM_KEY, **overrides)

    return make


@pytest.fixture(scope="session")
def airflow_db() -> Path:
    """A migrated SQLite metadata DB in the session's Airflow home."""
    result = subprocess.run(
        [str(VENV_BIN / "airflow"), "db", "migrate"], capture_output=True, text=True, env=os.environ.copy()
    )
    assert result.returncode == 0, result.stderr[-3000:]
    pool = subprocess.run(
        [str(VENV_BIN / "airflow"), "pools", "set", "gpu", "1", "pattern GAN training"],
        capture_output=True, text=True, env=os.environ.copy(),
    )  # fmt: skip
    assert pool.returncode == 0, pool.stderr[-3000:]
    return _AIRFLOW_HOME


@pytest.fixture(scope="session")
def spark():
    """One local Spark session for the whole run: start-up costs seconds, tests reuse it."""
    from packaging_pipeline.customers.spark_io import build_session

    session = build_session("packaging-tests", "local[2]", 2, {"spark.ui.enabled": "false"})
    yield session
    session.stop()
    # py4j logs from __del__ at interpreter exit, after pytest closed the captured streams.
    logging.getLogger("py4j").setLevel(logging.ERROR)


# --------------------------------------------------------------------------------------------------
# Nights on a small local lake, shared by unit and integration tests (builders in tests/support/)


@pytest.fixture(scope="module")
def night(tmp_path_factory):
    """Two ingested nights and hand-made segments (tests/support/nights.py): (lake, settings)."""
    from tests.support.nights import segmented_night

    return segmented_night(tmp_path_factory.mktemp("designs") / "lake")


@pytest.fixture(scope="module")
def staged(tmp_path_factory):
    """A lake with the night's designs staged (as in tests/unit/test_design_batch.py): 2 segments + default."""
    from packaging_pipeline.design.batch import generate_night_designs
    from tests.support.nights import DS, segmented_night

    lake, settings = segmented_night(tmp_path_factory.mktemp("sustainability") / "lake")
    plan = generate_night_designs(settings, DS, designs_per_segment=2, use_model=False, workers=1)
    assert plan["design_ids"] == ["d20261102-sx-00", "d20261102-s0-00", "d20261102-s0-01", "d20261102-s1-00",
                                  "d20261102-s1-01"]  # fmt: skip
    return lake.root


@pytest.fixture(scope="module")
def gated(staged, tmp_path_factory):
    """The night gated with total ink coverage <= 60%, three designs repainted to known coverage.

    * s0-01 (yellow, navy): 31% yellow + 38% navy = 69% -> merging yellow (less coverage) leaves
      38% navy: optimised.
    * s1-01 (pink, purple): 66% pink + 19% purple -> merging purple leaves 66%: rejected; its
      orders move to s1-00 (about 40%), which passes.
    * sx-00, the default segment's only design: 70% beige + 9% navy -> 70% after: rejected, and
      the segment falls back to a plain box (nothing was published before).
    """
    import pyarrow.parquet as pq

    from packaging_pipeline.gate.night import gate_night
    from tests.support.gate import COVERAGE_060, STAGING, copy_night, hashes, ink_separations, policy_text, restage
    from tests.support.nights import DS

    lake, settings = copy_night(staged, tmp_path_factory.mktemp("gated") / "lake")
    restage(lake, "d20261102-s0-01", (80, 96))
    restage(lake, "d20261102-s1-01", (168, 48))
    restage(lake, "d20261102-sx-00", (180, 24))
    before = {
        "orders": pq.read_table(lake.root / STAGING / "order_designs.parquet").to_pandas(),
        "hashes": hashes(lake),
        "s0-01-inks": {
            k: ink_separations(lake.read_bytes(k))
            for k in hashes(lake, STAGING + "segment=0/d20261102-s0-01/")
            if k.endswith(".pdf")
        },  # fmt: skip
    }
    policy = lake.root.parent / "policy.yaml"
    policy.write_text(policy_text(**COVERAGE_060))
    gate = gate_night(settings, DS, policy, log_to_mlflow=False)
    return lake, settings, policy, gate, before


@pytest.fixture
def night1(tmp_path):
    """Night 1 of the feedback tests, published with four designs per segment: (lake, settings, plans, fitted)."""
    from tests.support.feedback import published_night1

    return published_night1(tmp_path / "lake")
