"""Publish a night's designs to the warehouse contract: a new complete batch, or the previous one stays.

What a night publishes (keys relative to the lake root; the contract readers rely on)::

    published/ds=<ds>/_SUCCESS                 the pointer: names the night's complete batch, written last
    published/ds=<ds>/batch=<id>/              one batch; <id> is the first 16 hex digits of its batch_id
        designs/<design_id>/dieline-<box_code>-<LxWxH>.pdf   print file (and its .svg)
        designs/<design_id>/spec.json, artwork.png, preview.png, mockup.png
        assignments/warehouse=<id>/assignments.csv          one row per parcel, no customer data
        sustainability.parquet   the gate's scores, when the gate ran
        report.html              contact sheet per segment for people (see report.py)
        manifest.json            every file above with its size and sha256
    published/LATEST                           the newest complete ds

The input is the night's staging (``designs/staging/ds=<ds>/``): ``order_designs_gated.parquet`` when
the sustainability gate ran (its ``gate.json``, written last, is there), else ``order_designs.parquet``;
gate outputs without ``gate.json`` are a gate run that died and stop the publication. Only the designs
and print files that orders are assigned to are published, so a design the gate rejected (its orders
reassigned) never reaches a warehouse. ``spec.json`` is republished with its print-file keys pointing
at the published copies and its order count set to the published assignments. Keys inside a batch
(in ``spec.json``, ``assignments.csv`` and the manifest) are relative to the batch folder, whose name
is a hash of the manifest's content, and so of those files' bytes.

Publication protocol: replace by swap, never by delete-then-write (as Delta Lake or Iceberg commit).

1. Build every file of the batch in a local temp directory and hash the exact bytes that will be
   uploaded; the batch_id is the hash of the manifest's content (the files and what it says about
   them). A failure here (staging missing or inconsistent) leaves the published night untouched.
2. Upload the files into ``batch=<id>/`` (a folder no reader is pointed at), then its ``manifest.json``.
3. Write ``_SUCCESS``: ``{ds, batch_id, prefix, manifest_sha256}``. One object written whole (S3 PUTs
   and the local lake's rename are atomic), so readers go from the previous complete batch to the new
   one in one step; until then, and for ever if this run dies, they keep the previous one.
4. Point ``published/LATEST`` at ``ds`` if ``ds`` is at least its current value; publishing an older
   night (a backfill) leaves it alone.
5. Delete the night's other batch folders once nothing has written to them for ``retention_seconds``,
   except the batch just replaced: a reader that began before the switch finishes from it, and a
   concurrent publisher's half-written folder is never taken from under it.

The manifest holds no wall-clock time, so republishing the same staging yields the same batch_id,
folder and bytes.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import logging
import re
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

from packaging_pipeline.contract import PublishedBatch, complete_batch
from packaging_pipeline.core import keys
from packaging_pipeline.core.config import Settings
from packaging_pipeline.core.errors import InputError, PipelineError
from packaging_pipeline.core.formats import dumps, spec_bytes
from packaging_pipeline.core.hashing import sha256_hex
from packaging_pipeline.core.storage import Lake, open_lake
from packaging_pipeline.publication.report import REPORT_NAME, BatchReport, ReportDesign, render_batch_report

log = logging.getLogger(__name__)

SCHEMA_VERSION = 2  # 2: each batch in its own folder, keys relative to it, _SUCCESS points at it
ASSIGNMENT_COLUMNS = (
    "order_id", "box_code", "style", "inner_length_mm", "inner_width_mm", "inner_height_mm", "design_id",
    "print_file_key", "note", "parcel", "products",
)  # fmt: skip
"""``assignments.csv``, one row per parcel. ``parcel`` is ``1/2`` for the first of an order's two parcels and
``products`` what goes in it (``P00355x1;P00340x2``); new columns are only ever added at the end."""
_BOX, _DESIGN, _PRINT_KEY = (ASSIGNMENT_COLUMNS.index(c) for c in ("box_code", "design_id", "print_file_key"))
DESIGN_COMPANIONS = (keys.SPEC_NAME, "artwork.png", "preview.png", "mockup.png")
_ORDER_COLUMNS = (
    "order_id", "warehouse_id", "design_id", "box_code", "style", "inner_length_mm", "inner_width_mm",
    "inner_height_mm",
)  # fmt: skip
_OPTIONAL_COLUMNS = ("print_file", "parcel", "parcels", "products")
"""Read when the staged table has them (staging written before parcels carried their units has not)."""


@dataclasses.dataclass(frozen=True)
class _Staging:
    """What publication reads from the night's staging, checked before anything is published."""

    prefix: str
    listing: frozenset[str]
    order_key: str
    order_bytes: bytes
    rows: list[dict[str, Any]]
    plan: dict[str, Any]
    plan_bytes: bytes
    gate_ran: bool
    gate_summary: Any
    sustainability_key: str | None
    design_dirs: dict[str, tuple[int, str]]  # design_id -> (segment_id, staging folder)


