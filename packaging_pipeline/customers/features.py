"""Customer features: per-day partial aggregates that merge into a rolling window.

A night aggregates one arrival partition of accepted clickstream and order lines into rows keyed by
``(customer_key, event_date)`` (``features/daily/ds=...``). Rolling features for a night are over the
daily rows whose *event* date lies in the trailing window, whatever partition they arrived in, so late
orders count. They are kept as a running window state per customer (``features/state/ds=...``), which
each night rolls on from yesterday's, reading only tonight's daily partition and the partials of the
event date leaving the window (the state records which arrival nights hold each event date):

* additive partials (counts, money in micro-units, session counts and durations, bucket counts) add
  tonight's rows and subtract the leaving day's;
* first and last event time, last purchase time and the number of active days cannot be subtracted:
  the state keeps each customer's active days with that day's times, drops the leaving day and takes
  the minimum, maximum and count of what is left (so a last purchase that leaves the window gives way
  to the one before it, or to none);
* preferred device and the shares derive from the additive bucket counts.

A first night, a recomputed older day, a rebuild or another window length merge the whole window's
daily partials into the same state instead; every partial is an integer or a time, so rolling and
merging give bit-identical results.

A session counts once, on the day it started, however many nights its events arrive over: each night
keeps its sessions' state (``features/sessions/ds=...``) and the next night's events continue it,
adding the rest of its duration and its final cart outcome to the start day's partials
(:func:`chain_sessions`). A rebuild continues from the accepted events of the night before the window
instead, and sums to the same window.

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
import functools
import logging
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from packaging_pipeline.core import keys
from packaging_pipeline.core.errors import InputError
from packaging_pipeline.core.formats import read_json, write_json
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

SESSION_PARTIALS = ("sessions", "session_ms", "cart_sessions", "abandoned_cart_sessions")
"""Counted on the day a session starts (:func:`chain_sessions`)."""
SESSION_CARRY_COLUMNS = ("customer_key", "session_id", "first_date", "start_time", "end_time", "has_cart",
                         "has_purchase")  # fmt: skip
"""A session's state after a night: what the next night's events continue."""
CLICKSTREAM_PARTIALS = (
    "events",
    *EVENT_COUNTS,
    *SESSION_PARTIALS,
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


def _clickstream_events(events: DataFrame) -> DataFrame:
    from pyspark.sql import functions as F

    return (
        events.where(F.col("customer_key").isNotNull())
        .withColumn("event_date", F.to_date("event_time"))
        .withColumn("_category", _bucketed("category", CATEGORIES))
        .withColumn("_color", _bucketed("color", PALETTE))
        .withColumn("_device", F.coalesce(_bucketed("device", DEVICES), F.lit(OTHER)))
    )


def clickstream_daily(events: DataFrame, sessions: DataFrame) -> DataFrame:
    """Per (ds, customer_key, event_date) partials of accepted events, sessions from :func:`chain_sessions`.

    Event counts go to the event's own date; a session's count, duration and cart outcome go to the
    day it started, as contributions that add up over the nights it spans.
    """
    from pyspark.sql import functions as F

    key = ["ds", *DAILY_KEY]
    e = _clickstream_events(events)
    counts = e.groupBy(*key).agg(
        F.count(F.lit(1)).cast("long").alias("events"),
        *[_count_if(F.col("event_type") == t).alias(name) for name, t in EVENT_COUNTS.items()],
        *[_count_if(F.col("_category") == b).alias(c) for b, c in zip(CATEGORY_BUCKETS, CATEGORY_COUNT_COLUMNS,
                                                                        strict=True)],
        *[_count_if(F.col("_color") == b).alias(c) for b, c in zip(COLOR_BUCKETS, COLOR_COUNT_COLUMNS, strict=True)],
        *[_count_if(F.col("_device") == b).alias(c) for b, c in zip(DEVICE_BUCKETS, DEVICE_COUNT_COLUMNS, strict=True)],
        F.min("event_time").alias("first_event_time"),
        F.max("event_time").alias("last_event_time"),
    )  # fmt: skip
    per_start_day = sessions.groupBy("ds", "customer_key", F.col("first_date").alias("event_date")).agg(
        *[F.sum(c).cast("long").alias(c) for c in SESSION_PARTIALS]
    )
    joined = counts.join(per_start_day, on=key, how="full_outer")
    return joined.select(
        *key,
        *[F.coalesce(F.col(c), F.lit(0)).cast("long").alias(c) for c in ("events", *EVENT_COUNTS,
                                                                         *CATEGORY_COUNT_COLUMNS,
                                                                         *COLOR_COUNT_COLUMNS,
                                                                         *DEVICE_COUNT_COLUMNS, *SESSION_PARTIALS)],
        "first_event_time",
        "last_event_time",
    )  # fmt: skip


def session_stats(events: DataFrame) -> DataFrame:
    """Per (ds, customer_key, session_id) of the arrival partitions in ``events``: first and last event
    time, and whether the session put something in the cart or bought."""
    from pyspark.sql import functions as F

    return (
        events.where(F.col("customer_key").isNotNull())
        .groupBy("ds", "customer_key", "session_id")
        .agg(
            F.min("event_time").alias("start_time"),
            F.max("event_time").alias("end_time"),
            F.max(F.col("event_type") == "add_to_cart").alias("has_cart"),
            F.max(F.col("event_type") == "purchase").alias("has_purchase"),
        )
    )


def chain_sessions(stats: DataFrame, carried: DataFrame | None = None) -> DataFrame:
    """Each session's state after every night it appears in, and what that night adds to its start day.

    A session (customer_key, session_id) continues from one arrival night to the next; a night without
    its events ends it. ``carried`` is the state the night before the first one of each run of nights
    left (:data:`SESSION_CARRY_COLUMNS`, from the session carry partition). The session's start day is
    the date of its first event as first delivered. A night's contribution is the session's state after
    it minus its state before: the first night counts the session once, later nights add the duration
    and flip the cart outcome (a cart abandoned at midnight and bought after adds -1 abandoned), so the
    sum over nights is the whole session's, whichever night's partials a window holds.
    """
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    rows = stats.withColumn("first_date", F.lit(None).cast("date")).withColumn("_carried", F.lit(False))
    if carried is not None:
        rows = rows.unionByName(carried.select("ds", *SESSION_CARRY_COLUMNS).withColumn("_carried", F.lit(True)))
    session = Window.partitionBy("customer_key", "session_id").orderBy("ds")
    previous_ds = F.lag("ds").over(session)
    rows = rows.withColumn("_new_run", (previous_ds.isNull() | (F.datediff("ds", previous_ds) != 1)).cast("int"))
    rows = rows.withColumn("_run", F.sum("_new_run").over(session.rowsBetween(Window.unboundedPreceding, 0)))
    run = Window.partitionBy("customer_key", "session_id", "_run").orderBy("ds")
    so_far = run.rowsBetween(Window.unboundedPreceding, 0)
    state = rows.select(
        "ds", "customer_key", "session_id", "_carried", "_run",
        F.first(F.coalesce("first_date", F.to_date("start_time"))).over(so_far).alias("first_date"),
        F.min("start_time").over(so_far).alias("start_time"),
        F.max("end_time").over(so_far).alias("end_time"),
        F.max("has_cart").over(so_far).alias("has_cart"),
        F.max("has_purchase").over(so_far).alias("has_purchase"),
    )  # fmt: skip

    def measures(start: Column, end: Column, cart: Column, purchase: Column) -> list[Column]:
        return [
            F.floor((F.unix_micros(end) - F.unix_micros(start)) / 1000).cast("long"),
            cart.cast("long"),
            (cart & ~purchase).cast("long"),
        ]

    now = measures(F.col("start_time"), F.col("end_time"), F.col("has_cart"), F.col("has_purchase"))
    before = measures(*[F.lag(c).over(run) for c in ("start_time", "end_time", "has_cart", "has_purchase")])
    first_night = F.lag("ds").over(run).isNull()
    return state.select(
        "ds", *SESSION_CARRY_COLUMNS, "_carried",
        F.when(first_night, 1).otherwise(0).cast("long").alias("sessions"),
        *[(n - F.coalesce(b, F.lit(0))).alias(name)
          for n, b, name in zip(now, before, ("session_ms", "cart_sessions", "abandoned_cart_sessions"),
                                strict=True)],
    ).where(~F.col("_carried")).drop("_carried")  # fmt: skip


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


def daily_aggregates(events: DataFrame, sessions: DataFrame, lines: DataFrame) -> DataFrame:
    """Clickstream and order partials side by side, zeros where a customer had only one kind of activity."""
    from pyspark.sql import functions as F

    joined = clickstream_daily(events, sessions).join(orders_daily(lines), on=["ds", *DAILY_KEY], how="full_outer")
    return joined.select(
        "ds",
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


def _in_window(daily: DataFrame, start: dt.date, end: dt.date) -> DataFrame:
    from pyspark.sql import functions as F

    return daily.where((F.col("event_date") >= F.lit(start)) & (F.col("event_date") <= F.lit(end)))


def _active_days(rows: DataFrame) -> DataFrame:
    """Per (customer_key, event_date) of ``rows``: the day's first and last event and last purchase."""
    from pyspark.sql import functions as F

    return rows.groupBy("customer_key", "event_date").agg(*[getattr(F, how)(c).alias(c) for c, how in
                                                            TIME_PARTIALS.items()])  # fmt: skip


