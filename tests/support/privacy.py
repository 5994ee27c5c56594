"""Scanning a lake for raw customer ids: they may live under ``raw/`` and nowhere else."""

from __future__ import annotations

import gzip
import io
import json

import pyarrow.parquet as pq

from packaging_pipeline.core.storage import Lake


def raw_customer_ids(lake: Lake) -> set[str]:
    """Every customer id the producers delivered (raw orders and clickstream, JSON Lines or Parquet)."""
    ids: set[str] = set()
    for obj in lake.list("raw/"):
        data = lake.read_bytes(obj.key)
        if obj.key.endswith(".parquet"):
            table = pq.read_table(io.BytesIO(data))
            if "customer_id" in table.column_names:
                ids |= {str(v) for v in table.column("customer_id").to_pylist() if v}
        elif obj.key.endswith((".jsonl", ".jsonl.gz")):
            text = gzip.decompress(data) if obj.key.endswith(".gz") else data
            for line in text.decode("utf-8", "replace").splitlines():
                try:
                    record = json.loads(line)
                except ValueError:
                    continue
                if isinstance(record, dict) and record.get("customer_id"):
                    ids.add(str(record["customer_id"]))
    return ids


def readable_text(key: str, data: bytes) -> bytes:
    """What a byte search must look through: Parquet decoded (its pages are compressed), gzip unpacked."""
    if key.endswith(".parquet"):
        table = pq.read_table(io.BytesIO(data))
        return repr(table.to_pylist()).encode("utf-8")
    if key.endswith(".gz"):
        return gzip.decompress(data)
    return data


def objects_holding(lake: Lake, ids: set[str], outside: str = "raw/") -> dict[str, list[str]]:
    """Objects outside ``outside`` whose readable content holds any of ``ids`` (key -> a few of them)."""
    found: dict[str, list[str]] = {}
    needles = [i.encode("utf-8") for i in ids]
    for obj in lake.list(""):
        if obj.key.startswith(outside) or obj.symlink:
            continue
        text = readable_text(obj.key, lake.read_bytes(obj.key))
        hits = [n.decode() for n in needles if n in text]
        if hits:
            found[obj.key] = hits[:3]
    return found
