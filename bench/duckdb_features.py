"""The single-machine reference: the same customer features, by DuckDB, from the raw accepted files.

Written from the feature definitions (see ``packaging_pipeline/customers/features.py`` docstrings), not by
translating Spark plans: a session (customer, session id) counts once, on the date of its first
event, with its whole duration and cart outcome, money in integer micro-units rounded half up to the
cent once, buckets ``lower(trim(x))`` with ``other`` for unknown values and null for null/empty
(device: null counts as ``other``). It recomputes the whole window from the accepted partitions of
the window's days (and the clickstream of the night before, where sessions that run into the window
started), filtering on the *event* date like the Spark merge.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from packaging_pipeline.core.vocabulary import CATEGORIES, COLOR_FAMILIES, COLOR_FAMILY, DEVICES, OTHER, PALETTE
from packaging_pipeline.customers.features import DEVICE_BUCKETS, EVENT_COUNTS

DAY_US = 86_400_000_000


def _q(s: str) -> str:
    return "'" + s.replace("'", "''") + "'"


def _bucket(col: str, vocab: tuple[str, ...]) -> str:
    v = f"lower(trim({col}))"
    return f"CASE WHEN {col} IS NULL OR {v} = '' THEN NULL WHEN {v} IN ({', '.join(map(_q, vocab))}) THEN {v} ELSE '{OTHER}' END"  # noqa: E501


def features_sql(root: str, ds: str, window_days: int) -> str:
    end = dt.date.fromisoformat(ds)
    start = end - dt.timedelta(days=window_days - 1)
    days = [(start + dt.timedelta(days=i)).isoformat() for i in range(window_days)]
    end_day = (end - dt.date(1970, 1, 1)).days
    start_day = (start - dt.date(1970, 1, 1)).days
    before = (start - dt.timedelta(days=1)).isoformat()
    session_days = [before, *days] if Path(f"{root}/accepted/clickstream/ds={before}").is_dir() else days
    click_files = ", ".join(_q(f"{root}/accepted/clickstream/ds={d}/*.parquet") for d in session_days)
    order_files = ", ".join(_q(f"{root}/accepted/orders/ds={d}/*.parquet") for d in days)
    cats = (*CATEGORIES, OTHER)
    cols = (*PALETTE, OTHER)
    devs = DEVICE_BUCKETS
    families: dict[str, list[str]] = {f: [] for f in (*COLOR_FAMILIES, OTHER)}
    for c in cols:
        families[COLOR_FAMILY.get(c, OTHER)].append(f"col_{c}")

    def plus(names: list[str] | tuple[str, ...]) -> str:
        return "(" + " + ".join(names) + ")"

    type_counts = ",\n      ".join(
        f"count(*) FILTER (WHERE event_type = {_q(t)}) AS {n}" for n, t in EVENT_COUNTS.items()
    )
    bucket_counts = ",\n      ".join(
        [f"count(*) FILTER (WHERE cat = {_q(b)}) AS cat_{b}" for b in cats]
        + [f"count(*) FILTER (WHERE col = {_q(b)}) AS col_{b}" for b in cols]
        + [f"count(*) FILTER (WHERE dev = {_q(b)}) AS dev_{b}" for b in devs]
    )
    all_counts = [
        "events",
        *EVENT_COUNTS,
        *[f"cat_{b}" for b in cats],
        *[f"col_{b}" for b in cols],
        *[f"dev_{b}" for b in devs],
    ]
    sums = ",\n      ".join(f"sum({c})::BIGINT AS {c}" for c in all_counts)
    cat_total = plus([f"cat_{b}" for b in cats])
    col_total = plus([f"col_{b}" for b in cols])
    dev_total = plus([f"dev_{b}" for b in devs])
    shares = ",\n  ".join(
        [f"CASE WHEN {cat_total} > 0 THEN cat_{b} / {cat_total} ELSE 0.0 END AS category_share_{b}" for b in cats]
        + [f"CASE WHEN {col_total} > 0 THEN col_{b} / {col_total} ELSE 0.0 END AS color_share_{b}" for b in cols]
        + [
            f"CASE WHEN {col_total} > 0 THEN {plus(members) if members else '0'} / {col_total} ELSE 0.0 END AS color_family_share_{f}"  # noqa: E501
            for f, members in families.items()
        ]
        + [f"CASE WHEN {dev_total} > 0 THEN dev_{b} / {dev_total} ELSE 0.0 END AS device_share_{b}" for b in devs]
    )
    dev_max = "greatest(" + ", ".join(f"dev_{b}" for b in devs) + ")"
    preferred = (
        f"CASE WHEN {dev_total} > 0 THEN CASE "
        + " ".join(f"WHEN dev_{b} = {dev_max} THEN {_q(b)}" for b in devs)
        + " END END AS preferred_device"
    )
    return f"""