@dataclasses.dataclass(frozen=True)
class _File:
    key: str
    path: Path
    size: int
    sha256: str


def _read_staging(lake: Lake, ds: str) -> _Staging:
    """Read and check the staged night; raises InputError naming the missing or inconsistent input."""
    import pyarrow.parquet as pq
    prefix = keys.staging_prefix(ds)
    listing = frozenset(o.key for o in lake.list(prefix))
    plan_key = prefix + keys.PLAN_NAME
    if plan_key not in listing:  # the design stage writes plan.json last: without it staging is incomplete
        raise InputError(
            f"no complete design staging for ds={ds}: {lake.uri_of(plan_key)} is missing; "
            f"run `packaging-pipeline designs --ds {ds}` first"
        )
    gated, plain = prefix + keys.ORDER_DESIGNS_GATED_NAME, prefix + keys.ORDER_DESIGNS_NAME
    gate_key, sustainability_key = prefix + keys.GATE_NAME, prefix + keys.SUSTAINABILITY_NAME
    # The gate writes gate.json last: with it the gate finished; without it, any other gate output is
    # a run that died midway, and publishing the ungated assignments could ship rejected designs.
    gate_ran = gate_key in listing
    if gate_ran != (gated in listing) or (not gate_ran and sustainability_key in listing):
        raise InputError(
            f"the sustainability gate of ds={ds} did not finish: {lake.uri_of(keys.staging_prefix(ds))} has "
            f"{'gate.json' if gate_ran else 'no gate.json'} but "
            f"{'no ' if gated not in listing else ''}order_designs_gated.parquet; rerun the gate, then publish"
        )
    order_key = gated if gate_ran else plain
    if order_key not in listing:
        raise InputError(f"no order assignments for ds={ds}: {lake.uri_of(order_key)} is missing; rerun the designs")
    order_bytes = lake.read_bytes(order_key)
    table = pq.read_table(io.BytesIO(order_bytes))
    missing = [c for c in _ORDER_COLUMNS if c not in table.column_names]
    if missing:
        raise InputError(f"{lake.uri_of(order_key)} lacks columns {missing}; expected {list(_ORDER_COLUMNS)}")
    columns = [*_ORDER_COLUMNS, *(c for c in _OPTIONAL_COLUMNS if c in table.column_names)]
    rows = table.select(columns).to_pylist()
    spec_key = re.compile(rf"^{re.escape(prefix)}segment=(-?\d+)/([^/]+)/spec\.json$")
    design_dirs: dict[str, tuple[int, str]] = {}
    for key in sorted(listing):
        m = spec_key.match(key)
        if not m:
            continue
        if m.group(2) in design_dirs:
            raise InputError(f"design {m.group(2)} is staged under two segments in {lake.uri_of(prefix)}")
        design_dirs[m.group(2)] = (int(m.group(1)), key[: -len(keys.SPEC_NAME)])
    plan_bytes = lake.read_bytes(plan_key)
    gate_summary = json.loads(lake.read_bytes(gate_key)) if gate_key in listing else None
    return _Staging(
        prefix, listing, order_key, order_bytes, rows, json.loads(plan_bytes), plan_bytes, gate_ran, gate_summary,
        sustainability_key if sustainability_key in listing else None, design_dirs,
    )  # fmt: skip


def _dims(value: Any) -> str:
    return f"{float(value):g}"


