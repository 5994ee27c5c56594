"""Customer features: per-day partial aggregates that merge into a rolling window.

A night aggregates one arrival partition of accepted clickstream and order lines into rows keyed by
``(customer_key, event_date)`` (``features/daily/ds=...``). Rolling features for a night sum the daily
rows whose *event* date lies in the trailing window, whatever partition they arrived in, so late
orders count. Only the new night's raw data is read, but the merge re-reads the window's daily
partials (about a tenth of the raw events), so its cost still grows with the window: see
docs/benchmarks.md. Every partial is an integer, so merging in any order gives bit-identical results.

Money is exact: each line is its unit price in micro-units (a millionth; ingest quarantines finer
prices) times its quantity, summed as integers, and rounded half up to the cent once, at the end.
An order line counts once, on its first delivery: a line re-delivered on a later night (the orders
contract's line identity) is dropped from the later night's partial. Any earlier delivery that
matters arrived on or after the window's start (less a day of clock skew), so that is as far back
as a night looks for one.

Transforms are DataFrame in, DataFrame out; :func:`run_customer_features` is the job (extract, load).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from packaging_pipeline.core import keys
from packaging_pipeline.core.errors import InputError
from packaging_pipeline.core.schemas import CLICKSTREAM, MONEY_DECIMALS, ORDERS
from packaging_pipeline.core.vocabulary import CATEGORIES, COLOR_FAMILIES, COLOR_FAMILY, DEVICES, OTHER, PALETTE

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame

    from packaging_pipeline.customers.spark_io import SparkLake

log = logging.getLogger(__name__)

DEFAULT_WINDOW_DAYS = 90
MICROS_PER_UNIT = 10**MONEY_DECIMALS
MICROS_PER_CENT = MICROS_PER_UNIT // 100
DAILY_KEY = ("customer_key", "event_date")

CATEGORY_BUCKETS = (*CATEGORIES, OTHER)
COLOR_BUCKETS = (*PALETTE, OTHER)
DEVICE_BUCKETS = (*DEVICES, OTHER)
EVENT_COUNTS = {
    "views": "view",
    "cart_adds": "add_to_cart",
    "cart_removes": "remove_from_cart",
    "wishlists": "wishlist",
    "searches": "search",
    "purchase_events": "purchase",
}


def _bucket_columns(prefix: str, buckets: tuple[str, ...]) -> list[str]:
    return [f"{prefix}_{b}" for b in buckets]


CATEGORY_COUNT_COLUMNS = _bucket_columns("category_events", CATEGORY_BUCKETS)
COLOR_COUNT_COLUMNS = _bucket_columns("color_events", COLOR_BUCKETS)
DEVICE_COUNT_COLUMNS = _bucket_columns("device_events", DEVICE_BUCKETS)

CLICKSTREAM_PARTIALS = (
    "events",
    *EVENT_COUNTS,
    "sessions",
    "session_ms",
    "cart_sessions",
    "abandoned_cart_sessions",
    *CATEGORY_COUNT_COLUMNS,
    *COLOR_COUNT_COLUMNS,
    *DEVICE_COUNT_COLUMNS,
)
ORDER_PARTIALS = (
    "purchase_orders",
    "purchase_lines",
    "purchase_units",
    "purchase_micros",
    "return_lines",
    "return_units",
    "return_micros",
    "invalid_price_lines",
)
SUM_PARTIALS = (*CLICKSTREAM_PARTIALS, *ORDER_PARTIALS)
"""Additive partials of a daily row: a window's value is the sum over its days."""
TIME_PARTIALS = {"first_event_time": "min", "last_event_time": "max", "last_purchase_time": "max"}

CATEGORY_SHARE_COLUMNS = _bucket_columns("category_share", CATEGORY_BUCKETS)
COLOR_SHARE_COLUMNS = _bucket_columns("color_share", COLOR_BUCKETS)
COLOR_FAMILY_BUCKETS = (*COLOR_FAMILIES, OTHER)
COLOR_FAMILY_SHARE_COLUMNS = _bucket_columns("color_family_share", COLOR_FAMILY_BUCKETS)
DEVICE_SHARE_COLUMNS = _bucket_columns("device_share", DEVICE_BUCKETS)


# --------------------------------------------------------------------------------------------------
# Daily partial aggregates


