#!/usr/bin/env bash
# One small night with fixed seeds through every stage, in a fresh home, then the published
# manifest's sha256 and batch id. Two runs of the same code print the same two digests; a
# behaviour-preserving change (a refactor) must print them too.
#
#   scripts/reference_night.sh [HOME_DIR]      (default: a new temporary folder)
set -euo pipefail
cd "$(dirname "$0")/.."
BIN="${BIN:-$PWD/.venv/bin}"
HOME_DIR="${1:-$(mktemp -d /tmp/reference-night.XXXXXX)}"
rm -rf "$HOME_DIR"; mkdir -p "$HOME_DIR"

export PACKAGING_HOME="$HOME_DIR"
export PACKAGING_LAKE_URI="file://$HOME_DIR/lake"
export PACKAGING_PSEUDONYM_KEY="reference-night-key-not-a-secret-0123456789abcdef"
export MLFLOW_TRACKING_URI="sqlite:///$HOME_DIR/mlflow.db"
export PYSPARK_PYTHON="$BIN/python"
export PATH="$BIN:$PATH"
PP=(packaging-pipeline)
DS=2026-11-02
LOG="$HOME_DIR/reference-night.log"

run() { echo "  $*" >&2; "${PP[@]}" "$@" >> "$LOG" 2>&1 || { tail -40 "$LOG" >&2; exit 1; }; }
run sample-data --start 2026-11-01 --days 2 --customers 300 --seed 11
run ingest --start 2026-11-01 --end "$DS"
run features --ds "$DS" --rebuild
run segment --ds "$DS" --k 4 --min-segment-size 10
run train --ds "$DS" --epochs 1 --pretrain-epochs 1 --seed 0
run evaluate-model --ds "$DS"
run right-size --ds "$DS"
run designs --ds "$DS" --per-segment 2 --workers 1
run gate --ds "$DS"
run publish --ds "$DS"

"$BIN/python" - "$HOME_DIR/lake/published/ds=$DS" <<'PY'
import hashlib, json, pathlib, sys
root = pathlib.Path(sys.argv[1])
manifest = (root / "manifest.json").read_bytes()
files = json.loads(manifest)["files"]
print(f"manifest.json sha256 {hashlib.sha256(manifest).hexdigest()}")
print(f"batch_id             {json.loads(manifest)['batch_id']}")
print(f"files                {len(files)}")
PY