def _collect_days(days: DataFrame) -> DataFrame:
    from pyspark.sql import functions as F

    return days.groupBy("customer_key").agg(
        F.array_sort(F.collect_list(F.struct("event_date", *TIME_PARTIALS))).alias("days")
    )


def _sums(rows: DataFrame) -> DataFrame:
    from pyspark.sql import functions as F

    return rows.groupBy("customer_key").agg(*[F.sum(c).cast("long").alias(c) for c in SUM_PARTIALS])


def window_state(daily: DataFrame, ds: dt.date, window_days: int = DEFAULT_WINDOW_DAYS) -> DataFrame:
    """Each customer's window as of ``ds`` from the daily partials whose event date lies in it: the sums of
    the additive partials and the active days (with their times), which cannot be subtracted."""
    rows = _in_window(daily, *window_bounds(ds, window_days))
    return _sums(rows).join(_collect_days(_active_days(rows)), on="customer_key")


def roll_window_state(state: DataFrame, entering: DataFrame, leaving: DataFrame, ds: dt.date,
                      window_days: int = DEFAULT_WINDOW_DAYS) -> DataFrame:  # fmt: skip
    """Yesterday's state moved on one night: plus the partials that arrived tonight for the window, minus
    every partial of the event date that leaves it; its active day is dropped. A customer with no day
    left leaves the state. Equals :func:`window_state` over the whole window."""
    from pyspark.sql import functions as F

    start, end = window_bounds(ds, window_days)
    entering = _in_window(entering, start, end)
    signed = (
        state.select("customer_key", *SUM_PARTIALS)
        .unionByName(entering.select("customer_key", *SUM_PARTIALS))
        .unionByName(leaving.select("customer_key", *[(-F.col(c)).alias(c) for c in SUM_PARTIALS]))
    )
    kept = state.select("customer_key", F.explode("days").alias("d")).select("customer_key", "d.*")
    kept = kept.where(F.col("event_date") >= F.lit(start))
    days = kept.unionByName(_active_days(entering))
    return _sums(signed).join(_collect_days(_active_days(days)), on="customer_key")


