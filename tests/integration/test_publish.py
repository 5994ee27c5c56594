"""The warehouse contract: publish a staged night, pull one warehouse's share; on a local lake and on S3.

A recording lake wraps the real one to see the order of writes (``_SUCCESS`` last, nothing deleted
before it), to fail the N-th upload (a crash mid-publish) and to prove the pull client never writes.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
import threading
from collections.abc import Callable
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from packaging_pipeline.core.errors import InputError
from packaging_pipeline.core.formats import read_parquet_prefix
from packaging_pipeline.core.keys import (
    PUBLISHED_LATEST_KEY,
    accepted_prefix,
    published_batch_prefix,
    published_prefix,
    published_success_key,
    staging_prefix,
)
from packaging_pipeline.core.storage import Lake, LocalLake, S3Lake
from packaging_pipeline.design.batch import generate_night_designs
from packaging_pipeline.publication.publish import ASSIGNMENT_COLUMNS, publish_batch
from packaging_pipeline.publication.pull import PullError, pull_batch
from tests.support.cli import run_cli
from tests.support.lakes import RecordingLake
from tests.support.nights import DS
from tests.support.published import batch_of

PREFIX = published_prefix(DS)  # the night's folder: _SUCCESS and its batch folders
STAGING = staging_prefix(DS)
_NAME = r"[A-Za-z0-9][A-Za-z0-9._-]*"
_DIMS = r"\d+(?:\.\d+)?x\d+(?:\.\d+)?x\d+(?:\.\d+)?"
CONTRACT = re.compile(  # a batch's files, relative to its folder
    rf"^(?:designs/{_NAME}/(?:dieline-{_NAME}-{_DIMS}\.(?:pdf|svg)|spec\.json|artwork\.png"
    rf"|preview\.png|mockup\.png)|assignments/warehouse={_NAME}/assignments\.csv|sustainability\.parquet"
    rf"|report\.html|manifest\.json)$"
)


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def twin(lake: Lake) -> Lake:
    """Another client on the same storage, as a separate process (publisher or warehouse) would have."""
    if isinstance(lake, S3Lake):
        return S3Lake(lake.bucket, lake.prefix, lake.options)
    return LocalLake(lake.root)


@pytest.fixture(scope="module")
def staged(night):
    """The staged night's objects (key -> bytes) and every customer key, which must never be published.

    ``night`` is the segmented night of tests/conftest.py; this fixture overrides conftest's ``staged``.
    """
    lake, settings = night
    generate_night_designs(settings, DS, designs_per_segment=2, use_model=False, workers=1)
    objects = {o.key: lake.read_bytes(o.key) for o in lake.list(STAGING)}
    customers: set[str] = set()
    for day in ("2026-11-01", DS):
        orders = read_parquet_prefix(lake, accepted_prefix("orders", day))
        customers |= {k for k in orders.column("customer_key").to_pylist() if k}
    return objects, customers


@pytest.fixture
def night_lake(lake, staged):
    """A fresh lake (local or S3) holding only the staged night."""
    lake.upload_many((data, key) for key, data in staged[0].items())
    return lake


def staged_orders(objects: dict[str, bytes]) -> dict[str, list[dict]]:
    """Each order's staged parcels (most orders have one), in staging order."""
    table = pq.read_table(io.BytesIO(objects[STAGING + "order_designs.parquet"]))
    out: dict[str, list[dict]] = {}
    for r in table.to_pylist():
        out.setdefault(r["order_id"], []).append(r)
    return out


def manifest_of(lake: Lake, ds: str = DS) -> dict:
    return json.loads(lake.read_bytes(batch_of(lake, ds).manifest_key))


def batch_keys(lake: Lake, ds: str = DS) -> set[str]:
    """The files of the night's complete batch, relative to its folder (manifest included)."""
    prefix = batch_of(lake, ds).prefix
    return {o.key[len(prefix):] for o in lake.list(prefix)}


def local_folder(dest, ds: str = DS):
    """Where a pull puts a night's batch below its ``dest``."""
    return dest.joinpath(*published_prefix(ds).rstrip("/").split("/"))


def read_csv(data: bytes) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(data.decode("utf-8"))))


