"""The warehouse pull client: one warehouse's share of a published night, verified, with read-only access.

It follows the contract in ``docs/warehouse-contract.md`` and only lists, heads and gets objects
(``s3:ListBucket`` and ``s3:GetObject`` suffice):

1. Resolve the night: a date, or ``latest`` read from ``published/LATEST``.
2. Wait for ``published/ds=<ds>/_SUCCESS`` up to ``wait_seconds`` (refuse at once when 0): without it
   the batch is being published, or its publication failed.
3. Read ``_SUCCESS`` and ``manifest.json``; the marker names the manifest's sha256, so a manifest read
   across a rerun is caught here.
4. Download the warehouse's ``assignments.csv`` and only the print files it references, each into a
   temp file beside its target and renamed into place only when its size and sha256 match the manifest.
   Files already in ``dest`` with the right checksum are kept, so a repeated pull is cheap.
5. Read ``_SUCCESS`` and the manifest again. If they changed (a rerun started meanwhile), start over
   once; a second change is an error.
6. Write ``manifest.json`` into ``dest`` last: locally its presence means "this pull is complete".

Files land under ``dest`` with their lake keys (``dest/published/ds=<ds>/...``), so the
``print_file_key`` column of ``assignments.csv`` is also the local path relative to ``dest``.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import logging
import os
import time
import uuid
from pathlib import Path
from typing import Any

from packaging_pipeline.contract import is_complete
from packaging_pipeline.core import keys
from packaging_pipeline.core.config import Settings
from packaging_pipeline.core.errors import PipelineError
from packaging_pipeline.core.hashing import sha256_hex
from packaging_pipeline.core.keys import (
    published_manifest_key,
    published_prefix,
    published_success_key,
)
from packaging_pipeline.core.storage import Lake, LocalLake, check_key, open_lake
from packaging_pipeline.publication.publish import SCHEMA_VERSION

log = logging.getLogger(__name__)

DEFAULT_POLL_SECONDS = 15.0
_CHUNK = 1024 * 1024


class PullError(PipelineError):
    """The batch cannot be pulled as a whole; ``failures`` lists (key, reason) of every failed file."""

    def __init__(self, message: str, failures: list[tuple[str, str]] | None = None):
        super().__init__(message)
        self.failures = failures or []


class _BatchChanged(Exception):
    """The batch was republished (or began to be) while we were reading it."""


def _storage_errors() -> tuple[type[BaseException], ...]:
    try:
        from botocore.exceptions import BotoCoreError, ClientError
    except ImportError:  # pragma: no cover - boto3 is a core dependency
        return (OSError,)
    return (OSError, ClientError, BotoCoreError)


def _is_missing(exc: BaseException) -> bool:
    if isinstance(exc, FileNotFoundError):
        return True
    response = getattr(exc, "response", None)
    return isinstance(response, dict) and response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound")


def _batch_state(lake: Lake, ds_arg: str) -> tuple[str | None, str | None]:
    """(ds, None) when the batch is complete, else (ds or None, why it cannot be pulled yet)."""
    if ds_arg == "latest":
        try:
            latest = keys.read_latest(lake)
        except keys.LatestUnreadable as exc:
            raise PullError(f"{exc}; ask the publisher") from None
        if latest is None:
            return None, f"no batch published yet: {lake.uri_of(keys.PUBLISHED_LATEST_KEY)} does not exist"
        ds = latest
    else:
        ds = keys.parse_ds(ds_arg).isoformat()
    if is_complete(lake, ds):
        return ds, None
    prefix = published_prefix(ds)
    if not lake.list(prefix):
        return ds, (
            f"no batch published for ds={ds}: nothing under {lake.uri_of(prefix)} (not published yet, or a rerun "
            f"is starting over); retry later or pass --wait SECONDS"
        )
    return ds, (
        f"batch ds={ds} in {lake.uri_of(prefix)} is not complete (no _SUCCESS): it is being published or its "
        f"publication failed; retry later or pass --wait SECONDS"
    )


def _await_batch(lake: Lake, ds_arg: str, deadline: float, poll_seconds: float) -> str:
    waited = False
    while True:
        ds, problem = _batch_state(lake, ds_arg)
        if problem is None and ds is not None:
            return ds
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise PullError(problem + (" (gave up waiting)" if waited else ""))
        log.info("%s; checking again in %.0f s", problem, min(poll_seconds, remaining))
        time.sleep(min(poll_seconds, remaining))
        waited = True


def _read_marked_manifest(lake: Lake, ds: str) -> bytes:
    """The manifest, checked against the sha256 that ``_SUCCESS`` names; _BatchChanged when they disagree."""
    try:
        marker_bytes = lake.read_bytes(published_success_key(ds))
        manifest_bytes = lake.read_bytes(published_manifest_key(ds))
    except _storage_errors() as exc:
        if _is_missing(exc):
            raise _BatchChanged(f"{exc}") from exc
        raise
    try:
        marker = json.loads(marker_bytes) if marker_bytes.strip() else {}
    except ValueError:
        marker = {}
    expected = marker.get("manifest_sha256") if isinstance(marker, dict) else None
    if expected and expected != sha256_hex(manifest_bytes):
        raise _BatchChanged("manifest.json does not match _SUCCESS")
    return manifest_bytes


def _dest_path(dest: Path, key: str) -> Path:
    path = dest.joinpath(*check_key(key).split("/"))
    if dest not in path.resolve().parents:
        raise PullError(f"key {key!r} would be written outside {dest}")
    return path


def _file_digest(path: Path) -> tuple[int, str]:
    digest, size = hashlib.sha256(), 0
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(_CHUNK), b""):
            digest.update(chunk)
            size += len(chunk)
    return size, digest.hexdigest()


def _fetch(lake: Lake, key: str, path: Path, size: int, sha256: str) -> tuple[str, int]:
    """Download ``key`` to ``path`` if it is not there yet; ("downloaded"|"present", bytes) or a failure reason."""
    if path.is_file() and _file_digest(path) == (size, sha256):
        return "present", 0
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / f".tmp-{uuid.uuid4().hex}-{path.name}"
    digest, got = hashlib.sha256(), 0
    try:
        try:
            with lake.open_read(key) as src, open(tmp, "wb") as out:
                for chunk in iter(lambda: src.read(_CHUNK), b""):
                    digest.update(chunk)
                    got += len(chunk)
                    out.write(chunk)
        except _storage_errors() as exc:
            return ("missing from the lake" if _is_missing(exc) else f"download failed: {exc}"), 0
        if (got, digest.hexdigest()) != (size, sha256):
            return f"expected {size} bytes sha256 {sha256}, got {got} bytes sha256 {digest.hexdigest()}", 0
        os.replace(tmp, path)
        return "downloaded", got
    finally:
        tmp.unlink(missing_ok=True)


def _pull_once(lake: Lake, ds: str, warehouse_id: str, dest: Path) -> dict[str, Any]:
    manifest_bytes = _read_marked_manifest(lake, ds)
    manifest = json.loads(manifest_bytes)
    if manifest.get("schema_version") != SCHEMA_VERSION:
        raise PullError(
            f"{lake.uri_of(published_manifest_key(ds))} has schema_version {manifest.get('schema_version')!r}; "
            f"this client "
            f"reads schema_version {SCHEMA_VERSION}: install the packaging-pipeline release that matches the publisher"
        )
    if manifest.get("ds") != ds:
        raise PullError(f"{lake.uri_of(published_manifest_key(ds))} describes ds={manifest.get('ds')!r}, not ds={ds}")
    warehouses = {w["warehouse_id"]: w for w in manifest.get("warehouses", [])}
    if warehouse_id not in warehouses:
        known = ", ".join(sorted(warehouses)) or "none"
        raise PullError(f"warehouse {warehouse_id!r} has no assignments in batch ds={ds}; warehouses in it: {known}")
    listed = {f["key"]: (int(f["size"]), str(f["sha256"])) for f in manifest.get("files", [])}
    prefix = published_prefix(ds)
    local_manifest = _dest_path(dest, published_manifest_key(ds))
    if local_manifest.is_file() and local_manifest.read_bytes() != manifest_bytes:
        local_manifest.unlink()  # an older pull of this night: it is not complete for the new batch

    failures: list[tuple[str, str]] = []
    counts = {"downloaded": 0, "present": 0, "bytes": 0}

    def fetch(key: str) -> bool:
        if not key.startswith(prefix) or key not in listed:
            failures.append((key, "referenced but not listed in manifest.json"))
            return False
        outcome, size = _fetch(lake, key, _dest_path(dest, key), *listed[key])
        if outcome in counts:
            counts[outcome] += 1
            counts["bytes"] += size
            return True
        failures.append((key, outcome))
        return False

    csv_key = warehouses[warehouse_id]["assignments_key"]
    referenced: list[str] = []
    orders = parcels = 0
    if fetch(csv_key):
        rows = list(csv.DictReader(io.StringIO(_dest_path(dest, csv_key).read_text("utf-8"))))
        orders, parcels = len({r.get("order_id") for r in rows}), len(rows)  # one row per parcel
        referenced = sorted({r["print_file_key"] for r in rows if r.get("print_file_key")})
        for key in referenced:
            fetch(key)
    if _read_marked_manifest(lake, ds) != manifest_bytes:
        raise _BatchChanged("manifest.json changed during the pull")
    if failures:
        lines = "\n".join(f"  {key}: {reason}" for key, reason in failures)
        raise PullError(
            f"batch ds={ds} for warehouse {warehouse_id}: {len(failures)} file(s) failed verification against "
            f"{lake.uri_of(published_manifest_key(ds))}:\n{lines}",
            failures,
        )
    LocalLake(dest).write_bytes(published_manifest_key(ds), manifest_bytes)  # temp + rename, like every file here
    return {
        "ds": ds,
        "warehouse_id": warehouse_id,
        "lake": lake.uri,
        "dest": str(dest),
        "batch_id": manifest.get("batch_id"),
        "manifest_sha256": sha256_hex(manifest_bytes),
        "orders": orders,
        "parcels": parcels,
        "print_files": len(referenced),
        "files": [csv_key, *referenced, published_manifest_key(ds)],
        "downloaded": counts["downloaded"],
        "already_present": counts["present"],
        "bytes": counts["bytes"],
    }


def pull_batch(
    lake: Lake | str,
    ds: str,
    warehouse_id: str,
    dest_dir: str | os.PathLike[str],
    wait_seconds: float = 0,
    poll_seconds: float = DEFAULT_POLL_SECONDS,
) -> dict[str, Any]:
    """Download and verify one warehouse's assignments and print files of a complete published night.

    Args:
        lake: a lake, or its URI (S3 settings from the standard ``AWS_*`` environment).
        ds: the night ``YYYY-MM-DD``, or ``latest`` for the one ``published/LATEST`` names.
        warehouse_id: whose assignments to pull, e.g. ``WH-MAD``.
        dest_dir: local folder; files keep their lake keys beneath it.
        wait_seconds: how long to wait for ``_SUCCESS``; 0 refuses an incomplete batch at once.
        poll_seconds: how often to look again while waiting.

    Returns:
        What was pulled: ds, counts, the keys and the manifest's sha256.

    Raises:
        PullError: no batch, no ``_SUCCESS`` in time, unknown warehouse, or files failing their checksum
            (all of them named, in ``failures``).
    """
    if isinstance(lake, str):
        lake = open_lake(Settings.from_env(lake_uri=lake))
    if wait_seconds < 0 or poll_seconds <= 0:
        raise PullError(f"wait must be >= 0 and poll > 0 seconds, got wait={wait_seconds} poll={poll_seconds}")
    dest = Path(dest_dir).resolve()
    dest.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + wait_seconds
    for attempt in (1, 2):
        night = _await_batch(lake, ds, deadline, poll_seconds)
        try:
            result = _pull_once(lake, night, warehouse_id, dest)
        except _BatchChanged as exc:
            if attempt == 2:
                raise PullError(
                    f"batch ds={night} changed twice while being pulled ({exc}); it is being republished: "
                    f"retry later or pass --wait SECONDS"
                ) from None
            log.warning("batch ds=%s changed during the pull (%s); starting over", night, exc)
            continue
        return {**result, "attempts": attempt}
    raise AssertionError("unreachable")  # pragma: no cover
