"""One night through the Spark path at cluster scale, each stage timed, to size a cluster.

Usage (the recorded run is in docs/benchmarks.md, "Scale: one night through the Spark path")::

    .venv/bin/python bench/scale_bench.py --customers 1000000 --events 50000000 --root /tmp/bench-scale

Stages, each the same ``spark-submit spark_jobs/<job>.py`` the DAG's task runs (a fresh JVM and
driver per stage, wall clock including start-up), against a local lake of accepted Parquet:

* ``generate``: ``bench/generate.py`` writes the 90-day window of accepted clickstream and orders
  (ingest is bypassed: it is Python, not Spark, and is measured elsewhere);
* ``features_rebuild``: ``customer_features --rebuild``, every window day from accepted data
  (a backfill or the first night);
* ``features_nightly``: ``customer_features --no-rebuild``, the nightly update (the new day's
  aggregate and the window merge);
* ``segments``: ``segment_customers`` (KMeans on every customer with features, ids matched to the
  previous night's segments; ``--k 0`` searches k by silhouette as the DAG's default does).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(REPO))

from common import load, machine_base, write_result  # noqa: E402


def spark_stage(name: str, job: str, args: list[str], env: dict[str, str], conf: dict[str, str]) -> dict:
    """Run one spark-submit as the DAG does; wall time, the job's JSON result, load before and after."""
    cmd = [str(Path(sys.executable).parent / "spark-submit"), "--master", env["BENCH_MASTER"], "--name", job]
    for key, value in conf.items():
        cmd += ["--conf", f"{key}={value}"]
    cmd += [str(REPO / "spark_jobs" / f"{job}.py"), *args]
    before = load()
    t0 = time.perf_counter()
    done = subprocess.run(cmd, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - t0
    stage = {"stage": name, "cmd": cmd[1:], "seconds": round(seconds, 1), "load_before": before, "load_after": load()}
    if done.returncode != 0:
        raise SystemExit(f"{name} failed (exit {done.returncode}):\n{done.stderr[-4000:]}")
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    stage["result"] = json.loads(lines[-1]) if lines else None
    print(f"{name}: {seconds:.1f} s (load {before[0]:.1f} -> {stage['load_after'][0]:.1f})", flush=True)
    return stage


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--customers", type=int, default=1_000_000)
    p.add_argument("--events", type=int, default=50_000_000, help="events in the whole window")
    p.add_argument("--window-days", type=int, default=90)
    p.add_argument("--ds", default="2026-11-01", help="the night (last day of the window)")
    p.add_argument("--root", default="/tmp/bench-scale", help="local lake directory")
    p.add_argument("--reuse", action="store_true", help="reuse the generated window under --root")
    p.add_argument("--master", default="local[2]")
    p.add_argument("--driver-memory", default="6g")
    p.add_argument("--shuffle-partitions", type=int, default=8)
    p.add_argument("--k", type=int, default=0, help="segments; 0 = silhouette search over 3..10 (the DAG default)")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--out", default=None)
    args = p.parse_args(argv)

    from generate import generate

    root = Path(args.root)
    result = {"bench": "scale", "args": vars(args), "machine": machine_base(), "stages": []}
    out = args.out or str(HERE / "results" / f"scale_{time.strftime('%Y%m%dT%H%M%S')}.json")
    if not args.reuse:
        print(f"generate: {args.events:,} events, {args.customers:,} customers, {args.window_days} days", flush=True)
        before = load()
        gen = generate(root, args.ds, args.window_days, args.events, None, args.customers, args.seed)
        result["stages"].append({"stage": "generate", "seconds": gen["seconds"], "load_before": before,
                                 "load_after": load(), "result": gen})  # fmt: skip
        print(f"generate: {gen['seconds']:.1f} s", flush=True)
    env = {
        **os.environ,
        "BENCH_MASTER": args.master,
        "PACKAGING_LAKE_URI": root.resolve().as_uri(),
        "PACKAGING_SPARK_SHUFFLE_PARTITIONS": str(args.shuffle_partitions),
        "PYSPARK_PYTHON": sys.executable,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    conf = {"spark.driver.memory": args.driver_memory, "spark.ui.enabled": "false"}
    lake = ["--ds", args.ds, "--lake", env["PACKAGING_LAKE_URI"], "--window-days", str(args.window_days)]
    seg = ["--ds", args.ds, "--lake", env["PACKAGING_LAKE_URI"], "--k", str(args.k), "--k-min", "3", "--k-max", "10",
           "--min-segment-size", "25"]  # fmt: skip
    stages = [
        ("features_rebuild", "customer_features", [*lake, "--rebuild"]),
        ("features_nightly", "customer_features", [*lake, "--no-rebuild"]),
        ("segments", "segment_customers", seg),
    ]
    write_result(result, "scale", out)
    for name, job, job_args in stages:
        result["stages"].append(spark_stage(name, job, job_args, env, conf))
        write_result(result, "scale", out)  # after every stage: a long run cut short keeps what it measured
    print(f"result: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