def test_published_batch_matches_the_contract(night_lake):
    recorder = RecordingLake(night_lake)
    result = publish_batch(recorder, DS, model_version="7")

    batch = batch_of(night_lake, DS)
    assert batch.prefix == f"{PREFIX}batch={batch.batch_id[:16]}/" == result["prefix"]
    assert {o.key for o in night_lake.list(PREFIX)} == {published_success_key(DS)} | {
        batch.key(k) for k in batch_keys(night_lake)}  # fmt: skip
    keys = batch_keys(night_lake)
    assert not [k for k in keys if not CONTRACT.match(k)]
    assert night_lake.read_text(PUBLISHED_LATEST_KEY) == DS + "\n" and result["latest_moved"]
    manifest = manifest_of(night_lake)
    listed = {f["key"]: (f["size"], f["sha256"]) for f in manifest["files"]}
    assert set(listed) == keys - {"manifest.json"}
    for key, (size, digest) in listed.items():
        data = night_lake.read_bytes(batch.key(key))
        assert (len(data), sha(data)) == (size, digest), key
    marker = json.loads(night_lake.read_bytes(published_success_key(DS)))
    manifest_sha = sha(night_lake.read_bytes(batch.manifest_key))
    assert marker == {"ds": DS, "batch_id": manifest["batch_id"], "prefix": batch.prefix,
                      "manifest_sha256": manifest_sha} and manifest_sha == result["manifest_sha256"]  # fmt: skip

    # Every file, then the manifest, then _SUCCESS (the switch), then LATEST; nothing deleted on the way.
    puts = [key for op, key in recorder.events if op == "put"]
    assert puts[-3:] == [batch.manifest_key, published_success_key(DS), PUBLISHED_LATEST_KEY]
    assert sorted(puts[:-3]) == sorted(batch.key(k) for k in listed)
    assert not [e for e in recorder.events if e[0] != "put"]

    assert manifest["schema_version"] == 2 and manifest["ds"] == DS and manifest["model"]["version"] == "7"
    assert manifest["prefix"] == batch.prefix
    assert manifest["gate"] == {"ran": False, "summary": None, "sustainability_key": None}
    assert manifest["report"] == {"key": "report.html"}
    assert "generated_at" not in manifest  # no wall clock: a rerun of the same staging is byte-identical
    counts = manifest["counts"]
    assert counts["designs"] == len(manifest["designs"]) == result["designs"] > 0
    assert counts["print_files"] == sum(k.endswith(".pdf") for k in listed) == result["print_files"]
    assert counts["files"] == len(listed) and counts["bytes"] == sum(s for s, _ in listed.values())
    for design in manifest["designs"]:
        folder = f"designs/{design['design_id']}/"
        assert set(design["files"]) == {k for k in listed if k.startswith(folder)}
        assert {folder + n for n in ("spec.json", "artwork.png", "preview.png", "mockup.png")} <= set(design["files"])
        pdfs = {k for k in design["files"] if k.endswith(".pdf")}
        assert {k[:-4] + ".svg" for k in pdfs} <= set(design["files"])
        spec = json.loads(night_lake.read_bytes(batch.key(folder + "spec.json")))
        assert spec["design_id"] == design["design_id"] and spec["segment_id"] == design["segment_id"]
        assert {p["pdf"] for p in spec["print_files"]} == pdfs and spec["orders"] == design["orders"] > 0
    for key in listed:  # only the manifest's lineage names staging
        if key.endswith((".csv", ".json", ".svg")):
            assert b"designs/staging" not in night_lake.read_bytes(batch.key(key)), key


