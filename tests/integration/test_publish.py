"""The warehouse contract: publish a staged night, pull one warehouse's share; on a local lake and on S3.

A recording lake wraps the real one to see the order of writes (``_SUCCESS`` last), to fail the N-th
upload (a crash mid-publish) and to prove the pull client never writes.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import json
import re
import threading

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from packaging_pipeline.core.errors import InputError
from packaging_pipeline.core.formats import read_parquet_prefix
from packaging_pipeline.core.keys import (
    PUBLISHED_LATEST_KEY,
    accepted_prefix,
    published_manifest_key,
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

PREFIX = published_prefix(DS)
STAGING = staging_prefix(DS)
_NAME = r"[A-Za-z0-9][A-Za-z0-9._-]*"
_DIMS = r"\d+(?:\.\d+)?x\d+(?:\.\d+)?x\d+(?:\.\d+)?"
CONTRACT = re.compile(
    rf"^{re.escape(PREFIX)}(?:designs/{_NAME}/(?:dieline-{_NAME}-{_DIMS}\.(?:pdf|svg)|spec\.json|artwork\.png"
    rf"|preview\.png|mockup\.png)|assignments/warehouse={_NAME}/assignments\.csv|sustainability\.parquet"
    rf"|report\.html|manifest\.json|_SUCCESS)$"
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
    return json.loads(lake.read_bytes(published_manifest_key(ds)))


def batch_keys(lake: Lake) -> set[str]:
    return {o.key for o in lake.list(PREFIX)}


def read_csv(data: bytes) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(data.decode("utf-8"))))


def test_published_batch_matches_the_contract(night_lake):
    recorder = RecordingLake(night_lake)
    result = publish_batch(recorder, DS, model_version="7")

    keys = batch_keys(night_lake)
    assert not [k for k in keys if not CONTRACT.match(k)]
    assert night_lake.read_text(PUBLISHED_LATEST_KEY) == DS + "\n" and result["latest_moved"]
    manifest = manifest_of(night_lake)
    listed = {f["key"]: (f["size"], f["sha256"]) for f in manifest["files"]}
    assert set(listed) == keys - {published_manifest_key(DS), published_success_key(DS)}
    for key, (size, digest) in listed.items():
        data = night_lake.read_bytes(key)
        assert (len(data), sha(data)) == (size, digest), key
    marker = json.loads(night_lake.read_bytes(published_success_key(DS)))
    manifest_sha = sha(night_lake.read_bytes(published_manifest_key(DS)))
    assert marker["manifest_sha256"] == manifest_sha == result["manifest_sha256"]

    # Every file, then the manifest, then _SUCCESS, then LATEST; nothing of the batch after _SUCCESS.
    puts = [key for op, key in recorder.events if op == "put"]
    assert puts[-3:] == [published_manifest_key(DS), published_success_key(DS), PUBLISHED_LATEST_KEY]
    assert sorted(puts[:-3]) == sorted(listed)
    assert recorder.events[0] == ("delete", published_success_key(DS))

    assert manifest["schema_version"] == 1 and manifest["ds"] == DS and manifest["model"]["version"] == "7"
    assert manifest["gate"] == {"ran": False, "summary": None, "sustainability_key": None}
    assert manifest["report"] == {"key": PREFIX + "report.html"}
    assert "generated_at" not in manifest  # no wall clock: a rerun of the same staging is byte-identical
    counts = manifest["counts"]
    assert counts["designs"] == len(manifest["designs"]) == result["designs"] > 0
    assert counts["print_files"] == sum(k.endswith(".pdf") for k in listed) == result["print_files"]
    assert counts["files"] == len(listed) and counts["bytes"] == sum(s for s, _ in listed.values())
    for design in manifest["designs"]:
        folder = f"{PREFIX}designs/{design['design_id']}/"
        assert set(design["files"]) == {k for k in listed if k.startswith(folder)}
        assert {folder + n for n in ("spec.json", "artwork.png", "preview.png", "mockup.png")} <= set(design["files"])
        pdfs = {k for k in design["files"] if k.endswith(".pdf")}
        assert {k[:-4] + ".svg" for k in pdfs} <= set(design["files"])
        spec = json.loads(night_lake.read_bytes(folder + "spec.json"))
        assert spec["design_id"] == design["design_id"] and spec["segment_id"] == design["segment_id"]
        assert {p["pdf"] for p in spec["print_files"]} == pdfs and spec["orders"] == design["orders"] > 0
    for key in listed:  # only the manifest's lineage names staging
        if key.endswith((".csv", ".json", ".svg")):
            assert b"designs/staging" not in night_lake.read_bytes(key), key


def test_assignments_carry_no_customer_data_and_name_published_print_files(night_lake, staged):
    objects, customers = staged
    publish_batch(night_lake, DS)
    manifest = manifest_of(night_lake)
    listed = {f["key"] for f in manifest["files"]}
    orders = staged_orders(objects)
    unboxed = {o["order_id"]: o for o in json.loads(objects[STAGING + "plan.json"])["right_sizing"]["unboxed_orders"]}
    assert any(len(parcels) > 1 for parcels in orders.values())  # the sample night splits an order into parcels
    seen: dict[str, str] = {}
    for wh in manifest["warehouses"]:
        data = night_lake.read_bytes(wh["assignments_key"])
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
            key = row["print_file_key"]
            assert key.startswith(f"{PREFIX}designs/{row['design_id']}/dieline-{row['box_code']}-") and key in listed
            assert night_lake.exists(key) and key in wh["print_files"]
            seen[row["order_id"]] = wh["warehouse_id"]
    assert set(seen) == set(orders) | set(unboxed)
    assert manifest["counts"]["orders_per_warehouse"] == {w: list(seen.values()).count(w) for w in set(seen.values())}
    for key in listed:  # no pseudonymous customer key anywhere in the batch's text files
        if key.endswith((".csv", ".json", ".svg")):
            data = night_lake.read_bytes(key)
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


def test_a_rerun_replaces_the_batch_as_a_whole(night_lake, staged):
    first = publish_batch(night_lake, DS)
    first_manifest = manifest_of(night_lake)
    rejected = _gate_rejects_one_design(night_lake, staged[0])
    assert any(f"/designs/{rejected}/" in k for k in batch_keys(night_lake))

    recorder = RecordingLake(night_lake)
    second = publish_batch(recorder, DS)
    assert recorder.events[:2] == [("delete", published_success_key(DS)), ("delete_prefix", PREFIX)]
    assert second["replaced_files"] == first["files"] + 1  # the old files and manifest; _SUCCESS went first
    keys = batch_keys(night_lake)
    assert not [k for k in keys if f"/designs/{rejected}/" in k]  # present only in the first run: gone
    manifest = manifest_of(night_lake)
    assert {f["key"] for f in manifest["files"]} == keys - {published_manifest_key(DS), published_success_key(DS)}
    assert manifest["batch_id"] != first_manifest["batch_id"]
    assert rejected not in {d["design_id"] for d in manifest["designs"]}
    assert manifest["gate"]["ran"] and manifest["gate"]["summary"]["rejected"] == [rejected]
    assert manifest["inputs"]["order_designs"] == STAGING + "order_designs_gated.parquet"
    sustainability = manifest["gate"]["sustainability_key"]
    assert night_lake.read_bytes(sustainability) == night_lake.read_bytes(STAGING + "sustainability.parquet")
    assert f'data-design-id="{rejected}"' not in night_lake.read_text(manifest["report"]["key"])
    for wh in manifest["warehouses"]:
        assert rejected.encode() not in night_lake.read_bytes(wh["assignments_key"])

    # Republishing the same staging changes nothing a reader could see.
    manifest_bytes = night_lake.read_bytes(published_manifest_key(DS))
    third = publish_batch(night_lake, DS)
    assert night_lake.read_bytes(published_manifest_key(DS)) == manifest_bytes
    assert third["batch_id"] == second["batch_id"]


def test_a_failure_mid_publish_never_looks_complete(night_lake, staged, tmp_path):
    warehouse = next(iter(staged_orders(staged[0]).values()))[0]["warehouse_id"]
    with pytest.raises(OSError, match="injected failure"):
        publish_batch(RecordingLake(night_lake, fail_on_put=5), DS)
    assert not night_lake.exists(published_success_key(DS)) and not night_lake.exists(PUBLISHED_LATEST_KEY)
    with pytest.raises(PullError, match="no batch published yet"):
        pull_batch(night_lake, "latest", warehouse, tmp_path / "a")
    with pytest.raises(PullError, match=f"ds={DS}"):
        pull_batch(night_lake, DS, warehouse, tmp_path / "a")

    publish_batch(night_lake, DS)
    with pytest.raises(OSError, match="injected failure"):  # a rerun dies after deleting the old batch
        publish_batch(RecordingLake(night_lake, fail_on_put=3), DS)
    assert not night_lake.exists(published_success_key(DS)) and not night_lake.exists(published_manifest_key(DS))
    # Locally the first files landed; S3's transfer manager cancels in-flight uploads, so none did.
    with pytest.raises(PullError, match=f"is not complete \\(no _SUCCESS\\)|no batch published for ds={DS}"):
        pull_batch(RecordingLake(night_lake, read_only=True), "latest", warehouse, tmp_path / "b")
    assert not (tmp_path / "b" / published_manifest_key(DS)).exists()

    publish_batch(night_lake, DS)  # the next run heals it as a whole
    assert pull_batch(night_lake, "latest", warehouse, tmp_path / "b")["ds"] == DS


def test_pull_fetches_only_the_warehouse_share_and_verifies_it(night_lake, tmp_path):
    publish_batch(night_lake, DS)
    manifest = manifest_of(night_lake)
    listed = {f["key"]: (f["size"], f["sha256"]) for f in manifest["files"]}
    wh = max(manifest["warehouses"], key=lambda w: w["orders"])
    reader = RecordingLake(twin(night_lake), read_only=True)
    dest = tmp_path / "dest"

    result = pull_batch(reader, "latest", wh["warehouse_id"], dest)
    pulled = {p.relative_to(dest).as_posix() for p in dest.rglob("*") if p.is_file()}
    assert pulled == {wh["assignments_key"], published_manifest_key(DS), *wh["print_files"]}
    referenced = {r["print_file_key"] for r in read_csv((dest / wh["assignments_key"]).read_bytes())} - {""}
    assert referenced == set(wh["print_files"]) and len(referenced) < manifest["counts"]["print_files"]
    for key in pulled - {published_manifest_key(DS)}:
        data = (dest / key).read_bytes()
        assert (len(data), sha(data)) == listed[key]
    assert (dest / published_manifest_key(DS)).read_bytes() == night_lake.read_bytes(published_manifest_key(DS))
    assert result["ds"] == DS and result["attempts"] == 1 and result["orders"] == wh["orders"]
    assert result["downloaded"] == 1 + len(referenced) and set(result["files"]) == pulled
    assert not [k for k in reader.reads if "/designs/" in k and k not in referenced]

    again = pull_batch(reader, DS, wh["warehouse_id"], dest)  # everything already there and verified
    assert again["downloaded"] == 0 and again["already_present"] == 1 + len(referenced)
    with pytest.raises(PullError, match="warehouse 'WH-NOPE' has no assignments .*WH-"):
        pull_batch(reader, DS, "WH-NOPE", dest)


def test_a_corrupted_print_file_fails_the_pull_naming_it(night_lake, tmp_path):
    publish_batch(night_lake, DS)
    wh = max(manifest_of(night_lake)["warehouses"], key=lambda w: len(w["print_files"]))
    bad = wh["print_files"][:2]
    for key in bad:
        night_lake.write_bytes(key, night_lake.read_bytes(key) + b"%tampered")
    dest = tmp_path / "dest"
    with pytest.raises(PullError) as failed:
        pull_batch(RecordingLake(night_lake, read_only=True), DS, wh["warehouse_id"], dest)
    assert {key for key, _ in failed.value.failures} == set(bad)
    assert all(key in str(failed.value) for key in bad) and "sha256" in str(failed.value)
    assert not any((dest / key).exists() for key in bad)
    assert not (dest / published_manifest_key(DS)).exists()  # the pull did not complete, and says so locally too
    assert all((dest / key).exists() for key in wh["print_files"] if key not in bad)  # the good ones landed


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
    local = json.loads((tmp_path / "dest" / published_manifest_key(DS)).read_bytes())
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
    assert (tmp_path / "a" / published_manifest_key(DS)).is_file()

    unknown = run_cli("pull", "--lake", uri, "--ds", DS, "--warehouse", "WH-NOPE", "--dest", str(tmp_path / "b"),
                      env=env)  # fmt: skip
    assert unknown.returncode == 2 and "WH-NOPE" in unknown.stderr and wh in unknown.stderr
    missing = run_cli("pull", "--lake", uri, "--ds", "2026-10-01", "--warehouse", wh, "--dest", str(tmp_path / "b"),
                      env=env)  # fmt: skip
    assert missing.returncode == 2 and "no batch published for ds=2026-10-01" in missing.stderr

    key = manifest_of(night_lake)["warehouses"][0]["print_files"][0]
    night_lake.write_bytes(key, b"not the print file")
    corrupt = run_cli("pull", "--lake", uri, "--ds", DS, "--warehouse", wh, "--dest", str(tmp_path / "c"), env=env)
    assert corrupt.returncode == 2 and key in corrupt.stderr and "failed verification" in corrupt.stderr


def test_a_republish_that_dies_never_withdraws_the_last_good_batch(night_lake):
    """While the night LATEST names is republished, LATEST names the newest other complete batch."""
    earlier = (dt.date.fromisoformat(DS) - dt.timedelta(days=3)).isoformat()
    publish_batch(night_lake, DS)
    for key in night_lake.list(published_prefix(DS)):  # an earlier complete batch: the same files, moved
        night_lake.copy(key.key, key.key.replace(f"ds={DS}", f"ds={earlier}"))
    assert night_lake.read_text(PUBLISHED_LATEST_KEY).strip() == DS

    with pytest.raises(OSError, match="injected failure"):
        publish_batch(RecordingLake(night_lake, fail_on_put=4), DS)
    assert not night_lake.exists(published_success_key(DS))
    assert night_lake.read_text(PUBLISHED_LATEST_KEY).strip() == earlier  # still a whole batch to pull
    assert night_lake.exists(published_success_key(earlier))  # (its copied manifest still says DS: not pulled)

    healed = publish_batch(night_lake, DS)
    assert healed["latest_during_publish"] is None and healed["latest"] == DS  # LATEST was not on DS any more
    again = publish_batch(night_lake, DS)
    assert again["latest_during_publish"] == earlier and again["latest"] == DS
    assert night_lake.read_text(PUBLISHED_LATEST_KEY).strip() == DS
