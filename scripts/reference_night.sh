#!/usr/bin/env bash
# One small night with fixed seeds through every stage (sample data, ingest, Spark features and
# segments, GAN training and gate, right-sizing, designs, sustainability gate, publication) in a
# fresh home, then the published files' digest: the sha256 over every file of manifest.json (key,
# size, sha256). Two runs of the same code print the same digest; a behaviour-preserving change (a
# refactor) must too. manifest.json itself also records MLflow run ids, the lake URI and the plan's
# timings, so its own digest and the batch_id differ between runs; files.tsv lists every file.
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
night = pathlib.Path(sys.argv[1])
root = night.parent.parent / json.loads((night / "_SUCCESS").read_bytes())["prefix"]  # the batch _SUCCESS names
manifest = (root / "manifest.json").read_bytes()
files = json.loads(manifest)["files"]
(night.parent.parent.parent / "files.tsv").write_text("".join(f"{f['key']}\t{f['size']}\t{f['sha256']}\n" for f in files))
listing = "".join(f"{f['key']}\t{f['size']}\t{f['sha256']}\n" for f in files)
print(f"files digest         {hashlib.sha256(listing.encode()).hexdigest()} (batch_id {json.loads(manifest)['batch_id'][:16]}: "
      f"also covers the manifest's lineage)")
print(f"files                {len(files)} ({sum(f['size'] for f in files)} bytes), listed in {night.parent.parent.parent / 'files.tsv'}")
print(f"manifest.json sha256 {hashlib.sha256(manifest).hexdigest()} (carries run ids and timings: differs per run)")
PY
