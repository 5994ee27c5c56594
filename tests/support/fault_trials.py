"""S3 fault trials: a stage run through the fault proxy, judged against the same stage without faults.

A trial ends in one of two outcomes, or it fails (a bug found):

* ``identical``: the stage succeeded and what it wrote equals the fault-free run, byte for byte;
* ``failed_clearly``: it raised what the CLI turns into a one-paragraph message (no traceback), what
  readers see is still the previous complete state, and a fault-free rerun then gives ``identical``.

Shared by tests/integration/test_s3_faults.py (a few seeds) and bench/fault_trials.py (many).
"""

from __future__ import annotations

import dataclasses
import json
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from packaging_pipeline.cli import storage_error_message
from packaging_pipeline.contract import read_batch
from packaging_pipeline.core import keys
from packaging_pipeline.core.config import S3Options, Settings
from packaging_pipeline.core.errors import PipelineError
from packaging_pipeline.core.storage import Lake, S3Lake
from packaging_pipeline.design.batch import generate_night_designs
from packaging_pipeline.ingest.raw import ingest_partition
from packaging_pipeline.publication.publish import publish_batch
from packaging_pipeline.publication.pull import pull_batch
from tests.conftest import TEST_PSEUDONYM_KEY
from tests.support.fault_proxy import FaultProxy

IDENTICAL, FAILED_CLEARLY = "identical", "failed_clearly"


def flaky_options(proxy: FaultProxy) -> S3Options:
    """Short timeouts so a stall costs about a second, a few attempts as production has."""
    return S3Options(endpoint_url=proxy.url, region_name="us-east-1", connect_timeout_s=1.0, read_timeout_s=1.0,
                     max_attempts=4, retry_mode="standard", max_concurrency=4)  # fmt: skip


def _volatile(key: str) -> tuple[str, ...]:
    """Fields that differ between two correct runs: the lake's own URI; how long the stage took and what
    it found to replace."""
    if key.startswith("reports/ingest/"):
        return ("lake",)
    if key.startswith("designs/staging/") and key.endswith("/plan.json"):
        return ("seconds", "replaced_files")
    return ()


def snapshot(lake: Lake, *prefixes: str) -> dict[str, bytes]:
    """Every object under the prefixes, with the volatile fields of JSON documents left out."""
    out = {}
    for prefix in prefixes:
        for obj in lake.list(prefix):
            data = lake.read_bytes(obj.key)
            if volatile := _volatile(obj.key):
                document = json.loads(data)
                data = json.dumps({k: v for k, v in document.items() if k not in volatile}, sort_keys=True).encode()
            out[obj.key] = data
    return out


def copy_lake(source: dict[str, bytes], lake: Lake) -> None:
    lake.upload_many((data, key) for key, data in source.items())


def is_clear(exc: BaseException) -> bool:
    """What the CLI reports in one paragraph with exit 2, rather than a traceback."""
    if isinstance(exc, PipelineError):
        return True
    return isinstance(exc, Exception) and storage_error_message(exc, None) is not None


@dataclasses.dataclass
class Trial:
    stage: str
    seed: int
    outcome: str
    requests: int
    faults: dict[str, int]
    error: str | None = None


def run_trial(stage: str, seed: int, proxy: FaultProxy, attempt: Callable[[], Any], judge_success: Callable[[], None],
              judge_failure: Callable[[], None], rerun: Callable[[], Any]) -> Trial:  # fmt: skip
    """Run ``attempt`` through the proxy; judge what it left; after a failure, rerun without faults and judge."""
    before = proxy.requests, dict(proxy.injected)
    proxy.enabled = True
    try:
        attempt()
    except Exception as exc:  # judged below: only clear failures pass
        proxy.enabled = False
        if not is_clear(exc):
            raise AssertionError(f"{stage} seed {seed}: a fault ended in a traceback-worthy {type(exc).__name__}: "
                                 f"{exc}") from exc  # fmt: skip
        judge_failure()
        rerun()
        judge_success()
        outcome, error = FAILED_CLEARLY, f"{type(exc).__name__}: {str(exc)[:160]}"
    else:
        proxy.enabled = False
        judge_success()
        outcome, error = IDENTICAL, None
    faults = {k: v - before[1].get(k, 0) for k, v in proxy.injected.items() if v - before[1].get(k, 0)}
    return Trial(stage, seed, outcome, proxy.requests - before[0], faults, error)