def test_assignments_carry_no_customer_data_and_name_published_print_files(night_lake, staged):
    objects, customers = staged
    publish_batch(night_lake, DS)
    batch, manifest = batch_of(night_lake, DS), manifest_of(night_lake)
    listed = {f["key"] for f in manifest["files"]}
    orders = staged_orders(objects)
    unboxed = {o["order_id"]: o for o in json.loads(objects[STAGING + "plan.json"])["right_sizing"]["unboxed_orders"]}
    assert any(len(parcels) > 1 for parcels in orders.values())  # the sample night splits an order into parcels
    seen: dict[str, str] = {}
    for wh in manifest["warehouses"]:
        data = night_lake.read_bytes(batch.key(wh["assignments_key"]))
        rows = read_csv(data)
        assert tuple(rows[0]) == ASSIGNMENT_COLUMNS and len(rows) == wh["parcels"]
        assert len({r["order_id"] for r in rows}) == wh["orders"]
        assert b"customer" not in data and not any(c.encode() in data for c in customers)
        staged_rows = {o: list(parcels) for o, parcels in orders.items()}
        for row in rows:
            if not row["box_code"]:  # listed for its warehouse, with why it has no box
                assert unboxed[row["order_id"]]["warehouse_id"] == wh["warehouse_id"]
                assert row["note"].endswith(unboxed[row["order_id"]]["reason"])
                assert not (row["box_code"] or row["design_id"] or row["print_file_key"])
                seen[row["order_id"]] = wh["warehouse_id"]
                continue
            order = staged_rows[row["order_id"]].pop(0)  # the parcels in staging order
            assert order["warehouse_id"] == wh["warehouse_id"] and row["design_id"] == order["design_id"]
            assert row["box_code"] == order["box_code"] and float(row["inner_height_mm"]) == order["inner_height_mm"]
            assert row["parcel"] == f"{order['parcel']}/{order['parcels']}" and row["products"] == order["products"]
            assert re.fullmatch(r"[^;]+x\d+(;[^;]+x\d+)*", row["products"])  # what goes in this box
            key = row["print_file_key"]
            assert key.startswith(f"designs/{row['design_id']}/dieline-{row['box_code']}-") and key in listed
            assert night_lake.exists(batch.key(key)) and key in wh["print_files"]
            seen[row["order_id"]] = wh["warehouse_id"]
    assert set(seen) == set(orders) | set(unboxed)
    assert manifest["counts"]["orders_per_warehouse"] == {w: list(seen.values()).count(w) for w in set(seen.values())}
    for key in listed:  # no pseudonymous customer key anywhere in the batch's text files
        if key.endswith((".csv", ".json", ".svg")):
            data = night_lake.read_bytes(batch.key(key))
            assert not any(c.encode() in data for c in customers), key


def _gate_rejects_one_design(lake: Lake, objects: dict[str, bytes]) -> str:
    """Stage gate outputs: one design of segment 1 rejected, its orders moved to its sibling."""
    table = pq.read_table(io.BytesIO(objects[STAGING + "order_designs.parquet"]))
    rows = table.to_pylist()
    rejected = next(r["design_id"] for r in rows if r["segment_id"] == 1)
    sibling = next(k.split("/")[-2] for k in objects if "/segment=1/" in k and f"/{rejected}/" not in k)
    for r in rows:
        if r["design_id"] == rejected:
            name = r["print_file"].rsplit("/", 1)[-1]
            r["design_id"], r["print_file"] = sibling, f"{STAGING}segment=1/{sibling}/{name}"
            assert STAGING + f"segment=1/{sibling}/{name}" in objects
    buf = io.BytesIO()
    pq.write_table(pa.Table.from_pylist(rows, schema=table.schema), buf)
    lake.write_bytes(STAGING + "order_designs_gated.parquet", buf.getvalue())
    scores = pa.table({"design_id": [rejected, sibling], "box_code": ["x", "x"], "passed": [False, True]})
    buf = io.BytesIO()
    pq.write_table(scores, buf)
    lake.write_bytes(STAGING + "sustainability.parquet", buf.getvalue())
    lake.write_bytes(STAGING + "gate.json", json.dumps({"policy_version": 1, "rejected": [rejected]}).encode())
    return rejected


