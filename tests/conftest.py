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
        "AWS_SECRET_ACCESS_KEY": "testing",
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