def _bucketed(column: str, vocabulary: tuple[str, ...]) -> Column:
    """The value if it is in the vocabulary, ``other`` if it is some other value, null if null."""
    from pyspark.sql import functions as F

    value = F.lower(F.trim(F.col(column)))
    return F.when(value.isNull() | (value == ""), F.lit(None)).when(value.isin(*vocabulary), value).otherwise(OTHER)


def _count_if(condition: Column) -> Column:
    from pyspark.sql import functions as F

    return F.sum(F.when(condition, 1).otherwise(0)).cast("long")


def clickstream_daily(events: DataFrame) -> DataFrame:
    """Per (customer_key, event_date) partials of one or more partitions of accepted events.

    Sessions are counted per event date (a session spanning midnight counts on both days), which keeps
    every partial additive. Grouping keeps any extra leading key columns given in ``events`` (e.g. ``ds``).
    """
    from pyspark.sql import functions as F

    extra = [c for c in ("ds",) if c in events.columns]
    e = (
        events.where(F.col("customer_key").isNotNull())
        .withColumn("event_date", F.to_date("event_time"))
        .withColumn("_category", _bucketed("category", CATEGORIES))
        .withColumn("_color", _bucketed("color", PALETTE))
        .withColumn("_device", F.coalesce(_bucketed("device", DEVICES), F.lit(OTHER)))
    )
    per_session = e.groupBy(*extra, *DAILY_KEY, "session_id").agg(
        F.count(F.lit(1)).alias("events"),
        *[_count_if(F.col("event_type") == t).alias(name) for name, t in EVENT_COUNTS.items()],
        (F.unix_micros(F.max("event_time")) - F.unix_micros(F.min("event_time"))).alias("session_us"),
        F.min("event_time").alias("first_event_time"),
        F.max("event_time").alias("last_event_time"),
        *[
            _count_if(F.col("_category") == b).alias(c)
            for b, c in zip(CATEGORY_BUCKETS, CATEGORY_COUNT_COLUMNS, strict=True)
        ],
        *[_count_if(F.col("_color") == b).alias(c) for b, c in zip(COLOR_BUCKETS, COLOR_COUNT_COLUMNS, strict=True)],
        *[_count_if(F.col("_device") == b).alias(c) for b, c in zip(DEVICE_BUCKETS, DEVICE_COUNT_COLUMNS, strict=True)],
    )
    has_cart = F.col("cart_adds") > 0
    summed = [
        "events",
        *EVENT_COUNTS,
        *CATEGORY_COUNT_COLUMNS,
        *COLOR_COUNT_COLUMNS,
        *DEVICE_COUNT_COLUMNS,
    ]
    return per_session.groupBy(*extra, *DAILY_KEY).agg(
        *[F.sum(c).cast("long").alias(c) for c in summed],
        F.count(F.lit(1)).alias("sessions"),
        F.sum(F.floor(F.col("session_us") / 1000)).cast("long").alias("session_ms"),
        _count_if(has_cart).alias("cart_sessions"),
        _count_if(has_cart & (F.col("purchase_events") == 0)).alias("abandoned_cart_sessions"),
        F.min("first_event_time").alias("first_event_time"),
        F.max("last_event_time").alias("last_event_time"),
    )


def orders_daily(lines: DataFrame) -> DataFrame:
    """Per (customer_key, event_date) partials of accepted order lines.

    Guest lines (no customer_key) never enter customer features. A negative quantity is a return,
    not a purchase. A non-finite unit price that slipped past ingest is counted in
    ``invalid_price_lines`` and kept out of money and purchase counts. Money is in micro-units.
    """
    from pyspark.sql import functions as F

    extra = [c for c in ("ds",) if c in lines.columns]
    price = F.col("unit_price").cast("double")
    finite = price.isNotNull() & ~F.isnan(price) & (F.abs(price) != float("inf"))
    micros = F.when(finite, F.round(price * MICROS_PER_UNIT).cast("long") * F.col("quantity"))
    purchase = finite & (F.col("quantity") > 0)
    ret = finite & (F.col("quantity") < 0)
    return (
        lines.where(F.col("customer_key").isNotNull())
        .withColumn("event_date", F.to_date("order_time"))
        .groupBy(*extra, *DAILY_KEY)
        .agg(
            F.count_distinct(F.when(purchase, F.col("order_id"))).cast("long").alias("purchase_orders"),
            _count_if(purchase).alias("purchase_lines"),
            F.coalesce(F.sum(F.when(purchase, F.col("quantity"))), F.lit(0)).cast("long").alias("purchase_units"),
            F.coalesce(F.sum(F.when(purchase, micros)), F.lit(0)).cast("long").alias("purchase_micros"),
            _count_if(ret).alias("return_lines"),
            F.coalesce(F.sum(F.when(ret, -F.col("quantity"))), F.lit(0)).cast("long").alias("return_units"),
            F.coalesce(F.sum(F.when(ret, -micros)), F.lit(0)).cast("long").alias("return_micros"),
            _count_if(~finite).alias("invalid_price_lines"),
            F.max(F.when(purchase, F.col("order_time"))).alias("last_purchase_time"),
        )
    )