def _print_name(row: dict[str, Any]) -> str:
    inner = (float(row["inner_length_mm"]), float(row["inner_width_mm"]), float(row["inner_height_mm"]))
    return keys.print_file_name(str(row["box_code"]), inner) + ".pdf"


def _parcel_of(row: dict[str, Any]) -> str:
    parcel, parcels = row.get("parcel"), row.get("parcels")
    return f"{int(parcel)}/{int(parcels)}" if parcel is not None and parcels is not None else ""


def _assignments(
    lake: Lake, ds: str, staging: _Staging
) -> tuple[dict[str, list[list[str]]], dict[str, set[str]], Counter[str]]:
    """CSV rows per warehouse, the print files (names) each design needs, and orders per design."""
    per_warehouse: dict[str, list[list[str]]] = defaultdict(list)
    prints: dict[str, set[str]] = defaultdict(set)
    design_orders: dict[str, set[str]] = defaultdict(set)
    for row in sorted(staging.rows, key=lambda r: str(r["order_id"])):
        order_id, warehouse, design_id = row["order_id"], row["warehouse_id"], row["design_id"]
        if not order_id or not warehouse:
            raise InputError(f"{lake.uri_of(staging.order_key)} has an order without order_id or warehouse_id: {row}")
        print_key = ""
        if design_id:
            if design_id not in staging.design_dirs:
                raise InputError(
                    f"order {order_id} of ds={ds} is assigned design {design_id}, which has no staged files "
                    f"under {lake.uri_of(staging.prefix)}; rerun the designs (and the gate) for ds={ds}"
                )
            name = _print_name(row)
            staged = row.get("print_file")
            if staged and staged.rsplit("/", 1)[-1] != name:
                raise InputError(
                    f"order {order_id}: print_file {staged} does not match its box {row['box_code']} "
                    f"{_dims(row['inner_length_mm'])}x{_dims(row['inner_width_mm'])}x{_dims(row['inner_height_mm'])}"
                )
            source = staging.design_dirs[design_id][1] + name
            if source not in staging.listing:
                raise InputError(f"order {order_id} needs {lake.uri_of(source)}, which was not staged")
            prints[design_id].add(name)
            design_orders[design_id].add(str(order_id))
            print_key = keys.batch_design_key(design_id, name)
        per_warehouse[str(warehouse)].append([
            str(order_id), str(row["box_code"]), str(row["style"]), _dims(row["inner_length_mm"]),
            _dims(row["inner_width_mm"]), _dims(row["inner_height_mm"]), str(design_id or ""), print_key, "",
            _parcel_of(row), str(row.get("products") or ""),
        ])  # fmt: skip
    # Parcels without a box still reach their warehouse, with no box or design and the reason, so a
    # warehouse's list covers every order shipping next: a unit that ships in its own packaging (one
    # row per such parcel, beside the order's boxed parcels), or an order whose products are unknown.
    boxed = {str(r["order_id"]) for r in staging.rows}
    for order in (staging.plan.get("right_sizing") or {}).get("unboxed_orders") or []:
        own = order.get("status") == "own_packaging"
        if own or str(order["order_id"]) not in boxed:
            note = f"{'own packaging' if own else 'no standard box'}: {order.get('reason') or order.get('status')}"
            per_warehouse[str(order["warehouse_id"])].append([str(order["order_id"]), *[""] * 7, note, "", ""])
    orders = Counter({design_id: len(ids) for design_id, ids in design_orders.items()})
    for rows in per_warehouse.values():
        rows.sort(key=lambda r: r[0])
    return dict(per_warehouse), dict(prints), orders


def _published_spec(raw: bytes, design_id: str, names: set[str], orders: int) -> bytes:
    """The staged spec with print-file keys moved to the published copies (relative to the batch folder);
    boxes not published dropped."""
    spec = json.loads(raw)
    published = []
    for pf in spec.get("print_files", []):
        name = str(pf.get("pdf", "")).rsplit("/", 1)[-1]
        if name in names:
            svg = name[: -len(".pdf")] + ".svg"
            published.append({**pf, "pdf": keys.batch_design_key(design_id, name),
                              "svg": keys.batch_design_key(design_id, svg) if svg in names else None})  # fmt: skip
    spec["print_files"] = published
    spec["orders"] = orders
    return spec_bytes(spec)