def test_a_rerun_swaps_in_a_new_batch_and_keeps_the_replaced_one_for_readers(night_lake, staged):
    first = publish_batch(night_lake, DS)
    first_batch = batch_of(night_lake, DS)
    rejected = _gate_rejects_one_design(night_lake, staged[0])
    assert any(f"designs/{rejected}/" in k for k in batch_keys(night_lake))

    recorder = RecordingLake(night_lake)
    second = publish_batch(recorder, DS)
    batch = batch_of(night_lake, DS)
    assert batch.prefix != first_batch.prefix and second["replaced_batch"] == first_batch.prefix
    assert not [e for e in recorder.events if e[0] != "put"]  # nothing deleted: the first batch is kept a while
    assert second["removed_stale_objects"] == 0
    kept = {o.key[len(first_batch.prefix):] for o in night_lake.list(first_batch.prefix)}
    assert kept == {f["key"] for f in manifest_of_batch(night_lake, first_batch)["files"]} | {"manifest.json"}
    keys = batch_keys(night_lake)
    assert not [k for k in keys if f"designs/{rejected}/" in k]  # in the first batch only
    manifest = manifest_of(night_lake)
    assert {f["key"] for f in manifest["files"]} == keys - {"manifest.json"}
    assert manifest["batch_id"] != first["batch_id"]
    assert rejected not in {d["design_id"] for d in manifest["designs"]}
    assert manifest["gate"]["ran"] and manifest["gate"]["summary"]["rejected"] == [rejected]
    assert manifest["inputs"]["order_designs"] == STAGING + "order_designs_gated.parquet"
    sustainability = batch.key(manifest["gate"]["sustainability_key"])
    assert night_lake.read_bytes(sustainability) == night_lake.read_bytes(STAGING + "sustainability.parquet")
    assert f'data-design-id="{rejected}"' not in night_lake.read_text(batch.key(manifest["report"]["key"]))
    for wh in manifest["warehouses"]:
        assert rejected.encode() not in night_lake.read_bytes(batch.key(wh["assignments_key"]))

    # Republishing the same staging changes nothing a reader could see; past the retention the
    # folders the night no longer names go, and only those.
    manifest_bytes = night_lake.read_bytes(batch.manifest_key)
    third = publish_batch(night_lake, DS, retention_seconds=0)
    assert third["batch_id"] == second["batch_id"] and night_lake.read_bytes(batch.manifest_key) == manifest_bytes
    assert third["removed_stale_objects"] == first["files"] + 1 and not night_lake.list(first_batch.prefix)
    assert {o.key for o in night_lake.list(PREFIX)} == {published_success_key(DS)} | {batch.key(k) for k in keys}


def manifest_of_batch(lake: Lake, batch) -> dict:  # noqa: ANN001 - a PublishedBatch
    return json.loads(lake.read_bytes(batch.manifest_key))


def test_a_failure_mid_publish_never_looks_complete(night_lake, staged, tmp_path):
    warehouse = next(iter(staged_orders(staged[0]).values()))[0]["warehouse_id"]
    with pytest.raises(OSError, match="injected failure"):
        publish_batch(RecordingLake(night_lake, fail_on_put=5), DS)
    assert not night_lake.exists(published_success_key(DS)) and not night_lake.exists(PUBLISHED_LATEST_KEY)
    with pytest.raises(PullError, match="no batch published yet"):
        pull_batch(night_lake, "latest", warehouse, tmp_path / "a")
    with pytest.raises(PullError, match=f"ds={DS} .*is not complete \\(no _SUCCESS\\)|no batch published for ds={DS}"):
        pull_batch(night_lake, DS, warehouse, tmp_path / "a")
    publish_batch(night_lake, DS)  # the next run completes it
    assert pull_batch(night_lake, "latest", warehouse, tmp_path / "a")["ds"] == DS


def test_a_failed_republish_leaves_the_previous_batch_pullable(night_lake, staged, tmp_path):
    good = publish_batch(night_lake, DS)
    marker = night_lake.read_bytes(published_success_key(DS))
    _gate_rejects_one_design(night_lake, staged[0])  # the rerun has something new to publish
    # Dying at the first file, mid-way, and writing the manifest.
    for n, dying in enumerate((RecordingLake(night_lake, fail_on_put=1), RecordingLake(night_lake, fail_on_put=4),
                               FailingOnManifest(night_lake))):  # fmt: skip
        with pytest.raises(OSError, match="injected failure"):
            publish_batch(dying, DS)
        assert night_lake.read_bytes(published_success_key(DS)) == marker  # the night still names the good batch
        assert night_lake.read_text(PUBLISHED_LATEST_KEY).strip() == DS
        pulled = pull_batch(RecordingLake(night_lake, read_only=True), "latest", warehouse_of(good),
                            tmp_path / f"dest-{n}")  # fmt: skip
        assert pulled["batch_id"] == good["batch_id"]

    healed = publish_batch(night_lake, DS)
    assert healed["batch_id"] != good["batch_id"] and healed["replaced_batch"] == good["prefix"]
    assert pull_batch(night_lake, "latest", warehouse_of(good), tmp_path / "b")["batch_id"] == healed["batch_id"]


class FailingOnManifest(RecordingLake):
    """Dies writing a batch's manifest: every file of the new batch is up, the switch not made."""

    def write_bytes(self, key, data):
        if key.endswith("/manifest.json"):
            raise OSError(f"injected failure writing {key}")
        super().write_bytes(key, data)


