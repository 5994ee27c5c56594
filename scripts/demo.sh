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
export AIRFLOW__CORE__PLUGINS_FOLDER="$REPO/plugins"
export MLFLOW_TRACKING_URI="${MLFLOW_TRACKING_URI:-sqlite:///$PACKAGING_HOME/mlflow.db}"
export PATH="$BIN:$PATH"
export PYSPARK_PYTHON="$BIN/python"
# Spark tasks submit to a local master unless a spark_default connection says otherwise.
export AIRFLOW_CONN_SPARK_DEFAULT="${AIRFLOW_CONN_SPARK_DEFAULT:-{\"conn_type\": \"spark\", \"host\": \"local[*]\"}}"
mkdir -p "$AIRFLOW_HOME"

START="${DEMO_START:-2026-11-01}"
DAYS="${DEMO_DAYS:-7}"
# DEMO_EXPORTS=folder runs the night on your own exports instead of sample data (docs/source-mappings.md):
# the folder's clickstream/, orders/ and catalog/ files are landed as the night DEMO_NIGHT, read through
# PACKAGING_SOURCE_MAPPINGS, and the whole night runs on them; there is no history to backfill.
EXPORTS="${DEMO_EXPORTS:-}"
if [ -n "$EXPORTS" ]; then
  if [ -z "${DEMO_NIGHT:-}" ]; then
    echo "error: DEMO_EXPORTS=$EXPORTS needs DEMO_NIGHT=YYYY-MM-DD, the night to run them as (the day of their latest event)" >&2
    exit 2
  fi
  START="$DEMO_NIGHT"; DAYS=1
fi
CUSTOMERS="${DEMO_CUSTOMERS:-2000}"
# GAN epochs of the demo's two trainings (backfill and night): the cpu profile's 25 clear no gate on a
# 2-core machine either; a fresh install's good model is the shipped base model's job.
GAN_EPOCHS="${DEMO_GAN_EPOCHS:-10}"
LAST=$("$BIN/python" -c "import datetime as d; print(d.date.fromisoformat('$START') + d.timedelta(days=$DAYS - 1))")
BEFORE_LAST=$("$BIN/python" -c "import datetime as d; print(d.date.fromisoformat('$LAST') - d.timedelta(days=1))")
# The run at 03:00 UTC the next morning is the one whose data interval starts on LAST.
RUN_AT=$("$BIN/python" -c "import datetime as d; print(d.date.fromisoformat('$LAST') + d.timedelta(days=1))")T03:00:00+00:00

# Stage timings for the closing table: lap NAME records the seconds since the previous lap.
LAPS=""; DEMO_T0=$(date +%s); LAP_AT=$DEMO_T0
lap() { local now; now=$(date +%s); LAPS+="$(printf '  %-46s %5d s' "$1" $((now - LAP_AT)))"$'\n'; LAP_AT=$now; }

if [ -n "$EXPORTS" ]; then
  echo "== 1/5 your exports: $EXPORTS as the night $LAST -> $PACKAGING_LAKE_URI (mappings: ${PACKAGING_SOURCE_MAPPINGS:-none})"
  packaging-pipeline land --from "$EXPORTS" --ds "$LAST" | sed -u 's/^/    /'
  lap "1 land your exports"
else
  echo "== 1/5 sample data: $CUSTOMERS customers, $DAYS nights from $START -> $PACKAGING_LAKE_URI"
  packaging-pipeline sample-data --start "$START" --days "$DAYS" --customers "$CUSTOMERS" --seed 7
  lap "1 sample data"
fi

if [ "$DAYS" -gt 1 ]; then
  echo "== 2/5 backfill of the history, $START .. $BEFORE_LAST: ingest, features (--rebuild), segments"
  packaging-pipeline ingest --start "$START" --end "$BEFORE_LAST"
  lap "2 backfill: ingest"
  packaging-pipeline features --ds "$BEFORE_LAST" --rebuild 2> "$PACKAGING_HOME/features-backfill.log"
  lap "2 backfill: features --rebuild (Spark)"
  packaging-pipeline segment --ds "$BEFORE_LAST" 2> "$PACKAGING_HOME/segment-backfill.log"
  lap "2 backfill: segment (Spark)"
  echo "   pattern GAN for $BEFORE_LAST: train from scratch (cpu profile, $GAN_EPOCHS epochs), evaluate, promote if it passes the gate"
  packaging-pipeline train --ds "$BEFORE_LAST" --epochs "$GAN_EPOCHS" --json 2> "$PACKAGING_HOME/train-backfill.log" \
    | "$BIN/python" -c 'import json, sys; r = json.load(sys.stdin); print("   trained model v%s: %s epochs, %.0f images/s" % (r["model_version"], r["epochs_run"], r["images_per_second"]))'
  lap "2 backfill: GAN train"
  packaging-pipeline evaluate-model --ds "$BEFORE_LAST" --json 2> "$PACKAGING_HOME/evaluate-backfill.log" \
    | "$BIN/python" -c 'import json, sys; r = json.load(sys.stdin); print("   gate: %s (%s)" % ("promoted" if r["promoted"] else "rejected", "; ".join(r["reasons"])))'
  lap "2 backfill: GAN evaluate and gate (judge)"
fi