def _line_identity() -> Column:
    """The orders contract's line identity (``schemas.order_line_identity``) as a Spark column."""
    from pyspark.sql import functions as F

    side = F.when(F.col("quantity") < 0, F.lit("return")).otherwise(F.lit("sale"))
    by_product = F.concat(F.lit("product:"), F.col("product_id"), F.lit(":"), side)
    return F.when(F.col("line_id").isNotNull(), F.concat(F.lit("line:"), F.col("line_id"))).otherwise(by_product)


def first_deliveries(lines: DataFrame, days: list[str]) -> DataFrame:
    """The lines of arrival partitions ``days`` that arrived there first, among every partition in ``lines``.

    ``lines`` holds the partitions of ``days`` and any earlier ones a re-delivery could repeat.
    """
    from pyspark.sql import functions as F

    lines = lines.withColumn("_line", _line_identity())
    first = lines.groupBy("order_id", "_line").agg(F.min("ds").alias("_first_ds"))
    wanted = lines.where(F.col("ds").isin([dt.date.fromisoformat(d) for d in days]))
    return wanted.join(first, on=["order_id", "_line"]).where(F.col("ds") == F.col("_first_ds")).drop(
        "_line", "_first_ds"
    )


def daily_aggregates(events: DataFrame, lines: DataFrame) -> DataFrame:
    """Clickstream and order partials side by side, zeros where a customer had only one kind of activity."""
    from pyspark.sql import functions as F

    extra = [c for c in ("ds",) if c in events.columns and c in lines.columns]
    joined = clickstream_daily(events).join(orders_daily(lines), on=[*extra, *DAILY_KEY], how="full_outer")
    return joined.select(
        *extra,
        *DAILY_KEY,
        *[F.coalesce(F.col(c), F.lit(0)).cast("long").alias(c) for c in SUM_PARTIALS],
        *[F.col(c) for c in TIME_PARTIALS],
    )


# --------------------------------------------------------------------------------------------------
# Rolling window features


def window_bounds(ds: dt.date, window_days: int) -> tuple[dt.date, dt.date]:
    """First and last event date of the trailing window that ends on ``ds`` (inclusive)."""
    if window_days < 1:
        raise InputError(f"window_days={window_days}: the feature window needs at least one day")
    return ds - dt.timedelta(days=window_days - 1), ds


def _share(numerator: str, total: Column) -> Column:
    from pyspark.sql import functions as F

    return F.when(total > 0, F.col(numerator) / total).otherwise(F.lit(0.0))


def _to_cents(micros: str, divisor: str | None = None) -> Column:
    """``micros`` (divided by ``divisor``) rounded half up to the cent, in currency units: integer arithmetic
    (``div``) throughout, so every engine gives the same cent. Money partials are never negative."""
    from pyspark.sql import functions as F

    per = f"({divisor}) * {MICROS_PER_CENT}" if divisor else str(MICROS_PER_CENT)
    return F.expr(f"(2 * {micros} + {per}) div (2 * {per})") / F.lit(100.0)


def _total(columns: list[str] | tuple[str, ...]) -> Column:
    from pyspark.sql import functions as F

    return sum((F.col(c) for c in columns), F.lit(0))


def merge_window(daily: DataFrame, ds: dt.date, window_days: int = DEFAULT_WINDOW_DAYS) -> DataFrame:
    """Sum the daily partials whose event date lies in the window ending on ``ds``: one row per customer."""
    from pyspark.sql import functions as F

    start, end = window_bounds(ds, window_days)
    in_window = daily.where((F.col("event_date") >= F.lit(start)) & (F.col("event_date") <= F.lit(end)))
    return in_window.groupBy("customer_key").agg(
        *[F.sum(c).cast("long").alias(c) for c in SUM_PARTIALS],
        *[getattr(F, how)(c).alias(c) for c, how in TIME_PARTIALS.items()],
        F.count_distinct("event_date").cast("long").alias("active_days"),
    )