def warehouse_of(result: dict) -> str:
    return sorted(result["orders_per_warehouse"])[0]


def test_two_concurrent_publishers_of_a_night_end_with_one_whole_batch(night_lake, tmp_path):
    barrier, results, errors = threading.Barrier(2), {}, []

    def publisher(version: str) -> None:
        try:
            lake = twin(night_lake)
            barrier.wait(timeout=30)
            # The default retention: it is what keeps one publisher's fresh folder from the other's clean-up
            # (at 0 s either may delete the folder the other is about to switch to).
            results[version] = publish_batch(lake, DS, model_version=version)
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=publisher, args=(v,)) for v in ("a", "b")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert not errors and set(results) == {"a", "b"} and results["a"]["batch_id"] != results["b"]["batch_id"]
    batch = batch_of(night_lake, DS)
    assert batch.batch_id in {r["batch_id"] for r in results.values()}
    manifest = manifest_of(night_lake)
    for f in manifest["files"]:  # the batch the night names is whole
        data = night_lake.read_bytes(batch.key(f["key"]))
        assert (len(data), sha(data)) == (f["size"], f["sha256"]), f["key"]
    assert pull_batch(night_lake, DS, warehouse_of(results["a"]), tmp_path / "dest")["batch_id"] == batch.batch_id


def test_pull_fetches_only_the_warehouse_share_and_verifies_it(night_lake, tmp_path):
    publish_batch(night_lake, DS)
    batch, manifest = batch_of(night_lake, DS), manifest_of(night_lake)
    listed = {f["key"]: (f["size"], f["sha256"]) for f in manifest["files"]}
    wh = max(manifest["warehouses"], key=lambda w: w["orders"])
    reader = RecordingLake(twin(night_lake), read_only=True)
    dest = tmp_path / "dest"
    folder = local_folder(dest)

    result = pull_batch(reader, "latest", wh["warehouse_id"], dest)
    pulled = {p.relative_to(folder).as_posix() for p in dest.rglob("*") if p.is_file()}
    assert pulled == {wh["assignments_key"], "manifest.json", *wh["print_files"]}
    referenced = {r["print_file_key"] for r in read_csv((folder / wh["assignments_key"]).read_bytes())} - {""}
    assert referenced == set(wh["print_files"]) and len(referenced) < manifest["counts"]["print_files"]
    for key in pulled - {"manifest.json"}:
        data = (folder / key).read_bytes()
        assert (len(data), sha(data)) == listed[key]
    assert (folder / "manifest.json").read_bytes() == night_lake.read_bytes(batch.manifest_key)
    assert result["ds"] == DS and result["attempts"] == 1 and result["orders"] == wh["orders"]
    assert result["downloaded"] == 1 + len(referenced) and set(result["files"]) == pulled
    assert result["folder"] == str(folder) and result["batch_prefix"] == batch.prefix
    assert not [k for k in reader.reads if "/designs/" in k and k[len(batch.prefix):] not in referenced]

    again = pull_batch(reader, DS, wh["warehouse_id"], dest)  # everything already there and verified
    assert again["downloaded"] == 0 and again["already_present"] == 1 + len(referenced)
    quiet = pull_batch(reader, DS, "WH-NOPE", tmp_path / "quiet")  # no orders there tonight: an empty share
    assert (quiet["orders"], quiet["files"], quiet["downloaded"]) == (0, ["manifest.json"], 0)
    assert wh["warehouse_id"] in quiet["warehouses_with_orders"]


def test_a_corrupted_print_file_fails_the_pull_naming_it(night_lake, tmp_path):
    publish_batch(night_lake, DS)
    batch = batch_of(night_lake, DS)
    wh = max(manifest_of(night_lake)["warehouses"], key=lambda w: len(w["print_files"]))
    bad = wh["print_files"][:2]
    for key in bad:
        night_lake.write_bytes(batch.key(key), night_lake.read_bytes(batch.key(key)) + b"%tampered")
    dest = tmp_path / "dest"
    folder = local_folder(dest)
    with pytest.raises(PullError) as failed:
        pull_batch(RecordingLake(night_lake, read_only=True), DS, wh["warehouse_id"], dest)
    assert {key for key, _ in failed.value.failures} == set(bad)
    assert all(key in str(failed.value) for key in bad) and "sha256" in str(failed.value)
    assert not any((folder / key).exists() for key in bad)
    assert not (folder / "manifest.json").exists()  # the pull did not complete, and says so locally too
    assert all((folder / key).exists() for key in wh["print_files"] if key not in bad)  # the good ones landed


