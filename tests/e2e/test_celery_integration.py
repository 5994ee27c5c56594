"""The nightly DAG, unchanged, on the engines a company deploys, as real processes on this machine.

Started here: an S3 endpoint (moto server), an MLflow tracking server on PostgreSQL with artifacts on
that S3, a Spark standalone master and worker from the venv's pyspark, and Airflow 3 with PostgreSQL
metadata and the CeleryExecutor on Redis (api-server, scheduler, dag-processor, two one-slot Celery
workers on queues ``default`` and ``gpu``). The run is triggered through the REST API like an
operator would.

What this proves, each asserted: the run succeeds; every task ran on a Celery worker (its task
instance carries the worker's own hostname and that worker logged the workload), the GAN on queue and
pool ``gpu``, the mapped design tasks (one per segment) on both workers; both Spark jobs ran as
applications of the standalone master; MLflow artifacts landed on S3; the published batch on S3 is
whole (manifest sha256s match, ``_SUCCESS``, ``LATEST``).

Isolation: databases with unique names, an empty Redis db, free ports; every process is started in
its own process group and killed with it, databases are dropped, also when the test fails.
Skipped only when PostgreSQL or Redis on 127.0.0.1 cannot be reached.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import REPO, TEST_PSEUDONYM_KEY, VENV_BIN, free_port
from tests.support.published import batch_of

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800)]

PG = {"host": "127.0.0.1", "port": 5432, "user": "postgres"}
REDIS_HOST, REDIS_PORT = "127.0.0.1", 6379
DAG_ID = "packaging_nightly"
DS = "2026-11-01"
# The 03:00 run on 2026-11-02 covers the interval starting 2026-11-01 03:00: ds = 2026-11-01.
RUN_INTERVAL = ("2026-11-01T03:00:00Z", "2026-11-02T03:00:00Z")
RUN_CONF = {"segment_k": 3, "min_segment_size": 10, "gan_epochs": 1, "gan_pretrain_epochs": 1, "judge_epochs": 2,
            "designs_per_segment": 2}
SPARK_TASKS = {"build_customer_features": "customer_features", "segment_customers": "segment_customers"}
# Gives the Celery worker (only) its own hostname, so a task instance shows which process ran it.
HOSTNAME_MODULE = "def hostname() -> str:\n    return {name!r}\n"


def _reachable(host: str, port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=2):
        return True
    return False


@pytest.fixture(scope="module", autouse=True)
def _services_reachable() -> None:
    missing = [f"{name} on {host}:{port}" for name, host, port in
               (("PostgreSQL", PG["host"], PG["port"]), ("Redis", REDIS_HOST, REDIS_PORT))
               if not _reachable(host, port)]  # fmt: skip
    if missing:
        pytest.skip(f"integration test needs {' and '.join(missing)}, which did not answer")


class Processes:
    """Long-running subprocesses, each in its own process group with its output in a log file."""

    def __init__(self, log_dir: Path):
        self.log_dir = log_dir
        self.started: list[tuple[str, subprocess.Popen]] = []

    def start(self, name: str, cmd: list[str], env: dict[str, str]) -> subprocess.Popen:
        log = open(self.log_dir / f"{name}.log", "wb")  # noqa: SIM115 - closed with the process
        proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        log.close()
        self.started.append((name, proc))
        return proc

    def log(self, name: str, tail: int = 4000) -> str:
        path = self.log_dir / f"{name}.log"
        return path.read_text(errors="replace")[-tail:] if path.exists() else ""

    def check_alive(self) -> None:
        dead = [(name, p.returncode) for name, p in self.started if p.poll() is not None]
        assert not dead, "processes exited early: " + "; ".join(
            f"{name} (exit {rc}):\n{self.log(name)}" for name, rc in dead
        )

    def stop_all(self) -> None:
        """SIGTERM every group (newest first), then SIGKILL what is left after a grace period."""
        for _, proc in reversed(self.started):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + 30
        for _, proc in reversed(self.started):
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            # Grandchildren (task runners, Spark executors) share the group: kill it even if the leader exited.
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=5)


def _wait_until(what: str, check, timeout: float, procs: Processes, interval: float = 2.0):  # noqa: ANN001, ANN202
    deadline = time.monotonic() + timeout
    while True:
        procs.check_alive()
        with contextlib.suppress(Exception):
            value = check()
            if value:
                return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


def _http_json(url: str, method: str = "GET", body: dict | None = None, token: str | None = None) -> dict:
    headers = {"Content-Type": "application/json", "Accept": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, headers=headers, method=method)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as exc:
        raise AssertionError(f"{method} {url} -> {exc.code}: {exc.read()[:2000]!r}") from None


@pytest.fixture(scope="module")
def databases() -> Iterator[dict[str, str]]:
    """Two fresh PostgreSQL databases (Airflow metadata, MLflow backend), dropped afterwards."""
    import psycopg2

    tag = uuid.uuid4().hex[:10]
    names = {"airflow": f"packaging_it_airflow_{tag}", "mlflow": f"packaging_it_mlflow_{tag}"}
    admin = psycopg2.connect(dbname="postgres", **PG)
    admin.autocommit = True
    created: list[str] = []
    try:
        with admin.cursor() as cur:
            for name in names.values():
                cur.execute(f'CREATE DATABASE "{name}"')
                created.append(name)
        yield {role: f"postgresql://{PG['user']}@{PG['host']}:{PG['port']}/{name}" for role, name in names.items()}
    finally:
        with admin.cursor() as cur:
            for name in created:
                cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


@pytest.fixture(scope="module")
def redis_db() -> Iterator[int]:
    """An empty Redis database number for the Celery broker, flushed afterwards."""
    import redis

    for number in range(15, 0, -1):
        client = redis.Redis(host=REDIS_HOST, port=REDIS_PORT, db=number)
        # Claim the db with a marker key so a parallel run picks another one.
        if client.dbsize() == 0 and client.set("packaging-it-claim", "1", nx=True):
            try:
                yield number
            finally:
                client.flushdb()
                client.close()
            return
        client.close()
    pytest.fail("no empty Redis database among 1..15 for the Celery broker")


@pytest.fixture(scope="module")
def stack(tmp_path_factory, databases, redis_db) -> Iterator[dict]:
    """Start every service; yields their addresses, the shared environment and the process table."""
    root = tmp_path_factory.mktemp("celery-it")
    procs = Processes(root)
    try:
        yield _start_stack(root, procs, databases, redis_db)
    finally:
        procs.stop_all()


def _start_stack(root: Path, procs: Processes, databases: dict[str, str], redis_db: int) -> dict:
    import boto3

    ports = {name: free_port() for name in ("s3", "mlflow", "spark", "spark_ui", "spark_worker_ui", "api", "logs")}
    s3_url = f"http://127.0.0.1:{ports['s3']}"
    bucket = f"packaging-it-{uuid.uuid4().hex[:8]}"
    base = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "MLFLOW", "PACKAGING_"))}
    base.update(
        {
            "PATH": f"{VENV_BIN}{os.pathsep}{os.environ['PATH']}",
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",  # pragma: allowlist secret - moto takes any
            "AWS_DEFAULT_REGION": "us-east-1",
            "PYSPARK_PYTHON": sys.executable,
            "PYSPARK_DRIVER_PYTHON": sys.executable,
            "SPARK_LOCAL_IP": "127.0.0.1",
        }
    )

    procs.start("s3", [str(VENV_BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(ports["s3"])], base)
    _wait_until("the S3 endpoint", lambda: _reachable("127.0.0.1", ports["s3"]), 60, procs, 0.5)
    boto3.client("s3", endpoint_url=s3_url, region_name="us-east-1").create_bucket(Bucket=bucket)

    mlflow_env = {**base, "MLFLOW_S3_ENDPOINT_URL": s3_url}
    procs.start("mlflow", [
        str(VENV_BIN / "mlflow"), "server", "--host", "127.0.0.1", "--port", str(ports["mlflow"]), "--workers", "1",
        "--backend-store-uri", databases["mlflow"], "--artifacts-destination", f"s3://{bucket}/mlartifacts",
    ], mlflow_env)  # fmt: skip

    spark_class = str(VENV_BIN / "spark-class")  # from the pyspark distribution, the same Spark as spark-submit
    spark_env = {**base, "SPARK_LOCAL_DIRS": str(root / "spark-local"), "SPARK_LOG_DIR": str(root)}
    master = f"spark://127.0.0.1:{ports['spark']}"
    procs.start("spark-master", [
        spark_class, "org.apache.spark.deploy.master.Master", "--host", "127.0.0.1",
        "--port", str(ports["spark"]), "--webui-port", str(ports["spark_ui"]),
    ], spark_env)  # fmt: skip
    spark_json = f"http://127.0.0.1:{ports['spark_ui']}/json/"
    _wait_until("the Spark master", lambda: _http_json(spark_json).get("status") == "ALIVE", 120, procs)
    procs.start("spark-worker", [
        spark_class, "org.apache.spark.deploy.worker.Worker", master, "--host", "127.0.0.1",
        "--cores", "2", "--memory", "2g", "--webui-port", str(ports["spark_worker_ui"]),
        "--work-dir", str(root / "spark-work"),
    ], spark_env)  # fmt: skip
    _wait_until("a Spark worker registered with the master", lambda: _http_json(spark_json)["aliveworkers"] >= 1,
                120, procs)  # fmt: skip

    # Airflow: PostgreSQL metadata, Celery on Redis, configuration and connections from the environment only.
    airflow_home = root / "airflow"
    airflow_home.mkdir()
    password = secrets.token_urlsafe(16)
    (root / "passwords.json").write_text(json.dumps({"operator": password}))
    api = f"http://127.0.0.1:{ports['api']}"
    metadata = databases["airflow"].replace("postgresql://", "postgresql+psycopg2://", 1)
    airflow_env = {
        **base,
        "AIRFLOW_HOME": str(airflow_home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": metadata,
        "AIRFLOW__CELERY__BROKER_URL": f"redis://{REDIS_HOST}:{REDIS_PORT}/{redis_db}",
        "AIRFLOW__CELERY__RESULT_BACKEND": "db+" + databases["airflow"],
        "AIRFLOW__CELERY__WORKER_CONCURRENCY": "2",
        "AIRFLOW__API__BASE_URL": api,
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{api}/execution/",
        "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(32),
        "AIRFLOW__API__SECRET_KEY": secrets.token_urlsafe(32),
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "operator:admin",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(root / "passwords.json"),
        "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(ports["logs"]),
        # Only the run the test triggers: no scheduled run of the latest interval next to it (max_active_runs=1).
        "AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": "False",
        "AIRFLOW_CONN_SPARK_DEFAULT": json.dumps({"conn_type": "spark", "host": "spark://127.0.0.1",
                                                  "port": ports["spark"]}),  # fmt: skip
        "AIRFLOW_CONN_AWS_DEFAULT": json.dumps({
            "conn_type": "aws", "login": "testing", "password": "testing",  # pragma: allowlist secret - moto
            "extra": {"endpoint_url": s3_url, "region_name": "us-east-1"},
        }),  # fmt: skip
        "AIRFLOW_CONN_PACKAGING_PSEUDONYM": json.dumps({"conn_type": "generic", "password": TEST_PSEUDONYM_KEY}),
        "MLFLOW_TRACKING_URI": f"http://127.0.0.1:{ports['mlflow']}",
        "PACKAGING_LAKE_URI": f"s3://{bucket}/lake",
        # spark-submit jobs read the lake's endpoint from the environment (they see no Airflow connections).
        "AWS_ENDPOINT_URL_S3": s3_url,
        "PACKAGING_SPARK_SHUFFLE_PARTITIONS": "2",
    }
    airflow = str(VENV_BIN / "airflow")
    for args in (["db", "migrate"], ["pools", "set", "gpu", "1", "one slot per GPU worker"]):
        done = subprocess.run([airflow, *args], env=airflow_env, capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, f"airflow {' '.join(args)} failed:\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}"

    workers = {f"celery-worker-{n}": f"celery-worker-{n}-{uuid.uuid4().hex[:8]}" for n in (1, 2)}
    procs.start("api-server", [airflow, "api-server", "--host", "127.0.0.1", "--port", str(ports["api"]),
                               "--workers", "1"], airflow_env)  # fmt: skip
    procs.start("scheduler", [airflow, "scheduler"], airflow_env)
    procs.start("dag-processor", [airflow, "dag-processor"], airflow_env)
    # Two workers of one slot each: the night's mapped design tasks must spread over both.
    for proc_name, worker_name in workers.items():
        identity = root / f"identity-{proc_name}"
        identity.mkdir()
        (identity / "packaging_it_worker.py").write_text(HOSTNAME_MODULE.format(name=worker_name))
        worker_env = {**airflow_env, "PYTHONPATH": str(identity),
                      "AIRFLOW__CORE__HOSTNAME_CALLABLE": "packaging_it_worker.hostname"}  # fmt: skip
        procs.start(proc_name, [airflow, "celery", "worker", "-q", "default,gpu", "--concurrency", "1",
                                "--celery-hostname", f"{worker_name}@%h"], worker_env)  # fmt: skip

    _wait_until("the Airflow api-server", lambda: _http_json(f"{api}/api/v2/monitor/health"), 240, procs)
    _wait_until("the MLflow server", lambda: urllib.request.urlopen(
        f"http://127.0.0.1:{ports['mlflow']}/health", timeout=5).status == 200, 240, procs)  # fmt: skip
    for proc_name in workers:
        _wait_until(f"the Celery worker {proc_name}", lambda n=proc_name: "ready" in procs.log(n, 100_000), 240, procs)
    return {
        "procs": procs, "api": api, "password": password, "env": airflow_env, "s3_url": s3_url, "bucket": bucket,
        "spark_json": spark_json, "spark_master": master, "workers": workers,
        "mlflow": airflow_env["MLFLOW_TRACKING_URI"],
    }  # fmt: skip


def _s3_lake(stack: dict):
    from packaging_pipeline.core.config import S3Options
    from packaging_pipeline.core.storage import S3Lake

    return S3Lake(stack["bucket"], "lake", S3Options(endpoint_url=stack["s3_url"], region_name="us-east-1"))


def _task_instances(stack: dict, token: str, run_id: str) -> list[dict]:
    url = f"{stack['api']}/api/v2/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances"
    return _http_json(url, token=token)["task_instances"]


def _task_log(stack: dict, token: str, run_id: str, task_id: str, try_number: int) -> str:
    url = f"{stack['api']}/api/v2/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances/{task_id}/logs/{try_number}"
    with contextlib.suppress(AssertionError):
        return json.dumps(_http_json(url, token=token).get("content"))
    return ""


def _wait_for_run(stack: dict, token: str, run_id: str, timeout: float) -> dict:
    """Poll the run; stop at the first retry or failure (the DAG's retry delay is minutes) with the task's log."""
    deadline = time.monotonic() + timeout
    while True:
        stack["procs"].check_alive()
        run = _http_json(f"{stack['api']}/api/v2/dags/{DAG_ID}/dagRuns/{run_id}", token=token)
        tis = _task_instances(stack, token, run_id)
        broken = [ti for ti in tis if ti["state"] in ("up_for_retry", "failed", "upstream_failed", "up_for_reschedule")]
        if broken or run["state"] == "failed":
            logs = "\n".join(f"--- {ti['task_id']} ({ti['state']}):\n"
                             f"{_task_log(stack, token, run_id, ti['task_id'], max(1, ti['try_number']))[-4000:]}"
                             for ti in broken)  # fmt: skip
            states = {ti["task_id"]: ti["state"] for ti in tis}
            pytest.fail(f"run {run_id} is {run['state']}, tasks {states}\n{logs}\n"
                        + "".join(f"--- {name} log:\n{stack['procs'].log(name)}" for name in stack["workers"]))
        if run["state"] == "success":
            return run
        if time.monotonic() > deadline:
            states = {ti["task_id"]: ti["state"] for ti in tis}
            pytest.fail(f"run {run_id} still {run['state']} after {timeout:.0f} s: {states}\n"
                        f"{stack['procs'].log('scheduler')}")  # fmt: skip
        time.sleep(5)


def test_nightly_runs_on_celery_workers_a_spark_cluster_mlflow_server_and_s3(stack):
    procs: Processes = stack["procs"]
    env = stack["env"]

    # The operator prepares the night's raw inputs in the S3 lake.
    sample = subprocess.run(
        [str(VENV_BIN / "packaging-pipeline"), "sample-data", "--start", DS, "--days", "1", "--customers", "300",
         "--seed", "11"],
        env={**env, "AWS_ENDPOINT_URL": stack["s3_url"]}, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert sample.returncode == 0, sample.stderr[-3000:]

    # Like an operator: a token from the api-server, unpause, trigger the 2026-11-02 03:00 run, wait.
    api = stack["api"]
    token = _http_json(f"{api}/auth/token", "POST", {"username": "operator", "password": stack["password"]})
    token = token["access_token"]
    _wait_until("the DAG to be parsed", lambda: _http_json(f"{api}/api/v2/dags/{DAG_ID}", token=token), 300, procs, 3)
    _http_json(f"{api}/api/v2/dags/{DAG_ID}", "PATCH", {"is_paused": False}, token)
    run = _http_json(f"{api}/api/v2/dags/{DAG_ID}/dagRuns", "POST", {
        "dag_run_id": f"integration-{uuid.uuid4().hex[:8]}", "logical_date": RUN_INTERVAL[1],
        "data_interval_start": RUN_INTERVAL[0], "data_interval_end": RUN_INTERVAL[1], "conf": RUN_CONF,
    }, token)  # fmt: skip
    run = _wait_for_run(stack, token, run["dag_run_id"], timeout=1500)
    assert run["state"] == "success"

    # Every task ran once, on a Celery worker: its hostname, a Celery queue, and that worker's own log.
    all_tis = _task_instances(stack, token, run["dag_run_id"])
    tis = {ti["task_id"]: ti for ti in all_tis if ti["map_index"] < 0}
    assert set(tis) >= {"wait_for_raw_inputs", "ingest_raw", *SPARK_TASKS, "log_segment_profiles",
                        "train_pattern_gan", "evaluate_and_promote_model", "plan_designs", "collect_designs",
                        "evaluate_sustainability", "publish_batch"}, sorted(tis)  # fmt: skip
    logs = {worker_name: procs.log(proc_name, 10_000_000) for proc_name, worker_name in stack["workers"].items()}
    for ti in all_tis:
        label = f"{ti['task_id']}[{ti['map_index']}]"
        assert ti["state"] == "success", (label, ti["state"])
        assert ti["hostname"] in logs, f"{label} ran on {ti['hostname']!r}, not a Celery worker"
        assert f"task_id='{ti['task_id']}'" in logs[ti["hostname"]], f"{ti['hostname']} never received {label}"
    assert sum(log.count("Executing workload in Celery") for log in logs.values()) >= len(all_tis)
    assert (tis["train_pattern_gan"]["queue"], tis["train_pattern_gan"]["pool"]) == ("gpu", "gpu")
    assert {ti["queue"] for ti in all_tis if ti["task_id"] != "train_pattern_gan"} == {"default"}
    # One design task per segment, and they spread over both workers.
    segments = _http_json(f"{api}/api/v2/dags/{DAG_ID}/dagRuns/{run['dag_run_id']}/taskInstances/plan_designs"
                          "/xcomEntries/return_value?deserialize=true", token=token)["value"]  # fmt: skip
    designs = [ti for ti in all_tis if ti["task_id"] == "generate_designs"]
    assert sorted(ti["map_index"] for ti in designs) == list(range(len(segments))) and len(segments) >= 2
    assert {ti["hostname"] for ti in designs} == set(logs), [(ti["map_index"], ti["hostname"]) for ti in designs]

    # Spark jobs were applications of the standalone master, not local mode.
    cluster = _http_json(stack["spark_json"])
    apps = cluster["completedapps"]
    for task_id, app_name in SPARK_TASKS.items():
        ran = [a for a in apps if a["name"].startswith(app_name)]
        assert ran and all(a["state"] == "FINISHED" for a in ran), (app_name, apps)
        assert stack["spark_master"] in _task_log(stack, token, run["dag_run_id"], task_id, 1)

    # MLflow: the server holds the night's runs, and their artifacts are objects on S3.
    from mlflow.tracking import MlflowClient

    client = MlflowClient(stack["mlflow"])
    trained = _http_json(f"{api}/api/v2/dags/{DAG_ID}/dagRuns/{run['dag_run_id']}/taskInstances/train_pattern_gan"
                         "/xcomEntries/return_value?deserialize=true", token=token)["value"]  # fmt: skip
    gan_run = client.get_run(trained["run_id"])
    assert gan_run.data.tags["ds"] == DS and gan_run.data.tags["airflow.run_id"] == run["dag_run_id"]
    import boto3

    s3 = boto3.client("s3", endpoint_url=stack["s3_url"], region_name="us-east-1")
    artifacts = s3.list_objects_v2(Bucket=stack["bucket"], Prefix="mlartifacts/")
    assert any(trained["run_id"] in obj["Key"] for obj in artifacts.get("Contents", [])), "no GAN artifacts on S3"

    # The published batch on S3 is whole: every manifest file present with its sha256, _SUCCESS, LATEST.
    lake = _s3_lake(stack)
    assert lake.read_text("published/LATEST").strip() == DS
    batch = batch_of(lake, DS)
    manifest_bytes = lake.read_bytes(batch.manifest_key)
    assert batch.manifest_sha256 == hashlib.sha256(manifest_bytes).hexdigest()
    manifest = json.loads(manifest_bytes)
    assert manifest["ds"] == DS and manifest["counts"]["designs"] > 0 and manifest["files"]
    for entry in manifest["files"]:
        assert hashlib.sha256(lake.read_bytes(batch.key(entry["key"]))).hexdigest() == entry["sha256"], entry["key"]
