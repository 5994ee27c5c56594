"""The warehouse pull client: one warehouse's share of a published night, verified, with read-only access.

It follows the contract in ``docs/warehouse-contract.md`` and only lists, heads and gets objects
(``s3:ListBucket`` and ``s3:GetObject`` suffice):

1. Resolve the night: a date, or ``latest`` read from ``published/LATEST``.
2. Wait for ``published/ds=<ds>/_SUCCESS`` up to ``wait_seconds`` (refuse at once when 0): without it
   the night has no complete batch yet. A marker that does not carry the batch's folder and the
   manifest's sha256 is refused: it would turn the checks below off.
3. Read the manifest from the batch folder the marker names and check it against the marker's sha256;
   a mismatch is an edited or corrupt manifest (batch folders are never rewritten), not a republish.
4. Download the warehouse's ``assignments.csv`` and only the print files it references, each into a
   temp file beside its target and renamed into place only when its size and sha256 match the manifest.
   Files already in ``dest`` with the right checksum are kept, so a repeated pull is cheap.
5. Read ``_SUCCESS`` again. If it names another batch (a republish switched meanwhile), start over
   once; a second change is an error.
6. Write ``manifest.json`` last: locally its presence means "this pull is complete".

Keys inside a batch are relative to its folder; files land below ``dest/published/ds=<ds>/`` with those
keys, whatever the batch's folder, so the ``print_file_key`` column of ``assignments.csv`` is also the
local path relative to that folder.
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

from packaging_pipeline.contract import MarkerInvalid, PublishedBatch, read_batch
from packaging_pipeline.core import keys
from packaging_pipeline.core.config import Settings
from packaging_pipeline.core.errors import PipelineError
from packaging_pipeline.core.hashing import sha256_hex
from packaging_pipeline.core.keys import published_prefix, published_success_key
from packaging_pipeline.core.storage import Lake, LocalLake, check_key, is_missing, open_lake
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


def _read_batch(lake: Lake, ds: str) -> PublishedBatch | None:
    """The batch the night's ``_SUCCESS`` names; a marker without the manifest's digest is refused."""
    try:
        return read_batch(lake, ds)
    except MarkerInvalid as exc:
        raise PullError(f"{exc}; refusing to pull a batch that cannot be verified") from None


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
    if _read_batch(lake, ds) is not None:
        return ds, None
    prefix = published_prefix(ds)
    if not lake.list(prefix):
        return ds, (
            f"no batch published for ds={ds}: nothing under {lake.uri_of(prefix)} (not published yet); "
            f"retry later or pass --wait SECONDS"
        )
    return ds, (
        f"batch ds={ds} in {lake.uri_of(prefix)} is not complete (no _SUCCESS): its first publication is "
        f"running or failed; retry later or pass --wait SECONDS"
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


def _read_marked_manifest(lake: Lake, ds: str) -> tuple[PublishedBatch, bytes]:
    """The batch ``_SUCCESS`` names and its manifest, checked against the marker's sha256.

    A batch folder is never rewritten once named, so a manifest that does not match is corrupt or
    edited: an error, not a republish. A marker gone or changed is a republish (_BatchChanged).
    """
    batch = _read_batch(lake, ds)
    if batch is None:
        raise _BatchChanged(f"{lake.uri_of(published_success_key(ds))} disappeared")
    try:
        manifest_bytes = lake.read_bytes(batch.manifest_key)
    except _storage_errors() as exc:
        if is_missing(exc):
            raise PullError(f"{lake.uri_of(batch.manifest_key)}, named by _SUCCESS, is missing; ask the publisher "
                            f"to republish ds={ds}") from None  # fmt: skip
        raise
    if sha256_hex(manifest_bytes) != batch.manifest_sha256:
        raise PullError(
            f"{lake.uri_of(batch.manifest_key)} has sha256 {sha256_hex(manifest_bytes)}, but _SUCCESS names "
            f"{batch.manifest_sha256}: the manifest was edited or is corrupt; nothing was pulled from it"
        )
    return batch, manifest_bytes


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


DOWNLOAD_ATTEMPTS = 3
"""A file whose download breaks off (a reset, a cut body) is fetched again this often; a wrong digest is not."""


def _fetch(lake: Lake, key: str, path: Path, size: int, sha256: str) -> tuple[str, int]:
    """Download ``key`` to ``path`` if it is not there yet; ("downloaded"|"present", bytes) or a failure reason."""
    if path.is_file() and _file_digest(path) == (size, sha256):
        return "present", 0
    path.parent.mkdir(parents=True, exist_ok=True)
    outcome: tuple[str, int] = ("not attempted", 0)
    for attempt in range(1, DOWNLOAD_ATTEMPTS + 1):
        outcome, broke_off = _download(lake, key, path, size, sha256)
        if not broke_off:
            return outcome
        log.info("download of %s broke off (attempt %d of %d): %s", key, attempt, DOWNLOAD_ATTEMPTS, outcome[0])
    return outcome


def _download(lake: Lake, key: str, path: Path, size: int, sha256: str) -> tuple[tuple[str, int], bool]:
    """One download through a temporary file; (outcome, whether it broke off and is worth another try)."""
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
            if is_missing(exc):
                return ("missing from the lake", 0), False
            return (f"download failed: {exc}", 0), True
        if (got, digest.hexdigest()) != (size, sha256):
            return (f"expected {size} bytes sha256 {sha256}, got {got} bytes sha256 {digest.hexdigest()}", 0), False
        os.replace(tmp, path)
        return ("downloaded", got), False
    finally:
        tmp.unlink(missing_ok=True)


def _pull_once(lake: Lake, ds: str, warehouse_id: str, dest: Path) -> dict[str, Any]:
    batch, manifest_bytes = _read_marked_manifest(lake, ds)
    where = lake.uri_of(batch.manifest_key)
    try:
        manifest = json.loads(manifest_bytes)
    except ValueError as exc:
        raise PullError(f"{where} is not JSON ({exc}); ask the publisher to republish ds={ds}") from None
    if not isinstance(manifest, dict):
        raise PullError(f"{where} is not a JSON object; ask the publisher to republish ds={ds}")
    if manifest.get("schema_version") != SCHEMA_VERSION:
        raise PullError(
            f"{where} has schema_version {manifest.get('schema_version')!r}; this client reads schema_version "
            f"{SCHEMA_VERSION}: install the packaging-pipeline release that matches the publisher"
        )
    if manifest.get("ds") != ds or manifest.get("batch_id") != batch.batch_id:
        raise PullError(f"{where} describes ds={manifest.get('ds')!r} batch {manifest.get('batch_id')!r}, not the "
                        f"ds={ds} batch {batch.batch_id} that _SUCCESS names")  # fmt: skip
    # A warehouse without orders tonight (a quiet night, or no orders at all) pulls an empty share: exit 0,
    # the manifest and no assignments, with the warehouses that do have orders named (a typo shows there).
    warehouses = {w["warehouse_id"]: w for w in manifest.get("warehouses", [])}
    listed = {f["key"]: (int(f["size"]), str(f["sha256"])) for f in manifest.get("files", [])}
    local = published_prefix(ds)  # the batch's files land below dest/published/ds=<ds>/, whatever its folder
    local_manifest = _dest_path(dest, local + keys.MANIFEST_NAME)
    if local_manifest.is_file() and local_manifest.read_bytes() != manifest_bytes:
        local_manifest.unlink()  # an older pull of this night: it is not complete for the new batch

    failures: list[tuple[str, str]] = []
    counts = {"downloaded": 0, "present": 0, "bytes": 0}

    def fetch(key: str) -> bool:
        if key not in listed:
            failures.append((key, "referenced but not listed in manifest.json"))
            return False
        try:
            source, target = batch.key(key), _dest_path(dest, local + key)
        except ValueError as exc:  # '..', absolute or empty segments: never followed
            failures.append((key, f"unsafe key: {exc}"))
            return False
        outcome, size = _fetch(lake, source, target, *listed[key])
        if outcome in counts:
            counts[outcome] += 1
            counts["bytes"] += size
            return True
        failures.append((key, outcome))
        return False

    csv_key = warehouses[warehouse_id]["assignments_key"] if warehouse_id in warehouses else None
    referenced: list[str] = []
    orders = parcels = 0
    if csv_key is not None and fetch(csv_key):
        rows = list(csv.DictReader(io.StringIO(_dest_path(dest, local + csv_key).read_text("utf-8"))))
        orders, parcels = len({r.get("order_id") for r in rows}), len(rows)  # one row per parcel
        referenced = sorted({r["print_file_key"] for r in rows if r.get("print_file_key")})
        for key in referenced:
            fetch(key)
    again = _read_batch(lake, ds)
    if again is None or again.batch_id != batch.batch_id:
        raise _BatchChanged("_SUCCESS named another batch by the end of the pull")
    if failures:
        lines = "\n".join(f"  {key}: {reason}" for key, reason in failures)
        raise PullError(
            f"batch ds={ds} for warehouse {warehouse_id}: {len(failures)} file(s) failed verification against "
            f"{where}:\n{lines}",
            failures,
        )
    LocalLake(dest).write_bytes(local + keys.MANIFEST_NAME, manifest_bytes)  # temp + rename, like every file here
    return {
        "ds": ds,
        "warehouse_id": warehouse_id,
        "lake": lake.uri,
        "dest": str(dest),
        "folder": str(dest.joinpath(*local.rstrip("/").split("/"))),
        "batch_id": batch.batch_id,
        "batch_prefix": batch.prefix,
        "manifest_sha256": batch.manifest_sha256,
        "orders": orders,
        "parcels": parcels,
        "print_files": len(referenced),
        "files": [*([csv_key] if csv_key else []), *referenced, keys.MANIFEST_NAME],
        "warehouses_with_orders": sorted(warehouses),
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
        PullError: no batch, no ``_SUCCESS`` in time, or files failing their checksum (all of them named,
            in ``failures``). A warehouse without orders in the batch gets an empty share, not an error.
    """
    if isinstance(lake, str):
        lake = open_lake(Settings.from_env(lake_uri=lake))
    if wait_seconds < 0 or poll_seconds <= 0:
        raise PullError(f"wait must be >= 0 and poll > 0 seconds, got wait={wait_seconds} poll={poll_seconds}")
    dest = Path(dest_dir).resolve()
    if dest.exists() and not dest.is_dir():
        raise PullError(f"--dest {dest} is a file, not a folder: name a folder to pull the batch into")
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
