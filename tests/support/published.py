"""Reading (and, for readers' tests, faking) a published night through the contract readers use."""

from __future__ import annotations

import json

from packaging_pipeline.contract import PublishedBatch, read_batch
from packaging_pipeline.core import keys
from packaging_pipeline.core.hashing import sha256_hex
from packaging_pipeline.core.storage import Lake


def batch_of(lake: Lake, ds: str) -> PublishedBatch:
    """The complete batch the night's ``_SUCCESS`` names; the test fails when there is none."""
    batch = read_batch(lake, ds)
    assert batch is not None, f"ds={ds} has no complete batch in {lake.uri}"
    return batch


def manifest_of(lake: Lake, ds: str) -> dict:
    return json.loads(lake.read_bytes(batch_of(lake, ds).manifest_key))


def fake_batch(lake: Lake, ds: str, files: dict[str, bytes], manifest: dict | None = None) -> PublishedBatch:
    """A complete batch holding only ``files`` (keys relative to its folder) and ``manifest``, for its readers."""
    manifest = json.dumps(manifest or {"ds": ds, "files": sorted(files)}, sort_keys=True).encode()
    batch_id = sha256_hex(manifest + b"".join(files[k] for k in sorted(files)))
    batch = PublishedBatch(ds, batch_id, keys.published_batch_prefix(ds, batch_id), sha256_hex(manifest))
    lake.upload_many((data, batch.key(key)) for key, data in files.items())
    lake.write_bytes(batch.manifest_key, manifest)
    lake.write_text(keys.published_success_key(ds), json.dumps(batch.marker()))
    return batch