echo "== 3/5 Airflow metadata DB ($AIRFLOW__DATABASE__SQL_ALCHEMY_CONN)"
airflow db migrate > "$AIRFLOW_HOME/db-migrate.log" 2>&1 || { tail -50 "$AIRFLOW_HOME/db-migrate.log"; exit 1; }
# One GPU job at a time: the training task runs in this one-slot pool (queue `gpu` when scaled out).
airflow pools set gpu 1 "one slot per GPU worker: pattern GAN training" > /dev/null
lap "3 Airflow metadata DB"

echo "== 4/5 the nightly DAG for ds=$LAST (airflow dags test packaging_nightly), one line per task state change"
LOG="$AIRFLOW_HOME/demo-dags-test.log"
# plugins/packaging_progress.py reports each change to this file; follow_night.py prints it live.
if ! "$BIN/python" scripts/follow_night.py --progress "$AIRFLOW_HOME/demo-progress.jsonl" --log "$LOG" \
    -- airflow dags test -c "{\"gan_epochs\": $GAN_EPOCHS}" packaging_nightly "$RUN_AT" | sed -u 's/^/    /'; then
  tail -60 "$LOG"; echo "error: the nightly DAG failed; full log in $LOG" >&2; exit 1
fi
lap "4 nightly DAG (airflow dags test)"
if ! grep -q "DagRun Finished.*state=success" "$LOG"; then
  tail -60 "$LOG"; echo "error: the nightly DAG run did not succeed; full log in $LOG" >&2; exit 1
fi

echo
echo "== 5/5 what the night left in the lake"
packaging-pipeline status --ds "$LAST"
STAGING="designs/staging/ds=$LAST"
"$BIN/python" - "$PACKAGING_LAKE_URI" "$STAGING" <<'PY'
import json, sys
from packaging_pipeline.core.config import Settings
from packaging_pipeline.core.storage import open_lake
lake = open_lake(Settings.from_env())
plan = json.loads(lake.read_bytes(sys.argv[2] + "/plan.json"))
src = plan["artwork_source"]
print(f"designs: {plan['designs']} designs for {plan['segments']} segments, {plan['print_files']} print files, "
      f"{plan['orders_with_design']} orders with a box and design ({plan['orders_unfit']} fit no box); "
      f"artwork from {src['kind']}{' v' + src['model_version'] if src['model_version'] else ''}; "
      f"{plan['seconds']['total']:.0f} s")
first = next((d for d in plan["design_ids"] if "-sx-" not in d), plan["design_ids"][0])
keys = sorted(o.key for o in lake.list(sys.argv[2] + "/") if f"/{first}/" in o.key)
shown = [k for k in keys if k.endswith(("mockup.png", "preview.png"))] + [k for k in keys if k.endswith(".pdf")][:1]
print("look at:", *(lake.uri_of(k) for k in shown), sep="\n  ")
if lake.exists("published/LATEST"):
    from packaging_pipeline.contract import read_batch

    batch = read_batch(lake, lake.read_text("published/LATEST").strip())
    manifest = json.loads(lake.read_bytes(batch.manifest_key))
    print(f"published: {lake.uri_of(batch.prefix)} ({len(manifest['files'])} files in the manifest, "
          f"named by _SUCCESS)")
    print(f"report:    {lake.uri_of(batch.key(manifest['report']['key']))} (open it in a browser)")
    print("a warehouse pulls the batch with")
    print(f"  packaging-pipeline pull --ds latest --warehouse <id> --dest /tmp/wh "
          f"(warehouses: {', '.join(sorted(manifest['counts']['orders_per_warehouse']))})")
PY

lap "5 status"
echo
echo "== where the time went (install excluded)"
printf '%s' "$LAPS"
printf '  %-46s %5d s\n' "total" $(( $(date +%s) - DEMO_T0 ))

cat <<EOF

Outputs
  lake:             $PACKAGING_LAKE_URI
    raw/            generated input (clickstream, orders, catalog; ground truth in raw/_ground_truth/)
    accepted/       validated, pseudonymised Parquet per source and night
    quarantine/     rejected rows with reasons (empty on clean sample data)
    reports/ingest/ per-night counts: read = accepted + quarantined
    features/       daily/ partial aggregates per night, customer/ rolling 90-day customer features
    segments/       assignments/ (customer_key, segment_id) and profiles.json per night
    models/         pattern GAN checkpoints per night; reports/model/ the promotion gate's report
    designs/staging/ per segment and design: print-ready PDF/SVG per box size, preview, mockup,
                    spec.json; order_designs.parquet (each order's box and design); plan.json;
                    sustainability.parquet and gate.json (the gate); designs/rejected/ what failed it
    published/      the warehouse batch: designs, assignments per warehouse, report.html, manifest,
                    _SUCCESS; LATEST names the newest complete night
  Airflow home:     $AIRFLOW_HOME (log of this run: $LOG)
  MLflow store:     $MLFLOW_TRACKING_URI (experiments customer-segments and pattern-gan; model
                    packaging-pattern-gan with aliases champion/challenger; sample grids per epoch)
  Look at tiles:    $BIN/packaging-pipeline sample-tiles --model-uri models:/packaging-pattern-gan@challenger \
                      --motif waves --n 8 --out $PACKAGING_HOME/tiles

Airflow UI:  AIRFLOW_HOME=$AIRFLOW_HOME AIRFLOW__CORE__DAGS_FOLDER=$REPO/dags $BIN/airflow standalone
             then open http://localhost:8080 (the admin password is printed, and kept in $AIRFLOW_HOME)
MLflow UI:   $BIN/mlflow ui --backend-store-uri $MLFLOW_TRACKING_URI --port 5000
             then open http://localhost:5000
EOF