def with_customer_features(totals: DataFrame, ds: dt.date, window_days: int = DEFAULT_WINDOW_DAYS) -> DataFrame:
    """Derive the customer features analysts and segmentation read from the window's totals."""
    from pyspark.sql import functions as F

    families: dict[str, list[str]] = {f: [] for f in COLOR_FAMILY_BUCKETS}
    for color, column in zip(COLOR_BUCKETS, COLOR_COUNT_COLUMNS, strict=True):
        families[COLOR_FAMILY.get(color, OTHER)].append(column)
    category_total = _total(CATEGORY_COUNT_COLUMNS)
    color_total = _total(COLOR_COUNT_COLUMNS)
    device_total = _total(DEVICE_COUNT_COLUMNS)
    # The most used device; ties go to the earlier device in the vocabulary.
    device_ranked = F.array(
        *[
            F.struct(F.col(c).alias("n"), F.lit(-i).alias("order"), F.lit(d).alias("device"))
            for i, (d, c) in enumerate(zip(DEVICE_BUCKETS, DEVICE_COUNT_COLUMNS, strict=True))
        ]
    )
    frequency = F.col("purchase_orders")
    start, _ = window_bounds(ds, window_days)
    return totals.select(
        "customer_key",
        F.lit(ds).alias("ds"),
        F.lit(start).alias("window_start"),
        F.lit(window_days).alias("window_days"),
        F.datediff(F.lit(ds), F.to_date("last_purchase_time")).alias("recency_days"),
        frequency.alias("frequency"),
        _to_cents("purchase_micros").alias("monetary"),
        F.when(frequency > 0, _to_cents("purchase_micros", "frequency")).alias("avg_order_value"),
        F.col("purchase_lines"),
        F.col("purchase_units"),
        F.col("return_lines"),
        F.col("return_units"),
        _to_cents("return_micros").alias("returned_value"),
        F.col("invalid_price_lines"),
        F.col("sessions"),
        F.when(F.col("sessions") > 0, F.col("session_ms") / F.col("sessions") / F.lit(60_000.0)).alias(
            "avg_session_minutes"
        ),
        F.col("events"),
        F.col("views"),
        F.col("cart_adds"),
        F.col("searches"),
        F.col("wishlists"),
        F.when(F.col("cart_sessions") > 0, F.col("abandoned_cart_sessions") / F.col("cart_sessions")).alias(
            "cart_abandon_rate"
        ),
        F.col("active_days"),
        *[
            _share(c, category_total).alias(s)
            for c, s in zip(CATEGORY_COUNT_COLUMNS, CATEGORY_SHARE_COLUMNS, strict=True)
        ],
        *[_share(c, color_total).alias(s) for c, s in zip(COLOR_COUNT_COLUMNS, COLOR_SHARE_COLUMNS, strict=True)],
        *[
            F.when(color_total > 0, _total(cols) / color_total).otherwise(F.lit(0.0)).alias(s)
            for (fam, cols), s in zip(families.items(), COLOR_FAMILY_SHARE_COLUMNS, strict=True)
        ],
        *[_share(c, device_total).alias(s) for c, s in zip(DEVICE_COUNT_COLUMNS, DEVICE_SHARE_COLUMNS, strict=True)],
        F.when(device_total > 0, F.array_max(device_ranked)["device"]).alias("preferred_device"),
        F.col("first_event_time"),
        F.col("last_event_time"),
        F.col("last_purchase_time"),
    )


def customer_features(daily: DataFrame, ds: dt.date, window_days: int = DEFAULT_WINDOW_DAYS) -> DataFrame:
    """Rolling customer features for ``ds`` from daily partials (any partitions; the window filters)."""
    return merge_window(daily, ds, window_days).transform(lambda t: with_customer_features(t, ds, window_days))


# --------------------------------------------------------------------------------------------------
# The job: extract -> transform -> load


@dataclasses.dataclass
class FeaturesResult:
    ds: str
    window_days: int
    window_start: str
    mode: str  # "incremental" or "rebuild"
    customers: int
    daily_partitions_computed: list[str]
    daily_partitions_read: int
    features_prefix: str
    files: list[str]

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _days(start: dt.date, end: dt.date) -> list[str]:
    return [(start + dt.timedelta(days=i)).isoformat() for i in range((end - start).days + 1)]