def _csv_bytes(rows: list[list[str]]) -> bytes:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(ASSIGNMENT_COLUMNS)
    writer.writerows(rows)
    return buf.getvalue().encode("utf-8")


def _batch_report(
    lake: Lake, ds: str, staging: _Staging, model: dict[str, Any],
    cards: list[tuple[str, int, int, dict[str, bytes]]], rows: list[list[str]], print_files: int,
) -> BatchReport:  # fmt: skip
    """What ``report.html`` shows: the published designs, the ones the gate rejected, their scores."""
    import pyarrow.parquet as pq

    gate = staging.gate_summary if isinstance(staging.gate_summary, dict) else None
    decided = {str(d.get("design_id")): d for d in (gate or {}).get("designs") or [] if isinstance(d, dict)}
    designs = [
        ReportDesign(design_id, segment_id, json.loads(files["spec.json"]), n_orders, files["preview.png"],
                     files["mockup.png"], str(decided.get(design_id, {}).get("status", "published")),
                     folder=keys.published_design_folder(design_id))
        for design_id, segment_id, n_orders, files in cards
    ]  # fmt: skip
    for design_id, entry in sorted(decided.items()):
        folder = entry.get("rejected")
        if entry.get("status") != "rejected" or not isinstance(folder, str) or not lake.exists(folder + keys.SPEC_NAME):
            continue  # the gate moved it there; without its spec there is no card to show
        spec = json.loads(lake.read_bytes(folder + keys.SPEC_NAME))
        reasons = [f"{f.get('rule')}: measured {f.get('measured')}, limit {f.get('limit')}"
                   for f in entry.get("failed_rules") or [] if isinstance(f, dict)]  # fmt: skip
        images = {n: lake.read_bytes(folder + n) if lake.exists(folder + n) else None
                  for n in ("preview.png", "mockup.png")}  # fmt: skip
        designs.append(ReportDesign(design_id, int(entry.get("segment_id", spec.get("segment_id", -1))), spec,
                                    0, images["preview.png"], images["mockup.png"], "rejected", reasons))  # fmt: skip
    pairs = pq.read_table(io.BytesIO(lake.read_bytes(staging.sustainability_key))).to_pylist() \
        if staging.sustainability_key else []  # fmt: skip
    profiles_key = keys.segment_profiles_key(ds)
    profiles = json.loads(lake.read_bytes(profiles_key)).get("segments", []) if lake.exists(profiles_key) else []
    counts = {"designs": len(cards), "designs_staged": len(staging.design_dirs), "print_files": print_files,
              "orders_without_design": sum(1 for r in rows if not r[_PRINT_KEY])}  # fmt: skip
    parcels_key = keys.parcels_prefix(ds) + keys.PARCELS_SUMMARY_NAME
    parcels = json.loads(lake.read_bytes(parcels_key)) if lake.exists(parcels_key) else None
    return BatchReport(ds, model, gate, counts, designs, pairs,
                       [(r[_DESIGN], r[_BOX]) for r in rows if r[_DESIGN]], profiles, parcels)  # fmt: skip