# -- the four stages ------------------------------------------------------------------------------
def ingest_trial(proxy: FaultProxy, endpoint: str, bucket: str, raw: dict[str, bytes], reference: dict[str, bytes],
                 ds: str, seed: int) -> Trial:  # fmt: skip
    """Ingest a fresh copy of the raw night through the proxy; ``reference`` is the fault-free ingest's outputs."""
    direct = S3Lake(bucket, f"ingest-{seed}", S3Options(endpoint_url=endpoint, region_name="us-east-1"))
    copy_lake(raw, direct)
    flaky = S3Lake(bucket, f"ingest-{seed}", flaky_options(proxy))
    settings = Settings(lake_uri=flaky.uri, s3=flaky.options, pseudonym_key=TEST_PSEUDONYM_KEY)
    outputs = ("accepted/", "quarantine/", "reports/ingest/")

    def judge_failure() -> None:  # the report, if written, agrees with every output it names
        report_key = keys.ingest_report_key(ds)
        if direct.exists(report_key):
            report = json.loads(direct.read_bytes(report_key))
            for source in report["sources"].values():
                for key in (source["accepted_key"], source["quarantine_key"]):
                    assert key is None or snapshot(direct, key)[key] == reference[key], key

    def judge_success() -> None:
        assert snapshot(direct, *outputs) == reference, "ingest through faults differs from the fault-free run"

    return run_trial("ingest", seed, proxy, lambda: ingest_partition(settings, ds, flaky), judge_success,
                     judge_failure, lambda: ingest_partition(dataclasses.replace(settings, s3=direct.options), ds,
                                                             direct))  # fmt: skip


def design_trial(proxy: FaultProxy, endpoint: str, bucket: str, night: dict[str, bytes], reference: dict[str, bytes],
                 ds: str, seed: int) -> Trial:  # fmt: skip
    """The design stage of a segmented night through the proxy; ``reference`` is the fault-free staging."""
    direct = S3Lake(bucket, f"designs-{seed}", S3Options(endpoint_url=endpoint, region_name="us-east-1"))
    copy_lake(night, direct)
    flaky = S3Lake(bucket, f"designs-{seed}", flaky_options(proxy))

    def run(lake: S3Lake) -> Any:
        settings = Settings(lake_uri=lake.uri, s3=lake.options, pseudonym_key=TEST_PSEUDONYM_KEY)
        return generate_night_designs(settings, ds, designs_per_segment=1, use_model=False, workers=1)

    def judge_success() -> None:
        staged = snapshot(direct, keys.staging_prefix(ds))
        differ = sorted(k for k in staged.keys() | reference.keys() if staged.get(k) != reference.get(k))
        assert not differ, f"staging differs from the fault-free run: {differ[:5]}"

    def judge_failure() -> None:  # staging is complete only with its plan; a partial one is never used
        staged = snapshot(direct, keys.staging_prefix(ds))
        plan = keys.staging_prefix(ds) + "plan.json"
        assert plan not in staged or staged == reference, "a failed design stage left a plan beside partial files"

    return run_trial("designs", seed, proxy, lambda: run(flaky), judge_success, judge_failure, lambda: run(direct))


def publish_trial(proxy: FaultProxy, endpoint: str, bucket: str, staged: dict[str, bytes], reference: dict[str, bytes],
                  ds: str, seed: int) -> Trial:  # fmt: skip
    """Republish a night (model "B") over its published batch (model "A") through the proxy."""
    direct = S3Lake(bucket, f"publish-{seed}", S3Options(endpoint_url=endpoint, region_name="us-east-1"))
    copy_lake(staged, direct)
    first = publish_batch(direct, ds, model_version="A")
    flaky = S3Lake(bucket, f"publish-{seed}", flaky_options(proxy))

    def new_batch() -> dict[str, bytes]:
        batch = read_batch(direct, ds)
        assert batch is not None, "the night has no complete batch"
        return {k[len(batch.prefix):]: v for k, v in snapshot(direct, batch.prefix).items()}

    def judge_success() -> None:
        assert new_batch() == reference, "the republished batch differs from the fault-free publication"
        assert direct.read_text(keys.PUBLISHED_LATEST_KEY).strip() == ds

    def judge_failure() -> None:  # the previous batch is still the night's, whole and verifiable
        batch = read_batch(direct, ds)
        assert batch is not None and batch.batch_id in (first["batch_id"], json.loads(reference["manifest.json"])[
            "batch_id"]), "a failed republish withdrew the night's batch"  # fmt: skip
        warehouse = sorted(first["orders_per_warehouse"])[0]
        with tempfile.TemporaryDirectory(prefix="fault-trial-pull-") as dest:
            pull_batch(direct, ds, warehouse, Path(dest))

    return run_trial("publish", seed, proxy, lambda: publish_batch(flaky, ds, model_version="B"), judge_success,
                     judge_failure, lambda: publish_batch(direct, ds, model_version="B"))  # fmt: skip


