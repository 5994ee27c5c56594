# GPU training worker: the pattern GAN task (queue `gpu`, pool `gpu`) on a CUDA build of TensorFlow.
# The base image's TensorFlow must be the version constraints.txt pins for tensorflow-cpu (the same Keras
# and protobuf); tests/unit/test_docker_config.py checks it. Build from the repo root:
#   docker build -f docker/gpu-worker.Dockerfile -t packaging-gpu-worker .
# Run with a GPU: `docker run --gpus all ...` or the compose service `airflow-gpu-worker`.
FROM tensorflow/tensorflow:2.21.0-gpu

# TF_FORCE_GPU_ALLOW_GROWTH: grow GPU memory on demand (set before TensorFlow touches the GPU).
ENV AIRFLOW_HOME=/opt/airflow \
    PIP_NO_CACHE_DIR=1 \
    TF_FORCE_GPU_ALLOW_GROWTH=true

# The same uid/gid as the official Airflow image, so shared volumes (logs) have one owner.
RUN useradd --create-home --uid 50000 --gid 0 airflow \
    && mkdir -p /opt/airflow/dags /opt/airflow/logs /opt/packaging \
    && chown -R airflow:0 /opt/airflow /opt/packaging

WORKDIR /opt/packaging
COPY --chown=airflow:0 setup.py pyproject.toml constraints.txt ./
COPY --chown=airflow:0 packaging_pipeline ./packaging_pipeline
# No `tf` extra: it would add tensorflow-cpu beside the image's GPU TensorFlow. Everything else comes
# from the same constraints as the Airflow image, so the worker runs the scheduler's Airflow version.
RUN sed '/^tensorflow-cpu==/d' constraints.txt > /tmp/constraints-gpu.txt \
    && python -m pip install -c /tmp/constraints-gpu.txt ".[tracking,airflow]" \
    && python -c "import tensorflow as tf, airflow.providers.celery.executors.celery_executor_utils; print(tf.__version__)"

USER airflow
COPY --chown=airflow:0 dags /opt/airflow/dags
COPY --chown=airflow:0 spark_jobs /opt/airflow/spark_jobs
WORKDIR /opt/airflow
# One training job per GPU: concurrency 1 here, and the one-slot `gpu` pool across all GPU workers.
CMD ["airflow", "celery", "worker", "-q", "gpu", "--concurrency", "1"]
