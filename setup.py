"""Install the packaging-design pipeline.

Install against the committed constraints file so every machine gets the same stack::

    pip install -c constraints.txt -e ".[all]"

Extras: ``spark`` (feature and segment jobs), ``tf`` (pattern GAN on CPU; see the README for
the GPU build), ``tracking`` (MLflow), ``airflow`` (DAGs and providers), ``dev`` (tests, lint).
"""

from setuptools import find_packages, setup

CORE = ["boto3", "fonttools", "numpy", "pandas", "pillow", "pyarrow<26", "pydantic>=2", "pyyaml", "rich", "scipy"]
EXTRAS = {
    "core": [],
    "spark": ["pyspark==4.3.0"],
    "tf": ["tensorflow-cpu==2.21.0", "mlflow>=3.17,<4"],
    "tracking": ["mlflow>=3.17,<4", "psutil"],
    "airflow": [
        "apache-airflow==3.3.2",
        "apache-airflow-providers-amazon",
        "apache-airflow-providers-apache-spark",
        "apache-airflow-providers-celery",
        "apache-airflow-providers-postgres",
        # Celery workers on Redis, metadata on PostgreSQL. providers-celery 3.26 imports
        # celery.backends.database.retry, which celery 5.7 removed: the worker would die at start.
        "celery[redis]<5.7",
        "psycopg2-binary",
        "redis",
    ],
    "dev": [
        "detect-secrets", "hypothesis", "import-linter", "moto[server]", "playwright", "pypdfium2", "pytest",
        "pytest-timeout", "ruff",
    ],
    "bench": ["duckdb"],
}
EXTRAS["all"] = sorted({req for reqs in EXTRAS.values() for req in reqs})

setup(
    name="packaging-pipeline",
    version="0.1.0",
    description="Nightly batch pipeline: customer segments, GAN pattern artwork, "
    "sustainability-gated box designs published for warehouses.",
    python_requires=">=3.11",
    packages=find_packages(include=["packaging_pipeline", "packaging_pipeline.*"]),
    package_data={"packaging_pipeline": ["data/*", "data/**/*"]},
    install_requires=CORE,
    extras_require=EXTRAS,
    entry_points={"console_scripts": ["packaging-pipeline=packaging_pipeline.cli:main"]},
)
