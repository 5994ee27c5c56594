"""Benchmark of the Spark customer-feature jobs against a DuckDB single-machine reference.

Usage (see docs/benchmarks.md for the recorded runs)::

    .venv/bin/python bench/feature_bench.py run --events 10000000 --root /tmp/bench-10m --out bench/results/10m.json

``run`` generates the accepted Parquet of a 90-day window (unless ``--reuse``), then times, each Spark
phase in its own fresh Python process (as a spark-submit task would run):

* ``startup``: import + ``build_session`` + a trivial action (JVM launch, context, first job);
* ``rebuild``: ``run_customer_features(..., rebuild=True)``, every window day from accepted data;
* ``daily``: the daily aggregate job of the night alone (``compute_daily_partitions(io, [ds])``);
* ``incremental``: ``run_customer_features(..., rebuild=False)`` with the window's daily partitions
  present (from the rebuild), i.e. the nightly update: the new day's aggregate + the window merge;

and DuckDB recomputing the same features from the accepted files of the window, then cross-checks
Spark's and DuckDB's outputs customer by customer. Spark event logs are kept per phase and
summarised stage by stage (``eventlog`` subcommand).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(REPO))


def load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


# --------------------------------------------------------------------------------------------------
# Spark phases (each in its own process)


def spark_phase(args: argparse.Namespace) -> dict:
    t0 = time.perf_counter()
    import pyspark  # noqa: F401

    from packaging_pipeline.core.storage import LocalLake
    from packaging_pipeline.customers import features
    from packaging_pipeline.customers.spark_io import SparkLake, build_session

    t_import = time.perf_counter() - t0
    event_dir = Path(args.event_log_dir) / args.phase
    shutil.rmtree(event_dir, ignore_errors=True)
    event_dir.mkdir(parents=True)
    # Event log and driver memory go in at JVM launch, whatever build_session's signature is.
    os.environ["PYSPARK_SUBMIT_ARGS"] = (
        f"--driver-memory {args.driver_memory} --conf spark.eventLog.enabled=true "
        f"--conf spark.eventLog.dir=file://{event_dir} --conf spark.eventLog.compress=false "
        "--conf spark.eventLog.rolling.enabled=false pyspark-shell"
    )
    t1 = time.perf_counter()
    spark = build_session(f"bench-{args.phase}", args.master)
    t_session = time.perf_counter() - t1
    t2 = time.perf_counter()
    spark.range(1).count()
    t_first = time.perf_counter() - t2
    out: dict = {
        "phase": args.phase,
        "import_s": round(t_import, 3),
        "build_session_s": round(t_session, 3),
        "first_action_s": round(t_first, 3),
        "startup_s": round(time.perf_counter() - t0, 3),
        "load_before": load(),
        "runs": [],
        "spark_conf": {
            k: v
            for k, v in spark.sparkContext.getConf().getAll()
            if k.startswith(("spark.sql", "spark.driver.memory", "spark.master"))
        },
    }

    # Time the daily-aggregate part inside run_customer_features separately (it calls it by module name).
    inner: list[float] = []
    original = features.compute_daily_partitions

    def timed_compute(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202 - forwards whatever the job passes
        s = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            inner.append(time.perf_counter() - s)

    features.compute_daily_partitions = timed_compute
    root = Path(args.root)
    night = dt.date.fromisoformat(args.ds)
    yesterday = (night - dt.timedelta(days=1)).isoformat()
    with SparkLake(LocalLake(root), spark, scratch=root.parent / f"{root.name}-scratch-{args.phase}") as io:
        lookback = features.lookback_days(io, night, args.window_days)  # what the nightly job passes
        for i in range(args.repeat):
            inner.clear()
            s = time.perf_counter()
            if args.phase == "daily":
                original(io, [args.ds], lookback)
                run = {"seconds": round(time.perf_counter() - s, 3)}
            elif args.phase == "yesterday-state":
                # Setup, not a measurement: the night before leaves the window state tonight rolls on from.
                res = features.run_customer_features(io, yesterday, args.window_days, rebuild=True)
                run = {"seconds": round(time.perf_counter() - s, 3), "ds": yesterday, "customers": res.customers}
            elif args.phase in ("rebuild", "incremental"):
                res = features.run_customer_features(io, args.ds, args.window_days, rebuild=args.phase == "rebuild")
                total = time.perf_counter() - s
                run = {
                    "seconds": round(total, 3),
                    "daily_aggregate_s": round(sum(inner), 3),
                    "merge_write_count_s": round(total - sum(inner), 3),
                    "customers": res.customers,
                    "daily_partitions_computed": len(res.daily_partitions_computed),
                    "daily_partitions_read": res.daily_partitions_read,
                    "window_update": res.window_update,
                }
            elif args.phase == "merge-variants":
                run = merge_variants(io, args)
            elif args.phase == "startup":
                run = {"seconds": 0.0}
            else:
                raise SystemExit(f"unknown phase {args.phase}")
            run["load_after"] = load()
            run["iteration"] = i
            out["runs"].append(run)
    out["app_id"] = spark.sparkContext.applicationId
    spark.stop()
    return out


def merge_variants(io, args: argparse.Namespace) -> dict:  # noqa: ANN001
    """What the window merge costs as written, and without its global sort / distinct count (diagnosis only).

    Reads the window's existing daily partitions and writes to a scratch prefix; the library is not changed.
    """
    from pyspark.sql import functions as F

    from packaging_pipeline.customers import features as ft

    ds = dt.date.fromisoformat(args.ds)
    start, end = ft.window_bounds(ds, args.window_days)
    days = [(start + dt.timedelta(days=i)).isoformat() for i in range(args.window_days)]
    daily = io.read_partitions("features/daily/", [f"features/daily/ds={d}/" for d in days]).drop("ds")

    def no_distinct(frame):  # noqa: ANN001, ANN202
        # active_days without count_distinct: one row per (customer, event_date) first, then plain sums.
        in_window = frame.where((F.col("event_date") >= F.lit(start)) & (F.col("event_date") <= F.lit(end)))
        per_day = in_window.groupBy("customer_key", "event_date").agg(
            *[F.sum(c).alias(c) for c in ft.SUM_PARTIALS],
            *[getattr(F, how)(c).alias(c) for c, how in ft.TIME_PARTIALS.items()],
        )
        totals = per_day.groupBy("customer_key").agg(
            *[F.sum(c).cast("long").alias(c) for c in ft.SUM_PARTIALS],
            *[getattr(F, how)(c).alias(c) for c, how in ft.TIME_PARTIALS.items()],
            F.count(F.lit(1)).cast("long").alias("active_days"),
        )
        return ft.with_customer_features(totals, ds, args.window_days)

    def active_by_join(frame):  # noqa: ANN001, ANN202
        # Plain per-customer sums (a partial aggregate by customer shrinks the shuffle), active_days from
        # a separate two-column distinct, joined back.
        in_window = frame.where((F.col("event_date") >= F.lit(start)) & (F.col("event_date") <= F.lit(end)))
        sums = in_window.groupBy("customer_key").agg(
            *[F.sum(c).cast("long").alias(c) for c in ft.SUM_PARTIALS],
            *[getattr(F, how)(c).alias(c) for c, how in ft.TIME_PARTIALS.items()],
        )
        active = (
            in_window.select("customer_key", "event_date")
            .distinct()
            .groupBy("customer_key")
            .agg(F.count(F.lit(1)).cast("long").alias("active_days"))
        )
        return ft.with_customer_features(sums.join(active, "customer_key"), ds, args.window_days)

    only = set(args.variants.split(",")) if getattr(args, "variants", None) else None
    variants = {
        "as_written": lambda: ft.customer_features(daily, ds, args.window_days).orderBy("customer_key"),
        "no_orderBy": lambda: ft.customer_features(daily, ds, args.window_days),
        "no_orderBy_no_count_distinct": lambda: no_distinct(daily),
        "no_orderBy_active_days_by_join": lambda: active_by_join(daily),
    }
    if only:
        variants = {k: v for k, v in variants.items() if k in only}
    out = {}
    for name, make in variants.items():
        times = []
        for _ in range(2):
            s = time.perf_counter()
            io.replace_prefix(make(), f"bench/merge-variant/{name}/")
            times.append(round(time.perf_counter() - s, 3))
        out[name] = times
    io.lake.delete_prefix("bench/")
    return {"seconds": 0.0, "merge_variants_s": out}


def run_spark_subprocess(args: argparse.Namespace, phase: str, repeat: int) -> dict:
    cmd = [
        sys.executable, str(Path(__file__).resolve()), "spark", "--phase", phase, "--root", args.root, "--ds", args.ds,
        "--window-days", str(args.window_days), "--repeat", str(repeat), "--master", args.master,
        "--driver-memory", args.driver_memory, "--event-log-dir", args.event_log_dir,
    ]  # fmt: skip
    env = dict(os.environ, PYSPARK_PYTHON=sys.executable, PATH=f"{Path(sys.executable).parent}:{os.environ['PATH']}")
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr[-5000:])
        raise SystemExit(f"spark phase {phase} failed")
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    result["process_wall_s"] = round(wall, 3)
    return result


# --------------------------------------------------------------------------------------------------
# DuckDB reference and the cross-check


def duckdb_phase(args: argparse.Namespace, out_path: Path) -> dict:
    t0 = time.perf_counter()
    import duckdb
    from duckdb_features import features_sql

    con = duckdb.connect()
    con.execute(f"SET threads = {args.duckdb_threads}")
    con.execute("SET TimeZone = 'UTC'")
    startup = time.perf_counter() - t0
    sql = features_sql(str(Path(args.root).resolve()), args.ds, args.window_days)
    runs = []
    for i in range(args.repeat):
        s = time.perf_counter()
        con.execute(f"COPY ({sql}) TO '{out_path}' (FORMAT parquet)")
        runs.append({"iteration": i, "seconds": round(time.perf_counter() - s, 3), "load_after": load()})
    customers = con.execute(f"SELECT count(*) FROM '{out_path}'").fetchone()[0]
    return {"startup_s": round(startup, 3), "runs": runs, "customers": customers, "threads": args.duckdb_threads}


INT_COLUMNS = (
    "frequency",
    "views",
    "sessions",
    "events",
    "cart_adds",
    "return_lines",
    "purchase_lines",
    "active_days",
    "recency_days",
)
FLOAT_COLUMNS = ("monetary", "avg_order_value", "avg_session_minutes", "cart_abandon_rate", "returned_value")


def cross_check(spark_dir: Path, duck_file: Path, sample: int = 5) -> dict:
    """Compare every customer and every shared column of Spark's and DuckDB's outputs."""
    import duckdb

    con = duckdb.connect()
    con.execute(f"CREATE VIEW s AS SELECT * FROM read_parquet('{spark_dir}/*.parquet')")
    con.execute(f"CREATE VIEW d AS SELECT * FROM '{duck_file}'")
    s_cols = [r[0] for r in con.execute("DESCRIBE s").fetchall()]
    d_cols = [r[0] for r in con.execute("DESCRIBE d").fetchall()]
    shared = [c for c in s_cols if c in d_cols and c != "customer_key"]
    counts = con.execute(
        "SELECT (SELECT count(*) FROM s), (SELECT count(*) FROM d), "
        "(SELECT count(*) FROM s ANTI JOIN d USING (customer_key)), (SELECT count(*) FROM d ANTI JOIN s USING (customer_key))"  # noqa: E501
    ).fetchone()
    mismatches = {}
    for c in shared:
        kind = con.execute(f"SELECT typeof(s.{c}) FROM s LIMIT 1").fetchone()[0]
        if kind == "DOUBLE":
            cond = f"NOT (s.{c} IS NULL AND d.{c} IS NULL) AND (s.{c} IS NULL OR d.{c} IS NULL OR abs(s.{c} - d.{c}) > 1e-9 * greatest(1, abs(d.{c})))"  # noqa: E501
        else:
            cond = f"s.{c} IS DISTINCT FROM d.{c}"
        n = con.execute(f"SELECT count(*) FROM s JOIN d USING (customer_key) WHERE {cond}").fetchone()[0]
        if n:
            example = con.execute(
                f"SELECT customer_key, s.{c}, d.{c} FROM s JOIN d USING (customer_key) WHERE {cond} LIMIT 3"
            ).fetchall()
            mismatches[c] = {"rows": n, "examples": [[str(x) for x in e] for e in example]}
    sample_rows = con.execute(
        f"SELECT customer_key, s.frequency, d.frequency, s.monetary, d.monetary, s.views, d.views, s.sessions, d.sessions "  # noqa: E501
        f"FROM s JOIN d USING (customer_key) ORDER BY hash(customer_key) LIMIT {sample}"
    ).fetchall()
    return {
        "spark_customers": counts[0],
        "duckdb_customers": counts[1],
        "only_in_spark": counts[2],
        "only_in_duckdb": counts[3],
        "columns_compared": len(shared),
        "columns_not_in_duckdb": [c for c in s_cols if c not in d_cols],
        "mismatching_columns": mismatches,
        "sample": [[str(x) for x in r] for r in sample_rows],
    }


# --------------------------------------------------------------------------------------------------
# Event log summary


def _what(plan: str) -> str:
    """A short description of a SQL execution: what it scans and where it writes."""
    import re

    scans = {}
    for n, loc in re.findall(r"Location: InMemoryFileIndex(?:\((\d+) paths\))? ?\[file:([^,\]]+)", plan):
        base = re.sub(r"/ds=[0-9-]+.*$", "/", loc).split("/tmp/", 1)[-1]
        scans[base] = max(scans.get(base, 1), int(n or 1))
    write = re.search(r"Execute InsertIntoHadoopFsRelationCommand\n(?:.*\n)*?Arguments: file:(\S+?),", plan)
    parts = [f"scan {b} ({n} paths)" for b, n in scans.items()]
    if write:
        parts.append("write " + "/".join(write.group(1).split("/")[-2:]))
    if not parts:
        head = next((ln for ln in plan.splitlines() if ln.strip() and not ln.startswith("=")), "")
        parts.append(head.strip()[:80])
    return "; ".join(parts)


def summarise_event_log(event_dir: Path) -> dict:
    """Per SQL execution (what it ran, wall seconds) and per stage (seconds, tasks, bytes), from the event log."""
    files = [p for p in sorted(event_dir.rglob("*")) if p.is_file() and not p.name.startswith(".") and p.stat().st_size]
    if not files:
        return {}
    execs: dict[int, dict] = {}
    stages: dict[int, dict] = {}
    job_exec: dict[int, int | None] = {}
    app = {}
    for line in open(files[0]):
        e = json.loads(line)
        ev = e.get("Event", "")
        if ev == "SparkListenerApplicationStart":
            app["start"] = e["Timestamp"]
        elif ev == "SparkListenerApplicationEnd":
            app["end"] = e["Timestamp"]
        elif ev.endswith("SQLExecutionStart"):
            execs[e["executionId"]] = {
                "start": e["time"],
                "desc": e.get("description", ""),
                "plan_head": _what(e.get("physicalPlanDescription", "")),
            }
        elif ev.endswith("SQLExecutionEnd"):
            execs.setdefault(e["executionId"], {})["end"] = e["time"]
        elif ev == "SparkListenerJobStart":
            sid = e.get("Properties", {}).get("spark.sql.execution.id")
            for st in e.get("Stage IDs", []):
                job_exec[st] = int(sid) if sid is not None else None
        elif ev == "SparkListenerStageCompleted":
            info = e["Stage Info"]
            acc = {a["Name"]: a.get("Value") for a in info.get("Accumulables", [])}
            stages[info["Stage ID"]] = {
                "stage": info["Stage ID"],
                "name": info["Stage Name"][:60],
                "tasks": info["Number of Tasks"],
                "seconds": round((info.get("Completion Time", 0) - info.get("Submission Time", 0)) / 1000, 3),
                "executor_run_s": round(int(acc.get("internal.metrics.executorRunTime", 0) or 0) / 1000, 2),
                "jvm_gc_s": round(int(acc.get("internal.metrics.jvmGCTime", 0) or 0) / 1000, 2),
                "input_mb": round(int(acc.get("internal.metrics.input.bytesRead", 0) or 0) / 1e6, 1),
                "shuffle_write_mb": round(int(acc.get("internal.metrics.shuffle.write.bytesWritten", 0) or 0) / 1e6, 1),
                "shuffle_read_mb": round(int(acc.get("internal.metrics.shuffle.read.remoteBytesRead", 0) or 0) / 1e6
                                         + int(acc.get("internal.metrics.shuffle.read.localBytesRead", 0) or 0) / 1e6, 1),  # noqa: E501
                "spill_mb": round(int(acc.get("internal.metrics.diskBytesSpilled", 0) or 0) / 1e6, 1),
                "skipped": False,
            }  # fmt: skip
    out_execs = []
    for eid, x in sorted(execs.items()):
        if "end" not in x or "start" not in x:
            continue
        st = [s for sid, s in sorted(stages.items()) if job_exec.get(sid) == eid]
        out_execs.append({
            "execution": eid,
            "seconds": round((x["end"] - x["start"]) / 1000, 3),
            "start_offset_s": round((x["start"] - app.get("start", x["start"])) / 1000, 3),
            "plan_head": x["plan_head"],
            "stages": st,
        })  # fmt: skip
    other = [s for sid, s in sorted(stages.items()) if job_exec.get(sid) is None]
    return {
        "app_seconds": round((app.get("end", 0) - app.get("start", 0)) / 1000, 3),
        "executions": out_execs,
        "non_sql_stages": other,
    }


def print_event_log(summary: dict) -> None:
    print(f"application {summary.get('app_seconds')} s")
    for s in summary.get("non_sql_stages", []):
        print(f"  non-SQL stage {s['stage']} {s['seconds']:.2f}s tasks={s['tasks']} {s['name']}")
    for x in summary.get("executions", []):
        stage_s = sum(s["seconds"] for s in x["stages"])
        print(
            f"  exec {x['execution']:>3} at +{x['start_offset_s']:>7.2f}s  {x['seconds']:>7.2f}s (stages {stage_s:.2f}s)  {x['plan_head'][:140]}"  # noqa: E501
        )
        for s in x["stages"]:
            print(
                f"        stage {s['stage']:>3} {s['seconds']:>7.2f}s tasks={s['tasks']:>3} run={s['executor_run_s']:>6.2f}s "  # noqa: E501
                f"gc={s['jvm_gc_s']:>5.2f}s in={s['input_mb']:>7.1f}MB shw={s['shuffle_write_mb']:>7.1f}MB "
                f"shr={s['shuffle_read_mb']:>7.1f}MB spill={s['spill_mb']:>6.1f}MB"
            )


# --------------------------------------------------------------------------------------------------
# Orchestration


def machine() -> dict:
    cpu = next((ln.split(":", 1)[1].strip() for ln in open("/proc/cpuinfo") if ln.startswith("model name")), "?")
    mem = next((ln.split()[1] for ln in open("/proc/meminfo") if ln.startswith("MemTotal")), "0")
    java = subprocess.run(["java", "-version"], capture_output=True, text=True).stderr.splitlines()[0]
    import hashlib

    import duckdb
    import pyarrow
    import pyspark

    head = subprocess.run(
        ["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True, text=True
    ).stdout.strip()
    dirty = subprocess.run(
        ["git", "-C", str(REPO), "status", "--short", "--", "packaging_pipeline"], capture_output=True, text=True
    ).stdout.split()
    lib = {
        f: hashlib.sha256((REPO / "packaging_pipeline" / f).read_bytes()).hexdigest()[:12]
        for f in ("customers/features.py", "customers/spark_io.py", "core/storage.py", "core/keys.py")
    }
    return {
        "git_head": head,
        "library_uncommitted": [x for x in dirty if x.startswith("packaging_pipeline")],
        "library_sha256": lib,
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "mem_gib": round(int(mem) / 2**20, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "java": java,
        "pyspark": pyspark.__version__,
        "duckdb": duckdb.__version__,
        "pyarrow": pyarrow.__version__,
    }


def run(args: argparse.Namespace) -> dict:
    from generate import generate

    root = Path(args.root)
    result: dict = {
        "args": vars(args).copy(),
        "machine": machine(),
        "started": dt.datetime.now().isoformat(timespec="seconds"),
    }
    result["args"].pop("func", None)
    if not args.reuse:
        shutil.rmtree(root, ignore_errors=True)
        customers = args.customers or max(1000, args.events // 100)
        result["data"] = generate(root, args.ds, args.window_days, args.events, args.day_events, customers, args.seed)
        print("generated", result["data"], flush=True)
    else:
        result["data"] = json.loads((root / "bench-data.json").read_text())
    (root / "bench-data.json").write_text(json.dumps(result["data"]))
    for d in ("features",):
        shutil.rmtree(root / d, ignore_errors=True)
    args.event_log_dir = str(Path(args.event_log_dir or f"{root}-eventlogs").resolve())

    phases = {}
    for phase, repeat in (
        ("startup", 1),
        ("rebuild", args.rebuild_repeat),
        ("yesterday-state", 1),
        ("daily", args.repeat),
        ("incremental", args.repeat),
    ):
        phases[phase] = run_spark_subprocess(args, phase, repeat)
        print(phase, json.dumps({k: v for k, v in phases[phase].items() if k != "spark_conf"}), flush=True)
        if phase == "incremental":
            # Keep Spark's output of this night for the cross-check before anything else rewrites it.
            shutil.copytree(
                root / "features" / "customer" / f"ds={args.ds}", Path(f"{root}-spark-features"), dirs_exist_ok=True
            )
    result["spark"] = phases
    duck_out = Path(f"{root}-duckdb-features.parquet")
    result["duckdb"] = duckdb_phase(args, duck_out)
    print("duckdb", json.dumps(result["duckdb"]), flush=True)
    result["check"] = cross_check(Path(f"{root}-spark-features"), duck_out)
    print("check", json.dumps(result["check"]), flush=True)
    result["eventlog"] = {p: summarise_event_log(Path(args.event_log_dir) / p) for p in phases}
    result["summary"] = summarise(result)
    print(json.dumps(result["summary"], indent=1))
    return result


def summarise(r: dict) -> dict:
    ev = r["data"]["events"]
    sp, dk = r["spark"], r["duckdb"]
    duck = min(x["seconds"] for x in dk["runs"])
    duck_first = dk["runs"][0]["seconds"]
    duck_total = dk["startup_s"] + duck_first

    def first(phase: str) -> float:
        return sp[phase]["runs"][0]["seconds"]

    def best(phase: str) -> float:
        return min(x["seconds"] for x in sp[phase]["runs"])

    s = {
        "events": ev,
        "last_day_events": r["data"]["last_day_events"],
        "spark_startup_s": sp["startup"]["startup_s"],
        "spark_startup_by_phase_s": {p: sp[p]["startup_s"] for p in sp},
        "duckdb_startup_s": dk["startup_s"],
        "duckdb_window_s_first": duck_first,
        "duckdb_window_s_best": duck,
        "duckdb_events_per_s": round(ev / duck_first),
    }
    for p in ("daily", "incremental", "rebuild"):
        s[f"{p}_work_s_first"] = first(p)
        s[f"{p}_work_s_best"] = best(p)
        s[f"{p}_startup_s"] = sp[p]["startup_s"]
    s["daily_events_per_s"] = round(r["data"]["last_day_events"] / first("daily"))
    s["incremental_window_events_per_s"] = round(ev / first("incremental"))
    s["rebuild_events_per_s"] = round(ev / first("rebuild"))
    s["incremental_parts_first"] = {
        k: sp["incremental"]["runs"][0].get(k) for k in ("daily_aggregate_s", "merge_write_count_s")
    }
    s["rebuild_parts_first"] = {
        k: sp["rebuild"]["runs"][0].get(k) for k in ("daily_aggregate_s", "merge_write_count_s")
    }
    s["ratio_incremental_work_vs_duckdb"] = round(first("incremental") / duck_first, 2)
    s["ratio_incremental_work_best_vs_duckdb_best"] = round(best("incremental") / duck, 2)
    s["ratio_rebuild_with_startup_vs_duckdb_with_startup"] = round(
        (sp["rebuild"]["startup_s"] + first("rebuild")) / duck_total, 2
    )
    s["ratio_rebuild_work_vs_duckdb"] = round(first("rebuild") / duck_first, 2)
    s["ratio_daily_work_vs_duckdb"] = round(first("daily") / duck_first, 2)
    return s


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)

    def common(q: argparse.ArgumentParser) -> None:
        q.add_argument("--root", default="/tmp/bench-lake", help="local lake directory")
        q.add_argument("--ds", default="2026-11-01", help="the night (last day of the window)")
        q.add_argument("--window-days", "--days", type=int, default=90)
        q.add_argument("--master", default="local[2]")
        q.add_argument("--driver-memory", default="4g")
        q.add_argument("--event-log-dir", default=None)
        q.add_argument("--repeat", type=int, default=2, help="runs per phase in one process (first = cold)")

    r = sub.add_parser("run", help="generate, time all phases, DuckDB, cross-check")
    common(r)
    r.add_argument("--events", type=int, default=1_000_000)
    r.add_argument("--day-events", type=int, default=None, help="events of the last day (default events/days)")
    r.add_argument("--customers", type=int, default=None, help="default events/100")
    r.add_argument("--seed", type=int, default=7)
    r.add_argument("--reuse", action="store_true", help="reuse the generated data under --root")
    r.add_argument("--rebuild-repeat", type=int, default=1)
    r.add_argument("--duckdb-threads", type=int, default=2)
    r.add_argument("--out", default=None, help="write the full result JSON here")

    s = sub.add_parser("spark", help="one Spark phase in this process (used by run)")
    common(s)
    phases = ("startup", "rebuild", "yesterday-state", "daily", "incremental", "merge-variants")
    s.add_argument("--phase", choices=phases, required=True)
    s.add_argument("--variants", default=None, help="merge-variants: comma-separated subset")

    e = sub.add_parser("eventlog", help="print the stage-by-stage summary of a saved result or event log dir")
    e.add_argument("path")

    args = p.parse_args(argv)
    if args.cmd == "spark":
        print(json.dumps(spark_phase(args)))
    elif args.cmd == "run":
        result = run(args)
        if args.out:
            Path(args.out).parent.mkdir(parents=True, exist_ok=True)
            Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
    elif args.cmd == "eventlog":
        path = Path(args.path)
        if path.is_file():
            for phase, summ in json.loads(path.read_text())["eventlog"].items():
                print(f"== {phase}")
                print_event_log(summ)
        else:
            print_event_log(summarise_event_log(path))
    return 0


if __name__ == "__main__":
    sys.exit(main())