def window_totals(state: DataFrame) -> DataFrame:
    """The window's totals from its state: sums as kept, times and the active-day count from the days."""
    from pyspark.sql import functions as F

    return state.select(
        "customer_key",
        *SUM_PARTIALS,
        F.array_min("days.first_event_time").alias("first_event_time"),
        F.array_max("days.last_event_time").alias("last_event_time"),
        F.array_max("days.last_purchase_time").alias("last_purchase_time"),
        F.size("days").cast("long").alias("active_days"),
    )


def merge_window(daily: DataFrame, ds: dt.date, window_days: int = DEFAULT_WINDOW_DAYS) -> DataFrame:
    """Sum the daily partials whose event date lies in the window ending on ``ds``: one row per customer."""
    return window_totals(window_state(daily, ds, window_days))


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
    window_update: str  # "rolled" (yesterday's state, tonight, the leaving day) or "merged" (the whole window)
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


def _sessions_before(io: SparkLake, days: list[str], ingested: set[str], from_carry: bool) -> DataFrame | None:
    """The session state each run of consecutive ``days`` continues: the night before's carry partition
    (``from_carry``) or, without one, that night's accepted events, read as its sessions' first night."""
    from pyspark.sql import functions as F

    chosen = set(days)
    before = [(dt.date.fromisoformat(d) - dt.timedelta(days=1)).isoformat() for d in days]
    before = sorted(b for b in before if b not in chosen and b in ingested)
    carried = [b for b in before if from_carry and io.has_parquet(keys.session_carry_prefix(b))]
    frames = []
    if carried:
        frames.append(io.read_partitions(keys.SESSION_CARRY_BASE, [keys.session_carry_prefix(b) for b in carried]))
    if rest := [b for b in before if b not in carried]:
        stats = session_stats(_accepted(io, "clickstream", rest))
        frames.append(stats.withColumn("first_date", F.to_date("start_time")))
    if not frames:
        return None
    return functools.reduce(lambda a, b: a.unionByName(b), [f.select("ds", *SESSION_CARRY_COLUMNS) for f in frames])