def _retamper(lake: Lake, manifest_bytes: bytes) -> None:
    """Replace the night's manifest and its marker's digest together, as a hostile writer could."""
    batch = batch_of(lake, DS)
    lake.write_bytes(batch.manifest_key, manifest_bytes)
    marker = {**batch.marker(), "manifest_sha256": sha(manifest_bytes)}
    lake.write_bytes(published_success_key(DS), json.dumps(marker).encode())


def _marker(text: bytes) -> Callable[[Lake, dict], None]:
    return lambda lake, manifest: lake.write_bytes(published_success_key(DS), text)


def _marker_field(**over: str) -> Callable[[Lake, dict], None]:
    return lambda lake, manifest: lake.write_bytes(published_success_key(DS),
                                                   json.dumps({**batch_of(lake, DS).marker(), **over}).encode())


def _manifest(edit: Callable[[dict], Any], retamper: bool = True) -> Callable[[Lake, dict], None]:
    """Edit the manifest; with ``retamper`` the marker's digest is rewritten to match, as a hostile writer could."""

    def tamper(lake: Lake, manifest: dict) -> None:
        edited = edit(manifest)
        data = edited if isinstance(edited, bytes) else json.dumps(manifest if edited is None else edited).encode()
        if retamper:
            _retamper(lake, data)
        else:
            lake.write_bytes(batch_of(lake, DS).manifest_key, data)

    return tamper


def _share_file(change: Callable[[bytes], bytes | None], which: str = "print") -> Callable[[Lake, dict], None]:
    """Change (or, returning None, delete) one file of the pulled warehouse's share."""

    def tamper(lake: Lake, manifest: dict) -> None:
        wh = next(w for w in manifest["warehouses"] if w["warehouse_id"] == TAMPER_WAREHOUSE[0])
        key = batch_of(lake, DS).key(wh["print_files"][0] if which == "print" else wh["assignments_key"])
        changed = change(lake.read_bytes(key))
        lake.delete(key) if changed is None else lake.write_bytes(key, changed)

    return tamper


def _escape(key: str) -> Callable[[dict], None]:
    def edit(manifest: dict) -> None:
        wh = next(w for w in manifest["warehouses"] if w["warehouse_id"] == TAMPER_WAREHOUSE[0])
        wh["assignments_key"] = key
        manifest["files"].append({"key": key, "size": 1, "sha256": "0" * 64})

    return edit