def _build_batch(
    lake: Lake, ds: str, staging: _Staging, workdir: Path, model_version: str | None
) -> tuple[list[_File], dict[str, Any]]:
    """Every file of the batch written under ``workdir`` and hashed, plus the manifest describing them."""
    files: list[_File] = []

    def put(key: str, data: bytes) -> str:
        path = workdir / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        files.append(_File(key, path, len(data), sha256_hex(data)))
        return key

    per_warehouse, prints, orders = _assignments(lake, ds, staging)
    designs, cards = [], []
    for design_id in sorted(prints):
        segment_id, folder = staging.design_dirs[design_id]
        svgs = {n[: -len(".pdf")] + ".svg" for n in prints[design_id]}
        print_names = prints[design_id] | {n for n in svgs if folder + n in staging.listing}
        design_keys, companions = [], {}
        for name in DESIGN_COMPANIONS:
            source = folder + name
            if source not in staging.listing:
                raise InputError(f"design {design_id} of ds={ds} lacks {lake.uri_of(source)}; rerun the designs")
            data = lake.read_bytes(source)
            if name == keys.SPEC_NAME:
                data = _published_spec(data, design_id, print_names, orders[design_id])
            companions[name] = data
            design_keys.append(put(keys.batch_design_key(design_id, name), data))
        cards.append((design_id, segment_id, orders[design_id], companions))
        for name in sorted(print_names):
            design_keys.append(put(keys.batch_design_key(design_id, name), lake.read_bytes(folder + name)))
        designs.append({"design_id": design_id, "segment_id": segment_id, "orders": orders[design_id],
                        "files": sorted(design_keys)})  # fmt: skip
    warehouses = []
    for warehouse in sorted(per_warehouse):
        rows = per_warehouse[warehouse]
        key = put(keys.batch_assignments_key(warehouse), _csv_bytes(rows))
        warehouses.append({"warehouse_id": warehouse, "assignments_key": key, "orders": len({r[0] for r in rows}),
                           "parcels": len(rows),
                           "print_files": sorted({r[_PRINT_KEY] for r in rows if r[_PRINT_KEY]})})  # fmt: skip
    sustainability = None
    if staging.sustainability_key:
        sustainability = put(keys.SUSTAINABILITY_NAME, lake.read_bytes(staging.sustainability_key))
    source = staging.plan.get("artwork_source") or {}
    model = {"version": model_version or source.get("model_version"), "artwork_source": source or None}
    all_rows = [r for rows in per_warehouse.values() for r in rows]
    report = _batch_report(lake, ds, staging, model, cards, all_rows, sum(len(p) for p in prints.values()))
    report_key = put(REPORT_NAME, render_batch_report(report))
    files.sort(key=lambda f: f.key)
    manifest: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "ds": ds,
        "model": model,
        "inputs": {
            "order_designs": staging.order_key,
            "order_designs_sha256": sha256_hex(staging.order_bytes),
            "plan": staging.prefix + keys.PLAN_NAME,
            "plan_sha256": sha256_hex(staging.plan_bytes),
        },
        "gate": {"ran": staging.gate_ran, "summary": staging.gate_summary, "sustainability_key": sustainability},
        "report": {"key": report_key},
        "counts": {
            "designs": len(designs),
            "designs_staged": len(staging.design_dirs),
            "print_files": sum(len(p) for p in prints.values()),
            "files": len(files),
            "bytes": sum(f.size for f in files),
            "orders": len({r[0] for r in all_rows}),
            "parcels": len(all_rows),
            "orders_without_design": sum(1 for r in all_rows if not r[_PRINT_KEY]),
            "orders_per_warehouse": {w["warehouse_id"]: w["orders"] for w in warehouses},
        },
        "designs": designs,
        "warehouses": warehouses,
        "files": [{"key": f.key, "size": f.size, "sha256": f.sha256} for f in files],
    }
    # The id covers the whole manifest (files and what is said about them), so a batch folder, once
    # written, is never rewritten with other bytes: the same id is the same batch.
    batch_id = sha256_hex(dumps(manifest, sort_keys=True).encode("utf-8"))
    return files, {**manifest, "batch_id": batch_id, "prefix": keys.published_batch_prefix(ds, batch_id)}


def _advance_latest(lake: Lake, ds: str) -> tuple[str | None, bool]:
    """Point LATEST at ``ds`` unless it already names a newer night; returns (previous value, moved)."""
    try:
        current = keys.read_latest(lake)
    except keys.LatestUnreadable as exc:
        log.warning("%s; replacing it with %s", exc, ds)
        current = None
    if current is not None and current > ds:
        return current, False
    keys.write_latest(lake, ds)
    return current, True


RETENTION_SECONDS = 3600.0
"""How long a batch folder the night no longer points to is kept: a reader that began before the
switch finishes from it, and a concurrent publisher's folder still being written is never touched. It
must exceed the longest publish and the longest pull; at 0 s a concurrent publisher's folder can go."""


