#!/usr/bin/env bash
# `make demo`: one night on the embedded defaults (local lake, SQLite Airflow, LocalExecutor, SQLite MLflow).
# Every setting honours the environment, so the same demo runs against S3 with PACKAGING_LAKE_URI=s3://...
# and AWS_ENDPOINT_URL=... set.
set -euo pipefail
cd "$(dirname "$0")/.."
REPO="$PWD"
BIN="$REPO/.venv/bin"

export PACKAGING_HOME="${PACKAGING_HOME:-$REPO/.demo}"
mkdir -p "$PACKAGING_HOME"
CONFIG="$PACKAGING_HOME/config.env"
if [ ! -f "$CONFIG" ]; then
  # A fresh random pseudonym key per demo home; production reads it from a secret backend.
  umask 077
  echo "PACKAGING_PSEUDONYM_KEY=$("$BIN/python" -c 'import secrets; print(secrets.token_hex(32))')" > "$CONFIG"
fi
if [ -z "${PACKAGING_PSEUDONYM_KEY:-}" ]; then
  set -a; . "$CONFIG"; set +a
fi

export PACKAGING_LAKE_URI="${PACKAGING_LAKE_URI:-file://$PACKAGING_HOME/lake}"
export AIRFLOW_HOME="${AIRFLOW_HOME:-$PACKAGING_HOME/airflow}"
export AIRFLOW__DATABASE__SQL_ALCHEMY_CONN="${AIRFLOW__DATABASE__SQL_ALCHEMY_CONN:-sqlite:///$AIRFLOW_HOME/airflow.db}"
export AIRFLOW__CORE__EXECUTOR="${AIRFLOW__CORE__EXECUTOR:-LocalExecutor}"
export AIRFLOW__CORE__LOAD_EXAMPLES=False
export AIRFLOW__CORE__DAGS_FOLDER="$REPO/dags"
export MLFLOW_TRACKING_URI="${MLFLOW_TRACKING_URI:-sqlite:///$PACKAGING_HOME/mlflow.db}"
export PATH="$BIN:$PATH"
export PYSPARK_PYTHON="$BIN/python"
mkdir -p "$AIRFLOW_HOME"

START="${DEMO_START:-2026-11-01}"
DAYS="${DEMO_DAYS:-7}"
CUSTOMERS="${DEMO_CUSTOMERS:-2000}"
LAST=$("$BIN/python" -c "import datetime as d; print(d.date.fromisoformat('$START') + d.timedelta(days=$DAYS - 1))")
BEFORE_LAST=$("$BIN/python" -c "import datetime as d; print(d.date.fromisoformat('$LAST') - d.timedelta(days=1))")
# The run at 03:00 UTC the next morning is the one whose data interval starts on LAST.
RUN_AT=$("$BIN/python" -c "import datetime as d; print(d.date.fromisoformat('$LAST') + d.timedelta(days=1))")T03:00:00+00:00

echo "== 1/4 sample data: $CUSTOMERS customers, $DAYS nights from $START -> $PACKAGING_LAKE_URI"
packaging-pipeline sample-data --start "$START" --days "$DAYS" --customers "$CUSTOMERS" --seed 7

if [ "$DAYS" -gt 1 ]; then
  echo "== 2/4 backfill ingest of the history, $START .. $BEFORE_LAST, in one job"
  packaging-pipeline ingest --start "$START" --end "$BEFORE_LAST"
fi

echo "== 3/4 Airflow metadata DB ($AIRFLOW__DATABASE__SQL_ALCHEMY_CONN)"
airflow db migrate > "$AIRFLOW_HOME/db-migrate.log" 2>&1 || { tail -50 "$AIRFLOW_HOME/db-migrate.log"; exit 1; }

echo "== 4/4 the nightly DAG for ds=$LAST (airflow dags test packaging_nightly)"
LOG="$AIRFLOW_HOME/demo-dags-test.log"
if ! airflow dags test packaging_nightly "$RUN_AT" > "$LOG" 2>&1; then
  tail -60 "$LOG"; echo "error: the nightly DAG failed; full log in $LOG" >&2; exit 1
fi
grep -E "Marking task as|DagRun Finished" "$LOG" | sed 's/^/    /' | tail -10 || true
if ! grep -q "DagRun Finished.*state=success" "$LOG"; then
  tail -60 "$LOG"; echo "error: the nightly DAG run did not succeed; full log in $LOG" >&2; exit 1
fi

echo
packaging-pipeline status --ds "$LAST"

cat <<EOF

Outputs
  lake:             $PACKAGING_LAKE_URI
    raw/            generated input (clickstream, orders, catalog; ground truth in raw/_ground_truth/)
    accepted/       validated, pseudonymised Parquet per source and night
    quarantine/     rejected rows with reasons (empty on clean sample data)
    reports/ingest/ per-night counts: read = accepted + quarantined
  Airflow home:     $AIRFLOW_HOME (log of this run: $LOG)
  MLflow store:     $MLFLOW_TRACKING_URI

Airflow UI:  AIRFLOW_HOME=$AIRFLOW_HOME AIRFLOW__CORE__DAGS_FOLDER=$REPO/dags $BIN/airflow standalone
             then open http://localhost:8080 (the admin password is printed, and kept in $AIRFLOW_HOME)
MLflow UI:   $BIN/mlflow ui --backend-store-uri $MLFLOW_TRACKING_URI --port 5000
             then open http://localhost:5000
EOF
