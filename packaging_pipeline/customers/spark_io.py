"""Spark's edge to the lake: building a session, reading lake prefixes, writing partitions.

A ``file://`` lake is read and written in place. An ``s3://`` lake is read through s3a when the
cluster has hadoop-aws (``PACKAGING_SPARK_S3A=1``); otherwise inputs are staged to a scratch
directory with boto3. Outputs are written by the executors into the scratch directory and uploaded
through the lake by the driver: one host needs nothing more, a cluster of several hosts needs the
scratch directory on a filesystem every Spark worker mounts at the same path (``PACKAGING_SPARK_SCRATCH``).
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import tempfile
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from packaging_pipeline.core.config import Settings
from packaging_pipeline.core.errors import PipelineError
from packaging_pipeline.core.formats import dumps
from packaging_pipeline.core.progress import Tracker, track
from packaging_pipeline.core.storage import Lake, LocalLake, S3Lake, open_lake

if TYPE_CHECKING:
    import pyarrow as pa
    from pyspark.sql import DataFrame, SparkSession
    from pyspark.sql.types import StructType

    from packaging_pipeline.core.config import Settings

log = logging.getLogger(__name__)
T = TypeVar("T")

DEFAULT_SHUFFLE_PARTITIONS = 8


def build_session(
    app_name: str,
    master: str | None = None,
    shuffle_partitions: int | None = None,
    conf: Mapping[str, str] | None = None,
) -> SparkSession:
    """A session with the settings every job relies on (UTC dates, Arrow, adaptive execution).

    ``master`` is left to spark-submit when None; the CLI passes ``local[*]``. ``conf`` adds or
    overrides settings (e.g. event logs for benchmarks).
    """
    from pyspark.sql import SparkSession

    partitions = shuffle_partitions or int(
        os.environ.get("PACKAGING_SPARK_SHUFFLE_PARTITIONS", DEFAULT_SHUFFLE_PARTITIONS)
    )
    settings = {
        "spark.sql.session.timeZone": "UTC",
        "spark.sql.shuffle.partitions": str(partitions),
        "spark.sql.adaptive.enabled": "true",
        "spark.sql.execution.arrow.pyspark.enabled": "true",
        "spark.sql.parquet.outputTimestampType": "TIMESTAMP_MICROS",
        "spark.ui.showConsoleProgress": "false",
        **(conf or {}),
    }
    builder = SparkSession.builder.appName(app_name)
    if master:
        builder = builder.master(master)
    for key, value in settings.items():
        builder = builder.config(key, value)
    return builder.getOrCreate()


def spark_schema(schema: pa.Schema) -> StructType:
    """The Spark schema of an Arrow schema, for typed empty frames (an empty night still has columns)."""
    import pyarrow as pa
    from pyspark.sql import types as T

    def convert(t: pa.DataType) -> T.DataType:
        if pa.types.is_string(t):
            return T.StringType()
        if pa.types.is_timestamp(t):
            return T.TimestampType()
        if pa.types.is_date(t):
            return T.DateType()
        if pa.types.is_integer(t):
            return T.LongType()
        if pa.types.is_floating(t):
            return T.DoubleType()
        if pa.types.is_boolean(t):
            return T.BooleanType()
        if pa.types.is_list(t):
            return T.ArrayType(convert(t.value_type))
        raise TypeError(f"no Spark type for Arrow type {t}")

    return T.StructType([T.StructField(f.name, convert(f.type), f.nullable) for f in schema])


class SparkLake:
    """Reads and writes lake prefixes as Spark DataFrames, with the lake's keys."""

    def __init__(self, lake: Lake, spark: SparkSession, scratch: str | os.PathLike[str] | None = None):
        self.lake = lake
        self.spark = spark
        # Executors write outputs into the scratch directory: on a multi-host cluster it must be a shared
        # filesystem mounted at the same path on the driver and every Spark worker (PACKAGING_SPARK_SCRATCH).
        if scratch is None:
            shared = os.environ.get("PACKAGING_SPARK_SCRATCH") or None
            if shared:
                Path(shared).mkdir(parents=True, exist_ok=True)
            scratch = tempfile.mkdtemp(prefix="packaging-spark-", dir=shared)
        self._scratch = Path(scratch)
        self._s3a = isinstance(lake, S3Lake) and os.environ.get("PACKAGING_SPARK_S3A") == "1"

    def close(self) -> None:
        shutil.rmtree(self._scratch, ignore_errors=True)

    def __enter__(self) -> SparkLake:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _location(self, key: str) -> str:
        """Where Spark can read ``key`` (a prefix): in place, through s3a, or a staged local copy."""
        if isinstance(self.lake, LocalLake):
            return str(self.lake.root / key)
        if self._s3a:
            return self.lake.uri_of(key).replace("s3://", "s3a://", 1)
        target = self._scratch / "in" / key
        for info in self.lake.list(key):
            if info.key.endswith(".parquet"):
                path = self._scratch / "in" / info.key
                path.parent.mkdir(parents=True, exist_ok=True)
                with self.lake.open_read(info.key) as src, open(path, "wb") as dst:
                    shutil.copyfileobj(src, dst, 1 << 20)
        return str(target)

    def has_parquet(self, prefix: str) -> bool:
        return any(info.key.endswith(".parquet") for info in self.lake.list(prefix))

    def read_partitions(
        self, base: str, prefixes: Sequence[str], schema: pa.Schema | None = None, merge_schema: bool = False
    ) -> DataFrame:
        """Read ``<base>ds=.../`` partitions into one frame with a ``ds`` column; missing ones are skipped.

        With no data at all, returns an empty frame of ``schema`` (plus ``ds``) so an empty night flows through.
        ``merge_schema`` reads every file's schema (partitions written by different versions), not one file's.
        With ``schema``, a column it has and the files lack (the contract gained it later) reads as null, as
        ``formats.read_parquet_prefix`` does.
        """
        from pyspark.sql import functions as F

        present = [p for p in prefixes if self.has_parquet(p)]
        if not present:
            if schema is None:
                raise ValueError(f"no Parquet under {base} for {len(prefixes)} partitions and no schema given")
            empty = self.spark.createDataFrame([], spark_schema(schema))
            return empty.withColumn("ds", F.lit(None).cast("date"))
        locations = [self._location(p) for p in present]
        reader = self.spark.read.option("basePath", self._location_base(base))
        frame = reader.option("mergeSchema", str(merge_schema).lower()).parquet(*locations)
        if schema is not None:
            for field in spark_schema(schema):
                if field.name not in frame.columns and field.nullable:
                    frame = frame.withColumn(field.name, F.lit(None).cast(field.dataType))
        return frame.withColumn("ds", F.col("ds").cast("date"))

    def _location_base(self, base: str) -> str:
        if isinstance(self.lake, LocalLake):
            return str(self.lake.root / base)
        if self._s3a:
            return self.lake.uri_of(base).replace("s3://", "s3a://", 1)
        return str(self._scratch / "in" / base)

    def read_prefix(self, prefix: str) -> DataFrame:
        return self.spark.read.parquet(self._location(prefix))

    def replace_partitions(self, frame: DataFrame, base: str, partitions: Iterable[str]) -> list[str]:
        """Write ``frame`` (with a ``ds`` column) as one file per ``<base>ds=<ds>/`` and replace those partitions.

        Every partition in ``partitions`` is replaced, including those ``frame`` has no rows for
        (they become empty partitions with a schema-only file), so a rerun never leaves stale rows.
        """
        out = self._scratch / "out" / base.strip("/").replace("/", "_")
        shutil.rmtree(out, ignore_errors=True)
        frame.repartition("ds").write.partitionBy("ds").parquet(str(out))
        written: list[str] = []
        empty_schema = frame.drop("ds").schema
        for ds in partitions:
            key = f"{base}ds={ds}/part-00000.parquet"
            files = sorted((out / f"ds={ds}").glob("part-*.parquet"))
            if not files:
                single = out / f"empty-{ds}"
                self.spark.createDataFrame([], empty_schema).coalesce(1).write.parquet(str(single))
                files = sorted(single.glob("part-*.parquet"))
            self.lake.delete_prefix(f"{base}ds={ds}/")
            for i, path in enumerate(files):
                part_key = key if i == 0 else f"{base}ds={ds}/part-{i:05d}.parquet"
                self.lake.upload_file(path, part_key)
            written.append(f"{base}ds={ds}/")
        shutil.rmtree(out, ignore_errors=True)
        return written

    def replace_prefix(self, frame: DataFrame, prefix: str, files: int = 1) -> list[str]:
        """Write ``frame`` as ``files`` Parquet files under ``prefix``, replacing what was there."""
        out = self._scratch / "out" / prefix.strip("/").replace("/", "_")
        shutil.rmtree(out, ignore_errors=True)
        frame.coalesce(files).write.parquet(str(out))
        self.lake.delete_prefix(prefix)
        keys = []
        for i, path in enumerate(sorted(out.glob("part-*.parquet"))):
            key = f"{prefix}part-{i:05d}.parquet"
            self.lake.upload_file(path, key)
            keys.append(key)
        shutil.rmtree(out, ignore_errors=True)
        return keys


