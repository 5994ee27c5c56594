"""Deterministic sample data for the four raw sources, with planted customer segments.

Why: tests, demos and load runs need input that looks like a real shop (box-relevant product
dimensions, sessions, carts, orders, guest checkouts, returns), that exercises both ingest formats
(gzip'd JSON Lines and Parquet) and, on request, every kind of bad row, and whose customer
segments are known (``GROUND_TRUTH_KEY``) so segmentation quality can be measured.

Everything derives from the seed (``numpy.random.default_rng([seed, stream, day, chunk])``), never
from the clock, so the same arguments give byte-identical files. Data is produced per
(customer chunk, day) with vectorised numpy, one part file per chunk and day, so memory is bounded
by the chunk size; only small per-customer state arrays (archetype, warehouse, device, activity)
live for the whole run.
"""

from __future__ import annotations

import datetime as dt
import gzip
from collections import Counter
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from packaging_pipeline.core.formats import PARQUET_COMPRESSION, dumps
from packaging_pipeline.core.keys import (
    GROUND_TRUTH_KEY,
    RAW_SOURCES,
    raw_prefix,
)
from packaging_pipeline.core.storage import Lake
from packaging_pipeline.sample_data.archetypes import (
    _N_ARCH,
    _S_BAD,
    _S_CATALOG_BAD,
    _S_DAY,
    ARCHETYPES,
    CLICKSTREAM_GZIP_LEVEL,
)
from packaging_pipeline.sample_data.bad_rows import _spoil_jsonl, _spoil_orders
from packaging_pipeline.sample_data.catalog import _first_catalog, _Sampler, _second_catalog
from packaging_pipeline.sample_data.feedback import _feedback_rows
from packaging_pipeline.sample_data.shop import _customer_ids, _Customers, _customers, _empty_pool, _simulate
from packaging_pipeline.sample_data.writers import (
    _catalog_with_bad_rows,
    _encode_lines,
    _jsonl_text,
    _orders_table,
    _parquet_bytes,
)


def _day_range(start: dt.date, days: int) -> list[dt.date]:
    return [start + dt.timedelta(days=i) for i in range(days)]


def _write_ground_truth(lake: Lake, cust: _Customers, chunk_customers: int) -> None:
    schema = pa.schema([("customer_id", pa.string()), ("planted_segment", pa.int64()), ("segment_name", pa.string())])
    names = np.array([a.name for a in ARCHETYPES], dtype=object)
    n = len(cust.archetype)
    with lake.writer(GROUND_TRUTH_KEY, suffix=".parquet") as path:
        with pq.ParquetWriter(path, schema, compression=PARQUET_COMPRESSION) as writer:
            for lo in range(0, n, max(chunk_customers, 100_000)):
                hi = min(n, lo + max(chunk_customers, 100_000))
                arch = cust.archetype[lo:hi].astype(np.int64)
                writer.write_table(
                    pa.table(
                        {
                            "customer_id": pa.array(_customer_ids(np.arange(lo, hi)), pa.string()),
                            "planted_segment": pa.array(arch, pa.int64()),
                            "segment_name": pa.array(names[arch], pa.string()),
                        },
                        schema=schema,
                    )
                )