def compute_daily_partitions(
    io: SparkLake, days: list[str], earlier: Sequence[str] = (), from_carry: bool = True
) -> list[str]:
    """Aggregate the accepted partitions of ``days`` in one job; replace their daily and session partitions.

    ``earlier`` are the ingested arrival days around them: a line of ``days`` may repeat one of theirs
    (it then counts there), and sessions continue from the night before each run of ``days`` when it
    is among them, from its session carry (``from_carry``, the incremental night) or from its accepted
    events (a rebuild, which reads nothing but accepted data).
    """
    if not days:
        return []
    lines = first_deliveries(_accepted(io, "orders", sorted({*earlier, *days})), days)
    events = _accepted(io, "clickstream", days)
    sessions = chain_sessions(session_stats(events), _sessions_before(io, days, set(earlier), from_carry))
    sessions = sessions.persist()
    try:
        _drop_window_states(io, min(days))
        written = io.replace_partitions(daily_aggregates(events, sessions, lines), keys.DAILY_FEATURES_BASE, days)
        io.replace_partitions(sessions.select("ds", *SESSION_CARRY_COLUMNS), keys.SESSION_CARRY_BASE, days)
    finally:
        sessions.unpersist()
    return written


_STATE_DS = re.compile(r"features/state/ds=(\d{4}-\d{2}-\d{2})/")


def _drop_window_states(io: SparkLake, first: str) -> None:
    """Window states of night ``first`` and later were rolled from daily partials about to change: gone."""
    nights = {m.group(1) for info in io.lake.list(keys.WINDOW_STATE_BASE) if (m := _STATE_DS.match(info.key))}
    for night in sorted(n for n in nights if n >= first):
        io.lake.delete_prefix(keys.window_state_prefix(night))


def _rolled_state(io: SparkLake, night: dt.date, window_days: int) -> _WindowState | None:
    """Tonight's window state rolled from yesterday's, reading tonight's daily partition and the leaving
    day's partials only; None when yesterday has no state (or another window length wrote it)."""
    from pyspark.sql import functions as F

    yesterday = (night - dt.timedelta(days=1)).isoformat()
    arrivals_key = keys.window_arrivals_key(yesterday)
    if not io.lake.exists(arrivals_key) or not io.has_parquet(keys.window_state_prefix(yesterday)):
        return None
    previous = read_json(io.lake, arrivals_key)
    if previous.get("window_days") != window_days:
        return None
    start, _ = window_bounds(night, window_days)
    leaving_day = start - dt.timedelta(days=1)
    entering = io.read_partitions(keys.DAILY_FEATURES_BASE, [keys.daily_features_prefix(night.isoformat())])
    holding = previous["arrivals"].get(leaving_day.isoformat(), [])
    leaving = entering.limit(0)
    if holding:
        leaving = io.read_partitions(keys.DAILY_FEATURES_BASE, [keys.daily_features_prefix(d) for d in holding])
        leaving = leaving.where(F.col("event_date") == F.lit(leaving_day))
    state = roll_window_state(io.read_prefix(keys.window_state_prefix(yesterday)), entering, leaving, night,
                              window_days)  # fmt: skip
    arrivals = {d: list(a) for d, a in previous["arrivals"].items() if d != leaving_day.isoformat()}
    for row in _in_window(entering, start, night).select("event_date").distinct().collect():
        day = row.event_date.isoformat()
        arrivals[day] = sorted({*arrivals.get(day, []), night.isoformat()})
    return _WindowState(state, dict(sorted(arrivals.items())), 1 + len(holding), "rolled")


def _merged_state(daily: DataFrame, night: dt.date, window_days: int, partitions: int) -> _WindowState:
    """The window state from every daily partition of the window (a rebuild, a first night, a recomputed day)."""
    start, _ = window_bounds(night, window_days)
    arrivals: dict[str, list[str]] = {}
    for row in _in_window(daily, start, night).select("ds", "event_date").distinct().collect():
        arrivals.setdefault(row.event_date.isoformat(), []).append(row.ds.isoformat())
    return _WindowState(window_state(daily, night, window_days), {d: sorted(a) for d, a in sorted(arrivals.items())},
                        partitions, "merged")  # fmt: skip