def _accepted(io: SparkLake, source: str, days: list[str]) -> DataFrame:
    contract = {"clickstream": CLICKSTREAM, "orders": ORDERS}[source]
    base = keys.accepted_base(source)
    return io.read_partitions(base, [keys.accepted_prefix(source, d) for d in days], contract.accepted_schema)


def compute_daily_partitions(io: SparkLake, days: list[str], earlier: Sequence[str] = ()) -> list[str]:
    """Aggregate the accepted partitions of ``days`` in one job and replace their daily partitions.

    ``earlier`` are the arrival days whose lines a line of ``days`` may repeat (it then counts there).
    """
    if not days:
        return []
    lines = first_deliveries(_accepted(io, "orders", sorted({*earlier, *days})), days)
    daily = daily_aggregates(_accepted(io, "clickstream", days), lines)
    return io.replace_partitions(daily, keys.DAILY_FEATURES_BASE, days)


def stale_daily_days(io: SparkLake, daily: DataFrame, prefixes: list[str]) -> list[str]:
    """Days whose daily partials predate exact money (no ``purchase_micros``): they are recomputed."""
    from pyspark.sql import functions as F

    if "purchase_micros" not in daily.columns:  # the schema came from an old file: look at every file's
        daily = io.read_partitions(keys.DAILY_FEATURES_BASE, prefixes, merge_schema=True)
    stale = daily.where(F.col("purchase_micros").isNull()).select("ds").distinct().collect()
    return sorted(r.ds.isoformat() for r in stale)


def ingested_days(io: SparkLake, days: list[str]) -> list[str]:
    """The days among ``days`` that ingest has processed (its report exists), even if they were empty."""
    return [d for d in days if io.lake.exists(keys.ingest_report_key(d))]


def run_customer_features(
    io: SparkLake, ds: str, window_days: int = DEFAULT_WINDOW_DAYS, rebuild: bool = False
) -> FeaturesResult:
    """Update ``features/daily/ds=<ds>/`` and write ``features/customer/ds=<ds>/``.

    Incremental (default): aggregate the one new day, plus any ingested day of the window whose
    daily partition is missing, then merge the window's daily partitions. Rebuild: aggregate every
    ingested day of the window from accepted data in one job first.
    """
    night = keys.parse_ds(ds)
    start, end = window_bounds(night, window_days)
    window = _days(start, end)
    if not io.lake.exists(keys.ingest_report_key(ds)):
        raise InputError(
            f"features ds={ds}: the night has not been ingested (no {keys.ingest_report_key(ds)}); "
            f"run `packaging-pipeline ingest --ds {ds}` first"
        )
    ingested = ingested_days(io, window)
    if rebuild:
        to_compute = ingested
    else:
        have_daily = {d for d in ingested if io.has_parquet(keys.daily_features_prefix(d))}
        to_compute = [d for d in ingested if d == ds or d not in have_daily]
    if len(to_compute) > 1 or rebuild:
        log.info("features ds=%s: aggregating %d day(s) from accepted data", ds, len(to_compute))
    lookback = ingested_days(io, _days(start - dt.timedelta(days=1), end))
    compute_daily_partitions(io, to_compute, lookback)

    daily_prefixes = [keys.daily_features_prefix(d) for d in ingested]
    daily = io.read_partitions(keys.DAILY_FEATURES_BASE, daily_prefixes)
    stale = stale_daily_days(io, daily, daily_prefixes)
    if stale:
        log.warning("features ds=%s: recomputing %d daily partition(s) written before exact money", ds, len(stale))
        compute_daily_partitions(io, stale, lookback)
        to_compute = sorted({*to_compute, *stale})
        daily = io.read_partitions(keys.DAILY_FEATURES_BASE, daily_prefixes)
    features = customer_features(daily.drop("ds"), night, window_days)
    prefix = keys.customer_features_prefix(ds)
    # One sorted file: sorting inside the single partition avoids a range-partitioning pass.
    files = io.replace_prefix(features.coalesce(1).sortWithinPartitions("customer_key"), prefix)
    customers = io.read_prefix(prefix).count()
    log.info(
        "features ds=%s window=%d customers=%d mode=%s",
        ds,
        window_days,
        customers,
        "rebuild" if rebuild else "incremental",
    )
    return FeaturesResult(
        ds=ds,
        window_days=window_days,
        window_start=start.isoformat(),
        mode="rebuild" if rebuild else "incremental",
        customers=customers,
        daily_partitions_computed=to_compute,
        daily_partitions_read=len(ingested),
        features_prefix=prefix,
        files=files,
    )