def generate_sample_data(
    lake: Lake,
    start: dt.date,
    days: int,
    customers: int,
    seed: int,
    bad_row_share: float = 0.0,
    chunk_customers: int = 20_000,
) -> dict:
    """Write ``days`` daily partitions of all four raw sources from ``start``, plus the planted segments.

    Same arguments give byte-identical files; a rerun replaces the range's raw partitions. Feedback
    is only written for orders of published batches (``published/ds=<d>/`` with ``_SUCCESS``) found in
    the lake, so a fresh lake gets none. ``bad_row_share`` > 0 spoils about that share of the rows
    with the kinds in ``BAD_ROW_KINDS`` and reports their counts.

    Returns:
        a JSON-serialisable summary: arguments, rows/partitions/files per source, bad rows by kind,
        the ground-truth key and every key written.
    """
    if days < 1 or customers < 1 or chunk_customers < 1:
        raise ValueError(
            f"days, customers and chunk_customers must be >= 1 (got {days}, {customers}, {chunk_customers})"
        )
    if seed < 0:
        raise ValueError(f"seed must be >= 0 (got {seed})")
    if not 0.0 <= bad_row_share <= 0.5:
        raise ValueError(f"bad_row_share must be within [0, 0.5] (got {bad_row_share})")
    dates = _day_range(start, days)
    keys_written: list[str] = []
    stats = {s: {"rows": 0, "partitions": 0, "files": 0, "bad_rows": Counter()} for s in RAW_SOURCES}

    for source in RAW_SOURCES:
        for day in dates:
            lake.delete_prefix(raw_prefix(source, day.isoformat()))

    cust = _customers(seed, customers)
    _write_ground_truth(lake, cust, chunk_customers)
    keys_written.append(GROUND_TRUTH_KEY)

    # Catalog snapshots: one at the start, a changed one mid-range when the range is long enough.
    first = _first_catalog(seed)
    snapshots: list[tuple[int, list[dict[str, Any]]]] = [(0, first)]
    if days >= 4:
        snapshots.append((days // 2, _second_catalog(seed, first)))
    for day_index, products in snapshots:
        ds = dates[day_index].isoformat()
        bad_rng = np.random.default_rng([seed, _S_CATALOG_BAD, day_index])
        lines = _catalog_with_bad_rows(bad_rng, products, bad_row_share, stats["catalog"]["bad_rows"])
        key = raw_prefix("catalog", ds) + "part-00000.jsonl"
        lake.write_bytes(key, _encode_lines(lines))
        keys_written.append(key)
        stats["catalog"]["rows"] += len(lines)
        stats["catalog"]["files"] += 1
        stats["catalog"]["partitions"] += 1
    samplers = [(day_index, _Sampler(products)) for day_index, products in snapshots]

    # Clickstream and orders, per customer chunk (outer) and day (inner): state stays chunk-sized.
    n_chunks = (customers + chunk_customers - 1) // chunk_customers
    for chunk in range(n_chunks):
        lo, hi = chunk * chunk_customers, min(customers, (chunk + 1) * chunk_customers)
        pool = _empty_pool()
        for day_index, day in enumerate(dates):
            sampler = next(s for i, s in reversed(samplers) if i <= day_index)
            rng = np.random.default_rng([seed, _S_DAY, day_index, chunk])
            events, lines, pool = _simulate(rng, sampler, cust, lo, hi, day, day_index, chunk, pool)
            ds = day.isoformat()

            text = _jsonl_text(events)
            bad_rng = np.random.default_rng([seed, _S_BAD, 0, day_index, chunk])
            if bad_row_share > 0 and text:
                spoiled = _spoil_jsonl(
                    bad_rng, "clickstream", text[:-1].split("\n"), bad_row_share, stats["clickstream"]["bad_rows"]
                )
                text = "\n".join(spoiled) + "\n"
            key = raw_prefix("clickstream", ds) + f"part-{chunk:05d}.jsonl.gz"
            lake.write_bytes(key, gzip.compress(text.encode("utf-8"), compresslevel=CLICKSTREAM_GZIP_LEVEL, mtime=0))
            keys_written.append(key)
            stats["clickstream"]["rows"] += len(events)
            stats["clickstream"]["files"] += 1

            bad_rng = np.random.default_rng([seed, _S_BAD, 1, day_index, chunk])
            masks = _spoil_orders(bad_rng, lines, bad_row_share, stats["orders"]["bad_rows"])
            key = raw_prefix("orders", ds) + f"part-{chunk:05d}.parquet"
            lake.write_bytes(key, _parquet_bytes(_orders_table(lines, masks)))
            keys_written.append(key)
            stats["orders"]["rows"] += len(lines["order_id"])
            stats["orders"]["files"] += 1
    stats["clickstream"]["partitions"] = stats["orders"]["partitions"] = days

    # Feedback last: it reads back the orders just written.
    for day, rows in sorted(_feedback_rows(lake, seed, cust, start, days).items()):
        lines_fb = [dumps(r, separators=(",", ":")) for r in rows]
        bad_rng = np.random.default_rng([seed, _S_BAD, 3, day.toordinal()])
        lines_fb = _spoil_jsonl(bad_rng, "feedback", lines_fb, bad_row_share / 2, stats["feedback"]["bad_rows"])
        key = raw_prefix("feedback", day.isoformat()) + "part-00000.jsonl"
        lake.write_bytes(key, _encode_lines(lines_fb))
        keys_written.append(key)
        stats["feedback"]["rows"] += len(lines_fb)
        stats["feedback"]["files"] += 1
        stats["feedback"]["partitions"] += 1

    bad_total: Counter[str] = Counter()
    for s in stats.values():
        bad_total.update(s["bad_rows"])
    sizes = np.bincount(cust.archetype, minlength=_N_ARCH)
    return {
        "start": start.isoformat(),
        "days": days,
        "customers": customers,
        "seed": seed,
        "chunk_customers": chunk_customers,
        "bad_row_share": bad_row_share,
        "sources": {
            name: {**{k: v for k, v in s.items() if k != "bad_rows"}, "bad_rows": dict(sorted(s["bad_rows"].items()))}
            for name, s in stats.items()
        },
        "bad_rows": dict(sorted(bad_total.items())),
        "bad_rows_total": int(sum(bad_total.values())),
        "segments": [
            {"planted_segment": i, "segment_name": a.name, "customers": int(sizes[i])} for i, a in enumerate(ARCHETYPES)
        ],
        "ground_truth_key": GROUND_TRUTH_KEY,
        "keys_written": keys_written,
    }
