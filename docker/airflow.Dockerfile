# Airflow image with the pipeline installed against the project's constraints (scheduler, api-server,
# dag-processor, triggerer and CPU Celery workers). Build from the repo root:
#   docker build -f docker/airflow.Dockerfile -t packaging-airflow .
FROM apache/airflow:3.3.2-python3.11

USER root
# Spark (spark-submit from the pyspark distribution) needs a JRE.
RUN apt-get update \
    && apt-get install -y --no-install-recommends openjdk-17-jre-headless \
    && rm -rf /var/lib/apt/lists/*
ENV JAVA_HOME=/usr/lib/jvm/java-17-openjdk-amd64

USER airflow
WORKDIR /opt/packaging
COPY --chown=airflow:root setup.py pyproject.toml constraints.txt ./
COPY --chown=airflow:root packaging_pipeline ./packaging_pipeline
RUN pip install --no-cache-dir -c constraints.txt ".[spark,tracking,airflow]" \
    && pip install --no-cache-dir --no-deps --force-reinstall "pyspark==$(sed -n 's/^pyspark==\([^ ]*\).*/\1/p' constraints.txt)"
COPY --chown=airflow:root dags /opt/airflow/dags
COPY --chown=airflow:root plugins /opt/airflow/plugins
ENV PYSPARK_PYTHON=/usr/local/bin/python
WORKDIR /opt/airflow