@dataclasses.dataclass
class _WindowState:
    frame: DataFrame
    arrivals: dict[str, list[str]]  # event date -> the arrival nights whose daily partials hold it
    partitions_read: int
    how: str


def stale_daily_days(io: SparkLake, daily: DataFrame, prefixes: list[str], days: Sequence[str] = ()) -> list[str]:
    """Days whose daily partials predate exact money (no ``purchase_micros``) or sessions counted on the
    day they start (no session carry partition): they are recomputed."""
    from pyspark.sql import functions as F

    if "purchase_micros" not in daily.columns:  # the schema came from an old file: look at every file's
        daily = io.read_partitions(keys.DAILY_FEATURES_BASE, prefixes, merge_schema=True)
    stale = daily.where(F.col("purchase_micros").isNull()).select("ds").distinct().collect()
    no_carry = [d for d in days if not io.has_parquet(keys.session_carry_prefix(d))]
    return sorted({*(r.ds.isoformat() for r in stale), *no_carry})


def ingested_days(io: SparkLake, days: list[str]) -> list[str]:
    """The days among ``days`` that ingest has processed (its report exists), even if they were empty."""
    return [d for d in days if io.lake.exists(keys.ingest_report_key(d))]


def lookback_days(io: SparkLake, night: dt.date, window_days: int) -> list[str]:
    """The ingested arrival days a night's aggregate looks at: its window and the day before it, where
    sessions running into the window started and earlier deliveries of its lines may be."""
    start, end = window_bounds(night, window_days)
    return ingested_days(io, _days(start - dt.timedelta(days=1), end))


def run_customer_features(
    io: SparkLake, ds: str, window_days: int = DEFAULT_WINDOW_DAYS, rebuild: bool = False
) -> FeaturesResult:
    """Update ``features/daily/ds=<ds>/`` and write ``features/customer/ds=<ds>/``.

    Incremental (default): aggregate the one new day, plus any ingested day of the window whose
    daily partition is missing; then roll yesterday's window state on (tonight's partials in, the
    leaving day's out), or, when there is no state to roll or older days were recomputed, merge the
    window's daily partitions. Rebuild: aggregate every ingested day of the window from accepted data
    in one job, then merge. Either way the night's state goes to ``features/state/ds=<ds>/``.
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
    lookback = lookback_days(io, night, window_days)
    compute_daily_partitions(io, to_compute, lookback, from_carry=not rebuild)

    window = None if rebuild or to_compute != [ds] else _rolled_state(io, night, window_days)
    if window is None:
        daily_prefixes = [keys.daily_features_prefix(d) for d in ingested]
        daily = io.read_partitions(keys.DAILY_FEATURES_BASE, daily_prefixes)
        stale = stale_daily_days(io, daily, daily_prefixes, ingested)
        if stale:
            log.warning("features ds=%s: recomputing %d daily partition(s) written by an earlier version (before "
                        "exact money or sessions counted on their first day)", ds, len(stale))  # fmt: skip
            compute_daily_partitions(io, stale, lookback)
            to_compute = sorted({*to_compute, *stale})
            daily = io.read_partitions(keys.DAILY_FEATURES_BASE, daily_prefixes)
        window = _merged_state(daily, night, window_days, len(ingested))
    state_prefix = keys.window_state_prefix(ds)
    io.replace_prefix(window.frame.coalesce(1).sortWithinPartitions("customer_key"), state_prefix)
    write_json(io.lake, keys.window_arrivals_key(ds), {"window_days": window_days, "arrivals": window.arrivals})
    features = with_customer_features(window_totals(io.read_prefix(state_prefix)), night, window_days)
    prefix = keys.customer_features_prefix(ds)
    # One sorted file: sorting inside the single partition avoids a range-partitioning pass.
    files = io.replace_prefix(features.coalesce(1).sortWithinPartitions("customer_key"), prefix)
    customers = io.read_prefix(prefix).count()
    log.info("features ds=%s window=%d customers=%d mode=%s window update=%s (%d daily partitions read)", ds,
             window_days, customers, "rebuild" if rebuild else "incremental", window.how,
             window.partitions_read)  # fmt: skip
    return FeaturesResult(
        ds=ds,
        window_days=window_days,
        window_start=start.isoformat(),
        mode="rebuild" if rebuild else "incremental",
        customers=customers,
        daily_partitions_computed=to_compute,
        daily_partitions_read=window.partitions_read,
        window_update=window.how,
        features_prefix=prefix,
        files=files,
    )
