# Airflow image with the pipeline installed against the project's constraints: api-server, scheduler,
# dag-processor, triggerer and the default Celery workers; the compose file also runs the MLflow server
# and the Spark master/worker from it (one Spark and one Python stack everywhere). Build from the repo root:
#   docker build -f docker/airflow.Dockerfile -t packaging-airflow .
# The tag must match apache-airflow in constraints.txt (tests/unit/test_docker_config.py checks it).
FROM apache/airflow:3.3.2-python3.11

USER root
# Spark (spark-submit and the standalone master/worker from the pyspark distribution) needs a JRE.
ARG TARGETARCH=amd64
RUN apt-get update \
    && apt-get install -y --no-install-recommends openjdk-17-jre-headless \
    && rm -rf /var/lib/apt/lists/*
ENV JAVA_HOME=/usr/lib/jvm/java-17-openjdk-${TARGETARCH}
# Executors write their outputs here; on several hosts it must be a shared volume (docs/operations.md).
RUN mkdir -p /opt/spark-scratch && chown airflow:root /opt/spark-scratch

USER airflow
WORKDIR /opt/packaging
COPY --chown=airflow:root setup.py pyproject.toml constraints.txt ./
COPY --chown=airflow:root packaging_pipeline ./packaging_pipeline
# The extras pin apache-airflow to the base image's version, so pip cannot move Airflow. The Spark
# provider's pyspark-client overwrites pyspark's files: reinstall the full pyspark last (as `make install`).
RUN pip install --no-cache-dir -c constraints.txt ".[spark,tracking,airflow]" \
    && pip install --no-cache-dir --no-deps --force-reinstall \
       "pyspark==$(sed -n 's/^pyspark==\([^ ]*\).*/\1/p' constraints.txt)" \
    && python -c "import airflow.providers.celery.executors.celery_executor_utils, pyspark, mlflow"
# The DAG finds its Spark jobs next to the dags folder (dags/../spark_jobs).
COPY --chown=airflow:root dags /opt/airflow/dags
COPY --chown=airflow:root spark_jobs /opt/airflow/spark_jobs
COPY --chown=airflow:root plugins /opt/airflow/plugins
ENV PYSPARK_PYTHON=/usr/local/bin/python \
    PYSPARK_DRIVER_PYTHON=/usr/local/bin/python \
    PACKAGING_SPARK_SCRATCH=/opt/spark-scratch
WORKDIR /opt/airflow
