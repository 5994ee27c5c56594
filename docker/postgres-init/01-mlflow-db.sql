-- Runs once, on an empty data volume: the MLflow tracking server's backend next to Airflow's metadata DB.
CREATE DATABASE mlflow OWNER airflow;
