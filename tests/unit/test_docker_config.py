"""What can be checked of docker/ without a Docker engine: the compose topology, its variables, the Dockerfiles.

Not a substitute for `docker compose up` (no engine on the build machine): it catches a missing service,
an unresolved variable, a dependency on a service that has no health check, a missing GPU reservation,
an unpinned or drifting base image and secrets baked into an image.
"""

from __future__ import annotations

import json
import re

import pytest
import yaml

from tests.conftest import REPO

DOCKER = REPO / "docker"
VAR = re.compile(r"(?<!\$)\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?P<op>:?[-?])?(?P<arg>[^}]*)\}")
SERVICES = {
    "postgres", "redis", "minio", "minio-init", "mlflow", "spark-master", "spark-worker", "airflow-init",
    "airflow-api-server", "airflow-scheduler", "airflow-dag-processor", "airflow-triggerer", "airflow-worker",
    "airflow-gpu-worker",
}  # fmt: skip
ONE_SHOT = {"minio-init", "airflow-init"}


def _env_example() -> dict[str, str]:
    values = {}
    for line in (DOCKER / ".env.example").read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, sep, value = line.partition("=")
            assert sep, f".env.example: {line!r} is not NAME=value"
            values[name.strip()] = value.strip()
    return values


def _interpolate(text: str, env: dict[str, str]) -> str:
    """Compose's ${VAR}, ${VAR:-default}, ${VAR:?error}; a variable neither set nor defaulted is an error."""

    def replace(match: re.Match) -> str:
        name, op, arg = match["name"], match["op"], match["arg"]
        if env.get(name):
            return env[name]
        if op in (":-", "-"):
            return arg
        raise AssertionError(f"docker-compose.yml uses ${{{name}}}, which docker/.env.example does not set")

    return VAR.sub(replace, text).replace("$$", "$")


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(_interpolate((DOCKER / "docker-compose.yml").read_text(), _env_example()))


def _env(service: dict) -> dict[str, str]:
    env = service.get("environment") or {}
    return dict(item.split("=", 1) for item in env) if isinstance(env, list) else {k: str(v) for k, v in env.items()}


def _command(service: dict) -> str:
    parts = []
    for key in ("entrypoint", "command"):
        value = service.get(key) or []
        parts.extend(value if isinstance(value, list) else [value])
    return " ".join(str(p) for p in parts)


def test_every_variable_resolves_from_the_example_env_and_nothing_else_is_needed(compose):
    text = (DOCKER / "docker-compose.yml").read_text()
    used = {m["name"] for m in VAR.finditer(text)}
    example = _env_example()
    required = {m["name"] for m in VAR.finditer(text) if m["op"] in (":?", "?", None)}
    assert required <= set(example), f"set in .env.example: {sorted(required - set(example))}"
    assert set(example) <= used, f".env.example sets variables compose never reads: {sorted(set(example) - used)}"
    assert compose["name"] == "packaging"


def test_example_env_holds_placeholders_and_the_real_env_is_ignored():
    secrets = {k: v for k, v in _env_example().items() if re.search("PASSWORD|SECRET|KEY", k)}
    assert secrets and all(v == "change-me" for v in secrets.values()), secrets
    ignored = (REPO / ".gitignore").read_text().split()
    assert ".env" in ignored


def test_topology_has_every_service_with_a_health_check_or_one_shot(compose):
    services = compose["services"]
    assert set(services) == SERVICES
    for name, service in services.items():
        if name in ONE_SHOT:
            assert service.get("restart") == "no", name
        else:
            assert service.get("healthcheck", {}).get("test"), f"{name} has no health check"


def test_dependencies_wait_for_health_or_completion(compose):
    services = compose["services"]
    for name, service in services.items():
        for dep, rule in (service.get("depends_on") or {}).items():
            assert dep in services, f"{name} depends on unknown {dep}"
            expected = "service_completed_successfully" if dep in ONE_SHOT else "service_healthy"
            assert rule["condition"] == expected, (name, dep, rule)
    airflow = [n for n in services if n.startswith("airflow-") and n != "airflow-init"]
    for name in airflow:
        assert {"postgres", "redis", "airflow-init"} <= set(services[name]["depends_on"]), name
    assert "spark-master" in services["airflow-worker"]["depends_on"]
    assert "mlflow" in services["airflow-gpu-worker"]["depends_on"]