TAMPER_WAREHOUSE: list[str] = []  # the warehouse the tamper table pulls, set once the batch is published
TAMPERED = [  # (kind, tamper(lake, manifest), what the refusal says); "latest" kinds pull --ds latest
    ("an empty _SUCCESS", _marker(b""), "does not name a complete batch|is not a JSON object"),
    ("a garbage _SUCCESS", _marker(b"garbage"), "does not name a complete batch|is not a JSON object"),
    ("an empty JSON _SUCCESS", _marker(b"{}"), "does not name a complete batch"),
    ("a _SUCCESS naming only the night", _marker(b'{"ds": "2026-11-02"}'), "does not name a complete batch"),
    ("a _SUCCESS that is a JSON list", _marker(b"[1, 2]"), "is not a JSON object"),
    ("a _SUCCESS naming a batch that is not there", _marker_field(
        batch_id="0" * 64, prefix=published_batch_prefix(DS, "0" * 64)), "named by _SUCCESS, is missing"),
    ("a _SUCCESS with another manifest digest", _marker_field(manifest_sha256="0" * 64),
     "the manifest was edited or is corrupt"),
    ("an edited manifest", _manifest(lambda m: m["counts"].update(orders=m["counts"]["orders"] + 1), retamper=False),
     "the manifest was edited or is corrupt"),
    ("a deleted manifest", lambda lake, m: lake.delete(batch_of(lake, DS).manifest_key),
     "is missing; ask the publisher"),
    ("a manifest that is not JSON", _manifest(lambda m: b"not json at all"), "is not JSON"),
    ("a manifest that is a JSON list", _manifest(lambda m: [m]), "is not a JSON object"),
    ("a manifest of a newer schema", _manifest(lambda m: m.update(schema_version=99)), "has schema_version 99"),
    ("a manifest of another night", _manifest(lambda m: m.update(ds="2026-11-01")), "describes ds='2026-11-01'"),
    ("a manifest key climbing out of the batch", _manifest(_escape("../../../outside.pdf")), "unsafe key"),
    ("an absolute manifest key", _manifest(_escape("/etc/outside.pdf")), "unsafe key"),
    ("a changed print file", _share_file(lambda data: data + b"%tampered"), "failed verification"),
    ("a truncated print file", _share_file(lambda data: data[: len(data) // 2]), "failed verification"),
    ("a deleted print file", _share_file(lambda data: None), "missing from the lake"),
    ("a deleted assignments file", _share_file(lambda data: None, which="assignments"), "missing from the lake"),
    ("latest: a garbage LATEST", lambda lake, m: lake.write_bytes(PUBLISHED_LATEST_KEY, b"\x00garbage"),
     "ask the publisher"),
    ("latest: LATEST naming a night never published", lambda lake, m: lake.write_bytes(PUBLISHED_LATEST_KEY,
                                                                                       b"2026-10-01"),
     "no batch published for ds=2026-10-01"),
    ("latest: LATEST deleted", lambda lake, m: lake.delete(PUBLISHED_LATEST_KEY), "no batch published yet"),
]  # fmt: skip


@pytest.mark.parametrize(("kind", "tamper", "refusal"), TAMPERED, ids=[t[0] for t in TAMPERED])
def test_each_tampered_batch_is_refused_naming_what_is_wrong(local_lake, staged, tmp_path, kind, tamper, refusal):
    local_lake.upload_many((data, key) for key, data in staged[0].items())
    good = publish_batch(local_lake, DS)
    TAMPER_WAREHOUSE[:] = [max(good["orders_per_warehouse"], key=good["orders_per_warehouse"].get)]
    tamper(local_lake, manifest_of(local_lake))
    dest = tmp_path / "dest"
    with pytest.raises(PullError, match=refusal):
        pull_batch(RecordingLake(local_lake, read_only=True), "latest" if kind.startswith("latest") else DS,
                   TAMPER_WAREHOUSE[0], dest)  # fmt: skip
    assert not (local_folder(dest) / "manifest.json").exists(), "a refused pull never looks complete locally"
    assert not (tmp_path / "outside.pdf").exists() and not [p for p in tmp_path.rglob("*") if p.is_symlink()]


class RerunDuringPull(RecordingLake):
    """Starts a republication of the night the first time the pull reads a print file."""

    def __init__(self, inner: Lake, rerun):
        super().__init__(inner, read_only=True)
        self.rerun, self.reruns = rerun, 0

    def open_read(self, key):
        if key.endswith(".pdf") and not self.reruns:
            self.reruns += 1
            self.rerun()
        return super().open_read(key)


def test_a_rerun_during_the_pull_restarts_it_once(night_lake, tmp_path):
    publish_batch(night_lake, DS)
    wh = manifest_of(night_lake)["warehouses"][0]["warehouse_id"]
    reader = RerunDuringPull(night_lake, lambda: publish_batch(twin(night_lake), DS, model_version="run 2"))
    result = pull_batch(reader, DS, wh, tmp_path / "dest", wait_seconds=60, poll_seconds=0.1)
    assert reader.reruns == 1 and result["attempts"] == 2
    local = json.loads((local_folder(tmp_path / "dest") / "manifest.json").read_bytes())
    assert local == manifest_of(night_lake) and local["model"]["version"] == "run 2"


def test_pull_waits_for_success_or_gives_up(night_lake, staged, tmp_path):
    warehouse = next(iter(staged_orders(staged[0]).values()))[0]["warehouse_id"]
    with pytest.raises(PullError, match="no batch published for ds=2026-10-01.*gave up waiting"):
        pull_batch(night_lake, "2026-10-01", warehouse, tmp_path / "a", wait_seconds=0.3, poll_seconds=0.1)
    publisher = threading.Timer(0.5, lambda: publish_batch(twin(night_lake), DS))
    publisher.start()
    try:
        result = pull_batch(twin(night_lake), DS, warehouse, tmp_path / "b", wait_seconds=60, poll_seconds=0.1)
    finally:
        publisher.join()
    assert result["ds"] == DS and result["orders"] > 0


def test_latest_names_the_newest_complete_night(night_lake, staged, tmp_path):
    older = "2026-11-01"
    night_lake.upload_many((data, k.replace(f"ds={DS}/", f"ds={older}/")) for k, data in staged[0].items())
    publish_batch(night_lake, DS)
    backfill = publish_batch(night_lake, older)
    assert not backfill["latest_moved"] and backfill["latest"] == DS
    assert night_lake.read_text(PUBLISHED_LATEST_KEY).strip() == DS and night_lake.exists(published_success_key(older))
    warehouse = manifest_of(night_lake)["warehouses"][0]["warehouse_id"]
    assert pull_batch(night_lake, "latest", warehouse, tmp_path / "dest")["ds"] == DS
    assert pull_batch(night_lake, older, warehouse, tmp_path / "dest")["ds"] == older


def test_publish_refuses_unfinished_inputs_and_keeps_the_published_batch(local_lake, staged):
    local_lake.upload_many((data, key) for key, data in staged[0].items())
    publish_batch(local_lake, DS)
    before = {o.key: o.size for o in local_lake.list("published/")}
    local_lake.write_bytes(STAGING + "sustainability.parquet", b"half a gate run")
    with pytest.raises(InputError, match="gate of ds=2026-11-02 did not finish"):
        publish_batch(local_lake, DS)
    local_lake.delete(STAGING + "sustainability.parquet")
    local_lake.delete(STAGING + "plan.json")
    with pytest.raises(InputError, match="no complete design staging for ds=2026-11-02.*plan.json"):
        publish_batch(local_lake, DS)
    assert {o.key: o.size for o in local_lake.list("published/")} == before


def test_read_only_pull_on_s3_only_lists_heads_and_gets(s3_lake, s3_endpoint, staged, tmp_path):
    import boto3

    s3_lake.upload_many((data, key) for key, data in staged[0].items())
    publish_batch(s3_lake, DS)
    client = boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1")
    calls: list[str] = []
    client.meta.events.register("before-call.s3", lambda model, **_: calls.append(model.name))
    reader = RecordingLake(S3Lake(s3_lake.bucket, s3_lake.prefix, client=client), read_only=True)
    warehouse = manifest_of(s3_lake)["warehouses"][0]["warehouse_id"]
    assert pull_batch(reader, "latest", warehouse, tmp_path / "dest")["ds"] == DS
    assert calls and set(calls) <= {"GetObject", "HeadObject", "ListObjectsV2"}, set(calls)


def test_cli_publish_and_pull(night_lake, tmp_path):
    env = {"AWS_ENDPOINT_URL": night_lake.options.endpoint_url} if isinstance(night_lake, S3Lake) else {}
    uri = night_lake.uri
    published = run_cli("publish", "--lake", uri, "--ds", DS, "--json", env=env)
    assert published.returncode == 0, published.stderr
    summary = json.loads(published.stdout)
    assert summary["latest"] == DS and summary["gate_ran"] is False
    wh = sorted(summary["orders_per_warehouse"])[0]

    ok = run_cli("pull", "--lake", uri, "--ds", "latest", "--warehouse", wh, "--dest", str(tmp_path / "a"), env=env)
    assert ok.returncode == 0, ok.stderr
    assert f"pulled ds={DS} for warehouse {wh}" in ok.stdout
    assert (local_folder(tmp_path / "a") / "manifest.json").is_file()

    quiet = run_cli("pull", "--lake", uri, "--ds", DS, "--warehouse", "WH-NOPE", "--dest", str(tmp_path / "b"),
                      env=env)  # fmt: skip
    assert quiet.returncode == 0 and "no orders for warehouse WH-NOPE" in quiet.stdout and wh in quiet.stdout
    missing = run_cli("pull", "--lake", uri, "--ds", "2026-10-01", "--warehouse", wh, "--dest", str(tmp_path / "b"),
                      env=env)  # fmt: skip
    assert missing.returncode == 2 and "no batch published for ds=2026-10-01" in missing.stderr

    key = manifest_of(night_lake)["warehouses"][0]["print_files"][0]
    night_lake.write_bytes(batch_of(night_lake, DS).key(key), b"not the print file")
    corrupt = run_cli("pull", "--lake", uri, "--ds", DS, "--warehouse", wh, "--dest", str(tmp_path / "c"), env=env)
    assert corrupt.returncode == 2 and key in corrupt.stderr and "failed verification" in corrupt.stderr