def run_spark_stage(
    settings: Settings,
    app_name: str,
    stage: Callable[[SparkLake], T],
    master: str | None = None,
    spark: SparkSession | None = None,
) -> T:
    """Run ``stage`` against the settings' lake with a session: the given one, else a fresh one stopped after."""
    from pyspark.sql import SparkSession


    # Stop the session afterwards only if this call started it (not one the caller or a test owns).
    own = spark is None and SparkSession.getActiveSession() is None
    session = spark or build_session(app_name, master)
    try:
        with SparkLake(open_lake(settings), session) as io, reporting_spark_tasks(session, app_name):
            return stage(io)
    finally:
        if own:
            session.stop()


@contextlib.contextmanager
def reporting_spark_tasks(session: SparkSession, what: str, poll_s: float = 1.0) -> Iterator[None]:
    """Report a Spark stage run's progress (:mod:`packaging_pipeline.core.progress`): the Spark tasks it
    has completed, polled from the status tracker in a thread (the total is not known up front)."""
    status = session.sparkContext.statusTracker()
    stop = threading.Event()
    counted: dict[int, int] = {}  # Spark stage id -> its completed tasks already reported
    finished = set(status.getJobIdsForGroup())  # jobs whose stages are all counted; earlier ones are not ours

    def sweep(done: Tracker) -> None:
        for job_id in status.getJobIdsForGroup():
            job = None if job_id in finished else status.getJobInfo(job_id)
            if job is None:
                continue
            for stage_id in job.stageIds:
                stage = status.getStageInfo(stage_id)
                if stage is not None and stage.numCompletedTasks > counted.get(stage_id, 0):
                    done.advance(stage.numCompletedTasks - counted.get(stage_id, 0))
                    counted[stage_id] = stage.numCompletedTasks
            if job.status in ("SUCCEEDED", "FAILED"):
                finished.add(job_id)

    def poll(done: Tracker) -> None:
        while not stop.wait(poll_s):
            sweep(done)

    with track(what, None, "Spark tasks") as done:
        thread = threading.Thread(target=poll, args=(done,), name="spark-progress", daemon=True)
        thread.start()
        try:
            yield
        finally:
            stop.set()
            thread.join()
            sweep(done)  # what finished since the last poll


def spark_job_main(app_name: str, lake_uri: str, stage: Callable[[SparkLake], dict]) -> int:
    """The body of a spark-submit entry point: settings from the environment, JSON result on stdout.

    Bad input exits 2 with the message on stderr, so the Airflow task log shows the reason, not a trace.
    """
    import sys

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        settings = Settings.from_env(lake_uri=lake_uri or None)
        result = run_spark_stage(settings, app_name, stage)
    except PipelineError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(dumps(result))
    return 0
