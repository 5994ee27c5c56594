"""One Spark application for the night's features and segments, or two: is the second start-up worth saving?

    .venv/bin/python bench/spark_apps.py --root /tmp/spark-apps [--customers 2000 --days 7 --rounds 2]

Generates (once, kept under --root) a sample lake and ingests it, then, per round and in alternating
order, runs the night's two Spark stages as the DAG does today, two ``spark-submit`` applications
(``spark_jobs/customer_features.py`` then ``spark_jobs/segment_customers.py``), and as one
application that runs both stages in one session (``--one-app``, this file submitted to itself).
Wall times of each ``spark-submit``, measured from outside, go to bench/results/spark_apps_<ts>.json
with the machine and a BLAS reference from the same run.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.common import load, machine_base, matmul_reference, write_result  # noqa: E402

KEY = "spark-apps-bench-key-0123456789ab"
START = dt.date(2026, 11, 1)


def _lake(root: Path, days: int, customers: int) -> tuple[str, str]:
    from packaging_pipeline.core.config import Settings
    from packaging_pipeline.core.storage import LocalLake
    from packaging_pipeline.ingest.raw import ingest_range
    from packaging_pipeline.sample_data.generate import generate_sample_data

    lake = LocalLake(root / "lake")
    last = (START + dt.timedelta(days=days - 1)).isoformat()
    if not (root / "lake" / "reports" / "ingest" / f"ds={last}").exists():
        generate_sample_data(lake, start=START, days=days, customers=customers, seed=11)
        ingest_range(Settings(lake_uri=lake.uri, pseudonym_key=KEY), START.isoformat(), last)
    return lake.uri, last


def _submit(args: list[str], env: dict[str, str]) -> float:
    spark_submit = Path(sys.executable).parent / "spark-submit"
    started = time.perf_counter()
    subprocess.run([str(spark_submit), "--master", "local[*]", *args], env=env, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    return round(time.perf_counter() - started, 2)


def one_app(lake_uri: str, ds: str) -> int:
    """Both stages in one session: what a single application for the night would run."""
    from packaging_pipeline.core.config import Settings
    from packaging_pipeline.customers.features import run_customer_features
    from packaging_pipeline.customers.segments import SegmentationConfig, run_segmentation
    from packaging_pipeline.customers.spark_io import build_session, run_spark_stage

    settings = Settings.from_env(lake_uri=lake_uri)
    spark = build_session(f"night ds={ds}")
    try:
        run_spark_stage(settings, "features", lambda io: run_customer_features(io, ds), spark=spark)
        run_spark_stage(settings, "segments", lambda io: run_segmentation(io, ds, SegmentationConfig()), spark=spark)
    finally:
        spark.stop()
    return 0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--root")
    ap.add_argument("--customers", type=int, default=2000)
    ap.add_argument("--days", type=int, default=7)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--one-app", nargs=2, metavar=("LAKE", "DS"), help=argparse.SUPPRESS)
    ap.add_argument("--out")
    args = ap.parse_args()
    if args.one_app:
        sys.exit(one_app(*args.one_app))
    result = {"machine": machine_base(), "load_before": load(), "reference_matmul": matmul_reference(),
              "args": vars(args), "runs": []}  # fmt: skip
    lake_uri, ds = _lake(Path(args.root), args.days, args.customers)
    env = {**os.environ, "PACKAGING_LAKE_URI": lake_uri, "PACKAGING_PSEUDONYM_KEY": KEY,
           "PYSPARK_PYTHON": sys.executable}  # fmt: skip
    two = [["spark_jobs/customer_features.py", "--ds", ds], ["spark_jobs/segment_customers.py", "--ds", ds]]
    for round_ in range(args.rounds):
        order = ("two", "one") if round_ % 2 == 0 else ("one", "two")
        for variant in order:
            if variant == "two":
                seconds = [_submit([str(REPO / a[0]), *a[1:]], env) for a in two]
                result["runs"].append({"round": round_, "variant": "two applications", "features_s": seconds[0],
                                       "segments_s": seconds[1], "total_s": round(sum(seconds), 2),
                                       "load_after": load()})  # fmt: skip
            else:
                total = _submit([str(Path(__file__).resolve()), "--one-app", lake_uri, ds], env)
                result["runs"].append({"round": round_, "variant": "one application", "total_s": total,
                                       "load_after": load()})  # fmt: skip
    result["load_after"] = load()
    print(write_result(result, "spark_apps", args.out))


if __name__ == "__main__":
    main()