def test_airflow_runs_celery_on_redis_and_postgres_with_connections_from_the_environment(compose):
    services = compose["services"]
    for name in [n for n in services if n.startswith("airflow-")]:
        env = _env(services[name])
        assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor", name
        assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].startswith("postgresql+psycopg2://airflow:"), name
        assert env["AIRFLOW__CELERY__BROKER_URL"].startswith("redis://") and "@redis:6379/" in env[
            "AIRFLOW__CELERY__BROKER_URL"
        ]
        spark = json.loads(env["AIRFLOW_CONN_SPARK_DEFAULT"])
        assert f"{spark['host']}:{spark['port']}" == "spark://spark-master:7077"
        aws = json.loads(env["AIRFLOW_CONN_AWS_DEFAULT"])
        assert aws["extra"]["endpoint_url"] == env["AWS_ENDPOINT_URL_S3"] == "http://minio:9000"
        assert env["MLFLOW_TRACKING_URI"] == "http://mlflow:5000"
        assert env["PACKAGING_LAKE_URI"] == "s3://packaging-lake/lake"
        assert env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] == "http://airflow-api-server:8080/execution/"
    # The MLflow backend database is created next to Airflow's; its artifacts go to MinIO.
    mlflow = _command(services["mlflow"])
    assert "postgres:5432/mlflow" in mlflow and "--artifacts-destination=s3://packaging-mlflow/" in mlflow
    assert "CREATE DATABASE mlflow" in (DOCKER / "postgres-init" / "01-mlflow-db.sql").read_text()
    assert "packaging-lake" in services["minio-init"]["environment"]["LAKE_BUCKET"]


def test_workers_split_queues_and_the_gpu_worker_reserves_a_gpu(compose):
    services = compose["services"]
    default, gpu = services["airflow-worker"], services["airflow-gpu-worker"]
    assert re.search(r"celery worker -q default\b", _command(default))
    assert re.search(r"celery worker -q gpu --concurrency 1\b", _command(gpu))
    assert gpu["build"]["dockerfile"] == "docker/gpu-worker.Dockerfile"
    devices = gpu["deploy"]["resources"]["reservations"]["devices"]
    assert devices == [{"driver": "nvidia", "count": 1, "capabilities": ["gpu"]}]
    # Spark client mode: executors reach the driver by name, and both sides see the same scratch volume.
    assert default["hostname"] == _env(default)["SPARK_LOCAL_HOSTNAME"] == "airflow-worker"
    assert "spark-scratch:/opt/spark-scratch" in default["volumes"]
    assert "spark-scratch:/opt/spark-scratch" in services["spark-worker"]["volumes"]
    assert "spark-scratch" in compose["volumes"]


def _dockerfile(name: str) -> list[str]:
    """Instructions with continuation lines joined, comments dropped."""
    text = re.sub(r"\\\n", " ", (DOCKER / name).read_text())
    return [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]


def _pin(package: str) -> str:
    match = re.search(rf"^{re.escape(package)}==(\S+)", (REPO / "constraints.txt").read_text(), re.MULTILINE)
    assert match, f"constraints.txt pins no {package}"
    return match[1]


@pytest.mark.parametrize(
    ("dockerfile", "base", "package"),
    [
        ("airflow.Dockerfile", "apache/airflow:{}-python3.11", "apache-airflow"),
        ("gpu-worker.Dockerfile", "tensorflow/tensorflow:{}-gpu", "tensorflow-cpu"),
    ],
)
def test_dockerfile_lint(dockerfile, base, package):
    lines = _dockerfile(dockerfile)
    froms = [line.split()[1] for line in lines if line.upper().startswith("FROM ")]
    assert froms == [base.format(_pin(package))], f"{dockerfile}: base {froms} must follow constraints.txt"
    for image in froms:
        assert ":" in image and not image.endswith(":latest"), f"{dockerfile}: unpinned base {image}"
    for line in lines:
        instruction = line.split()[0].upper()
        assert instruction in {"FROM", "RUN", "COPY", "ENV", "ARG", "USER", "WORKDIR", "CMD", "ENTRYPOINT"}, line
        if instruction in ("ENV", "ARG"):
            assert not re.search(r"(PASSWORD|SECRET|TOKEN|_KEY)\w*=", line), f"{dockerfile}: secret in image: {line}"
        if instruction == "RUN" and "pip install" in line and " -c " not in line:
            assert "--no-deps" in line, f"{dockerfile}: pip install without the constraints file: {line}"
        assert "ADD http" not in line, f"{dockerfile}: remote ADD"
    users = [line.split()[1] for line in lines if line.startswith("USER ")]
    assert users and users[-1] not in ("root", "0"), f"{dockerfile}: the image runs as root"
    copies = " ".join(line for line in lines if line.startswith("COPY"))
    # The DAG finds its Spark jobs at dags/../spark_jobs: both must be copied side by side.
    assert "dags /opt/airflow/dags" in copies and "spark_jobs /opt/airflow/spark_jobs" in copies


def test_compose_images_are_pinned(compose):
    for name, service in compose["services"].items():
        image = service.get("image", "")
        assert image and ":" in image and not image.endswith(":latest"), f"{name}: unpinned image {image!r}"


def test_dockerignore_keeps_local_state_out_of_the_build_context():
    ignored = (REPO / ".dockerignore").read_text().split()
    for entry in (".venv", ".demo", ".env", "docker/.env", ".git"):
        assert entry in ignored, entry