WITH ev AS (
  SELECT customer_key, session_id, event_type, event_time,
         (epoch_us(event_time) // {DAY_US})::INTEGER AS day,
         {_bucket("category", CATEGORIES)} AS cat,
         {_bucket("color", PALETTE)} AS col,
         coalesce({_bucket("device", DEVICES)}, '{OTHER}') AS dev
  FROM read_parquet([{click_files}])
  WHERE customer_key IS NOT NULL
),
per_day AS (
  SELECT customer_key, day,
      count(*) AS events,
      {type_counts},
      min(event_time) AS first_t, max(event_time) AS last_t,
      {bucket_counts}
  FROM ev WHERE day BETWEEN {start_day} AND {end_day}
  GROUP BY customer_key, day
),
sess AS (
  SELECT customer_key, session_id, min(event_time) AS s_start, max(event_time) AS s_end,
      bool_or(event_type = 'add_to_cart') AS cart, bool_or(event_type = 'purchase') AS bought
  FROM ev GROUP BY customer_key, session_id
),
sess_c AS (
  SELECT customer_key,
      count(*)::BIGINT AS sessions,
      sum(floor((epoch_us(s_end) - epoch_us(s_start)) / 1000))::BIGINT AS session_ms,
      count(*) FILTER (WHERE cart)::BIGINT AS cart_sessions,
      count(*) FILTER (WHERE cart AND NOT bought)::BIGINT AS abandoned_cart_sessions
  FROM sess WHERE (epoch_us(s_start) // {DAY_US}) BETWEEN {start_day} AND {end_day}
  GROUP BY customer_key
),
click AS (
  SELECT d.customer_key,
      {sums},
      coalesce(any_value(s.sessions), 0)::BIGINT AS sessions,
      coalesce(any_value(s.session_ms), 0)::BIGINT AS session_ms,
      coalesce(any_value(s.cart_sessions), 0)::BIGINT AS cart_sessions,
      coalesce(any_value(s.abandoned_cart_sessions), 0)::BIGINT AS abandoned_cart_sessions,
      min(first_t) AS first_event_time, max(last_t) AS last_event_time
  FROM per_day d LEFT JOIN sess_c s USING (customer_key) GROUP BY d.customer_key
),
ol AS (
  SELECT customer_key, order_id, order_time, quantity,
         (epoch_us(order_time) // {DAY_US})::INTEGER AS day,
         unit_price IS NOT NULL AND isfinite(unit_price) AS finite,
         round(unit_price * 1000000)::BIGINT * quantity AS micros
  FROM read_parquet([{order_files}])
  WHERE customer_key IS NOT NULL
),
ord_day AS (
  SELECT customer_key, day,
      count(DISTINCT order_id) FILTER (WHERE finite AND quantity > 0) AS purchase_orders,
      count(*) FILTER (WHERE finite AND quantity > 0) AS purchase_lines,
      coalesce(sum(quantity) FILTER (WHERE finite AND quantity > 0), 0) AS purchase_units,
      coalesce(sum(micros) FILTER (WHERE finite AND quantity > 0), 0) AS purchase_micros,
      count(*) FILTER (WHERE finite AND quantity < 0) AS return_lines,
      coalesce(-sum(quantity) FILTER (WHERE finite AND quantity < 0), 0) AS return_units,
      coalesce(-sum(micros) FILTER (WHERE finite AND quantity < 0), 0) AS return_micros,
      count(*) FILTER (WHERE NOT finite) AS invalid_price_lines,
      max(order_time) FILTER (WHERE finite AND quantity > 0) AS last_purchase_time
  FROM ol WHERE day BETWEEN {start_day} AND {end_day}
  GROUP BY customer_key, day
),
ord AS (
  SELECT customer_key,
      sum(purchase_orders)::BIGINT AS purchase_orders, sum(purchase_lines)::BIGINT AS purchase_lines,
      sum(purchase_units)::BIGINT AS purchase_units, sum(purchase_micros)::BIGINT AS purchase_micros,
      sum(return_lines)::BIGINT AS return_lines, sum(return_units)::BIGINT AS return_units,
      sum(return_micros)::BIGINT AS return_micros, sum(invalid_price_lines)::BIGINT AS invalid_price_lines,
      max(last_purchase_time) AS last_purchase_time
  FROM ord_day GROUP BY customer_key
),
active AS (
  SELECT customer_key, count(*)::BIGINT AS active_days FROM (
    SELECT DISTINCT customer_key, day FROM per_day
    UNION SELECT customer_key, day FROM ord_day
  ) GROUP BY customer_key
),
t AS (
  SELECT coalesce(c.customer_key, o.customer_key) AS customer_key,
    {", ".join(f"coalesce(c.{x}, 0) AS {x}" for x in [*all_counts, "sessions", "session_ms", "cart_sessions", "abandoned_cart_sessions"])},
    {", ".join(f"coalesce(o.{x}, 0) AS {x}" for x in ["purchase_orders", "purchase_lines", "purchase_units", "purchase_micros", "return_lines", "return_units", "return_micros", "invalid_price_lines"])},
    c.first_event_time, c.last_event_time, o.last_purchase_time
  FROM click c FULL OUTER JOIN ord o ON c.customer_key = o.customer_key
)
SELECT t.customer_key,
  DATE '{ds}' AS ds, DATE '{start.isoformat()}' AS window_start, {window_days} AS window_days,
  {end_day} - (epoch_us(last_purchase_time) // {DAY_US}) AS recency_days,
  purchase_orders AS frequency,
  ((2 * purchase_micros + 10000) // 20000) / 100.0 AS monetary,
  CASE WHEN purchase_orders > 0
    THEN ((2 * purchase_micros + purchase_orders * 10000) // (purchase_orders * 20000)) / 100.0 END AS avg_order_value,
  purchase_lines, purchase_units, return_lines, return_units, ((2 * return_micros + 10000) // 20000) / 100.0 AS returned_value,
  invalid_price_lines, sessions,
  CASE WHEN sessions > 0 THEN session_ms / sessions / 60000.0 END AS avg_session_minutes,
  events, views, cart_adds, searches, wishlists,
  CASE WHEN cart_sessions > 0 THEN abandoned_cart_sessions / cart_sessions END AS cart_abandon_rate,
  a.active_days,
  {shares},
  {preferred},
  first_event_time, last_event_time, last_purchase_time
FROM t JOIN active a USING (customer_key)
ORDER BY customer_key
"""  # noqa: E501
