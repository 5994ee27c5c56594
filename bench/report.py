"""Markdown tables from ``feature_bench.py run --out`` result files (so the docs only carry measured numbers).

.venv/bin/python bench/report.py bench/results/1m.json bench/results/10m.json "bench/results/50m.json=50M (loaded)"
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def fmt(x: float) -> str:
    return f"{x:,.1f}" if x >= 10 else f"{x:.2f}"


def rate(n: int, s: float) -> str:
    return f"{n / s:,.0f}"


def main(paths: list[str]) -> None:
    results = []
    for arg in paths:
        path, _, label = arg.partition("=")
        r = json.loads(Path(path).read_text())
        r["label"] = label or f"{r['data']['events'] / 1e6:g}M"
        results.append(r)
    print(
        "| window events (new day) | step | Spark start-up s | Spark work s, cold (warm) | events/s (cold) | DuckDB s | Spark/DuckDB, work cold (warm) | Spark/DuckDB incl. start-up |"  # noqa: E501
    )
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    for r in results:
        d, sp, dk = r["data"], r["spark"], r["duckdb"]
        duck = dk["runs"][0]["seconds"]
        duck_best = min(x["seconds"] for x in dk["runs"])
        duck_total = duck + dk["startup_s"]
        size = f"{r['label']} ({d['last_day_events']:,})"
        for phase, label, n in (
            ("daily", "daily aggregate of the new day", d["last_day_events"]),
            ("incremental", "nightly incremental update (90-day window)", d["events"]),
            ("rebuild", "`--rebuild` of the 90-day window", d["events"]),
        ):
            runs = sp[phase]["runs"]
            cold = runs[0]["seconds"]
            warm = min(x["seconds"] for x in runs[1:]) if len(runs) > 1 else None
            warm_s = f" ({fmt(warm)})" if warm is not None else ""
            ratio_warm = f" ({warm / duck_best:.1f}x)" if warm is not None else ""
            startup = sp[phase]["startup_s"]
            print(
                f"| {size} | {label} | {fmt(startup)} | {fmt(cold)}{warm_s} | {rate(n, cold)} | "
                f"{fmt(duck)} | {cold / duck:.1f}x{ratio_warm} | {(startup + cold) / duck_total:.1f}x |"
            )
        print(
            f"| {size} | DuckDB: same features from the window's accepted files | - | - | {rate(d['events'], duck)} | "
            f"{fmt(duck)} (best {fmt(duck_best)}; start-up {dk['startup_s']:.2f}) | 1x | 1x |"
        )
    print()
    print(
        "| window | incremental cold: new-day aggregate s | incremental cold: merge+write+count s | warm: aggregate s | warm: merge s | rebuild: aggregate s | rebuild: merge s |"  # noqa: E501
    )
    print("|---|---:|---:|---:|---:|---:|---:|")
    for r in results:
        inc, reb = r["spark"]["incremental"]["runs"], r["spark"]["rebuild"]["runs"][0]
        w = inc[-1]
        print(
            f"| {r['label']} | {inc[0]['daily_aggregate_s']} | {inc[0]['merge_write_count_s']} | "
            f"{w['daily_aggregate_s']} | {w['merge_write_count_s']} | {reb['daily_aggregate_s']} | {reb['merge_write_count_s']} |"  # noqa: E501
        )
    print()
    print("| window | phase | load avg before | load avg after (1 min, per run) |")
    print("|---|---|---|---|")
    for r in results:
        for phase, x in r["spark"].items():
            print(
                f"| {r['label']} | Spark {phase} | {x['load_before'][0]} | {', '.join(str(y['load_after'][0]) for y in x['runs'])} |"  # noqa: E501
            )
        print(f"| {r['label']} | DuckDB | - | {', '.join(str(y['load_after'][0]) for y in r['duckdb']['runs'])} |")
    print()
    for r in results:
        c = r["check"]
        print(
            f"* {r['label']}: customers Spark {c['spark_customers']:,} / DuckDB {c['duckdb_customers']:,}, "
            f"only in one: {c['only_in_spark']}/{c['only_in_duckdb']}; {c['columns_compared']} columns compared; "
            f"mismatching: {json.dumps({k: {kk: vv for kk, vv in v.items() if kk != 'examples'} for k, v in c['mismatching_columns'].items()})}"  # noqa: E501
        )


if __name__ == "__main__":
    main(sys.argv[1:])