def pull_trial(proxy: FaultProxy, bucket: str, prefix: str, warehouse: str, reference: dict[str, bytes],
               dest: Path, ds: str, seed: int) -> Trial:  # fmt: skip
    """Pull one warehouse's share through the proxy; ``reference`` is a fault-free pull's files."""
    flaky = S3Lake(bucket, prefix, flaky_options(proxy))
    direct = S3Lake(bucket, prefix, dataclasses.replace(flaky.options, endpoint_url=proxy_upstream(proxy)))

    def pulled() -> dict[str, bytes]:
        return {p.relative_to(dest).as_posix(): p.read_bytes() for p in dest.rglob("*") if p.is_file()}

    def judge_success() -> None:
        assert pulled() == reference, "the pull through faults differs from the fault-free pull"

    def judge_failure() -> None:  # an incomplete pull never looks complete locally
        manifest = next((k for k in pulled() if k.endswith("/manifest.json")), None)
        assert manifest is None, "a failed pull left manifest.json, the local mark of a complete pull"

    return run_trial("pull", seed, proxy, lambda: pull_batch(flaky, ds, warehouse, dest), judge_success,
                     judge_failure, lambda: pull_batch(direct, ds, warehouse, dest))


def proxy_upstream(proxy: FaultProxy) -> str:
    host, port = proxy.upstream
    return f"http://{host}:{port}"


class FaultBench:
    """One night's fault-free references, built once per stage, and trials of any stage against them.

    ``night`` is a segmented night and ``staged`` the same night with designs staged (key -> bytes);
    ``bucket`` on the S3 server at ``endpoint`` holds a prefix per reference and per trial.
    """

    STAGES = ("ingest", "designs", "publish", "pull")

    def __init__(self, endpoint: str, bucket: str, night: dict[str, bytes], staged: dict[str, bytes], ds: str,
                 work: Path):  # fmt: skip
        self.endpoint, self.bucket, self.ds, self.work = endpoint, bucket, ds, work
        self.night, self.staged = night, staged
        self.raw = {k: v for k, v in night.items() if k.startswith("raw/") and f"ds={ds}/" in k}
        self._references: dict[str, Any] = {}

    def _direct(self, prefix: str) -> S3Lake:
        return S3Lake(self.bucket, prefix, S3Options(endpoint_url=self.endpoint, region_name="us-east-1"))

    def _settings(self, lake: S3Lake) -> Settings:
        return Settings(lake_uri=lake.uri, s3=lake.options, pseudonym_key=TEST_PSEUDONYM_KEY)

    def reference(self, stage: str) -> Any:
        if stage not in self._references:
            lake = self._direct(f"ref-{stage}")
            if stage == "ingest":
                copy_lake(self.raw, lake)
                ingest_partition(self._settings(lake), self.ds, lake)
                self._references[stage] = snapshot(lake, "accepted/", "quarantine/", "reports/ingest/")
            elif stage == "designs":
                copy_lake(self.night, lake)
                generate_night_designs(self._settings(lake), self.ds, designs_per_segment=1, use_model=False,
                                       workers=1)  # fmt: skip
                self._references[stage] = snapshot(lake, keys.staging_prefix(self.ds))
            elif stage == "publish":
                copy_lake(self.staged, lake)
                publish_batch(lake, self.ds, model_version="A")
                second = publish_batch(lake, self.ds, model_version="B")
                prefix = keys.published_batch_prefix(self.ds, second["batch_id"])
                self._references[stage] = {k[len(prefix):]: v for k, v in snapshot(lake, prefix).items()}
            else:
                copy_lake(self.staged, lake)
                published = publish_batch(lake, self.ds)
                warehouse = max(published["orders_per_warehouse"], key=published["orders_per_warehouse"].get)
                dest = self.work / "ref-pull"
                pull_batch(lake, self.ds, warehouse, dest)
                files = {p.relative_to(dest).as_posix(): p.read_bytes() for p in dest.rglob("*") if p.is_file()}
                self._references[stage] = (lake.prefix, warehouse, files)
        return self._references[stage]

    def trial(self, stage: str, proxy: FaultProxy, seed: int) -> Trial:
        reference = self.reference(stage)
        proxy.random.seed(seed)
        if stage == "ingest":
            return ingest_trial(proxy, self.endpoint, self.bucket, self.raw, reference, self.ds, seed)
        if stage == "designs":
            return design_trial(proxy, self.endpoint, self.bucket, self.night, reference, self.ds, seed)
        if stage == "publish":
            return publish_trial(proxy, self.endpoint, self.bucket, self.staged, reference, self.ds, seed)
        prefix, warehouse, files = reference
        return pull_trial(proxy, self.bucket, prefix, warehouse, files, self.work / f"pull-{seed}", self.ds, seed)