def _remove_stale_batches(lake: Lake, ds: str, keep: set[str], retention_seconds: float) -> int:
    """Delete the night's folders and loose files that no pointer names and nothing wrote for a while.

    ``keep`` holds batch prefixes never to delete (the new batch, the one it replaced). The marker is
    read again here, so a batch another publisher switched to meanwhile is kept too.
    """
    live = complete_batch(lake, ds)
    keep = keep | ({live.prefix} if live else set())
    night = keys.published_prefix(ds)
    newest: dict[str, float] = defaultdict(float)
    for obj in lake.list(night):
        rest = obj.key[len(night):]
        if rest == keys.SUCCESS_NAME:
            continue
        unit = rest.split("/", 1)[0] + ("/" if "/" in rest else "")
        newest[night + unit] = max(newest[night + unit], obj.modified)
    cutoff, removed = time.time() - retention_seconds, 0
    for unit, modified in sorted(newest.items()):
        if unit in keep or modified > cutoff:
            continue
        if unit.endswith("/"):
            removed += lake.delete_prefix(unit)
        else:
            lake.delete(unit)
            removed += 1
    return removed


def publish_batch(
    lake: Lake, ds: str, model_version: str | None = None, retention_seconds: float = RETENTION_SECONDS
) -> dict[str, Any]:
    """Publish the staged night ``ds`` of ``lake`` under ``published/ds=<ds>/`` (protocol in the module doc).

    Args:
        lake: the lake holding ``designs/staging/ds=<ds>/``; the batch is written to the same lake.
        ds: the night, ``YYYY-MM-DD``.
        model_version: recorded in the manifest; default: the version that painted the staged artwork.
        retention_seconds: how long batch folders the night no longer points to are kept.

    Returns:
        Counts, the published prefix, the manifest's sha256 and whether LATEST moved.
    """
    keys.parse_ds(ds)
    staging = _read_staging(lake, ds)
    with tempfile.TemporaryDirectory(prefix="publish-") as tmp:
        files, manifest = _build_batch(lake, ds, staging, Path(tmp), model_version)
        manifest_bytes = (dumps(manifest, indent=2, sort_keys=True) + "\n").encode("utf-8")
        batch = PublishedBatch(ds, manifest["batch_id"], manifest["prefix"], sha256_hex(manifest_bytes))
        previous = complete_batch(lake, ds)
        # The new batch goes into its own folder; the night's pointer still names the previous one.
        uploaded = lake.upload_many((f.path, batch.key(f.key)) for f in files)
        if uploaded != len(files):
            raise PipelineError(f"published {uploaded} of {len(files)} files of ds={ds}; the previous batch stays")
        lake.write_bytes(batch.manifest_key, manifest_bytes)
        # The switch: one object written whole, so readers go from one complete batch to the next.
        lake.write_bytes(keys.published_success_key(ds), (json.dumps(batch.marker(), sort_keys=True) + "\n").encode())
    latest_before, moved = _advance_latest(lake, ds)
    kept = {batch.prefix} | ({previous.prefix} if previous else set())
    removed = _remove_stale_batches(lake, ds, kept, retention_seconds)
    counts = manifest["counts"]
    log.info("published ds=%s: %d designs, %d print files, %d files", ds, counts["designs"],
             counts["print_files"], counts["files"])  # fmt: skip
    return {
        "ds": ds,
        "lake": lake.uri,
        "prefix": batch.prefix,
        "published_uri": lake.uri_of(batch.prefix),
        "batch_id": batch.batch_id,
        "manifest_sha256": batch.manifest_sha256,
        "replaced_batch": None if previous is None or previous.prefix == batch.prefix else previous.prefix,
        "gate_ran": staging.gate_ran,
        "report_uri": lake.uri_of(batch.key(manifest["report"]["key"])),
        "removed_stale_objects": removed,
        "latest": ds if moved else latest_before,
        "latest_moved": moved,
        **{k: counts[k] for k in ("designs", "print_files", "files", "bytes", "orders", "orders_per_warehouse")},
    }


def publish_night(settings: Settings, ds: str, model_version: str | None = None) -> dict[str, Any]:
    """The nightly publish stage (CLI ``publish`` and the DAG's ``publish_batch``) on the settings' lake."""
    return publish_batch(open_lake(settings), ds, model_version=model_version)
