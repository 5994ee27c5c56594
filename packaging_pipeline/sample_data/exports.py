"""The sample shop's nights written as a shop would export them: a folder ``land`` takes.

Why: the own-exports path (``land``, the shipped source mappings, ``make demo`` with
``DEMO_EXPORTS``) needs exports in the public shapes to be tried and tested on thousands of rows,
without a shop's data. The sample shop's raw sources are rewritten as:

- ``clickstream/events.csv``: the REES46 clickstream columns (``event_time`` as ``... UTC``,
  ``cart`` for add-to-cart, a dotted ``category_code``, the colour as a word of ``brand``). REES46 has
  no wishlist or search events, no device and no dwell time: those events and fields are dropped.
- ``orders/orders_export.csv``: Shopify's orders export, one row per line item, the order's columns
  (``Email``, ``Created at``, ``Location``) on its first row only. Shopify exports sales: returned
  lines are dropped, and lines of one product at one price are one line, as Shopify merges them.
- ``catalog/products.csv``: the contract's own catalog columns, as a product feed would give them.

Same arguments give byte-identical files (the sample generator is deterministic).
"""

from __future__ import annotations

import datetime as dt
import io
import tempfile
import zlib
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow.parquet as pq

from packaging_pipeline.core.errors import InputError
from packaging_pipeline.core.keys import raw_prefix
from packaging_pipeline.core.storage import LocalLake
from packaging_pipeline.sample_data.generate import generate_sample_data

REES46_CATEGORY_CODES = {
    "apparel": "apparel.shirt",
    "shoes": "apparel.shoes.sneakers",
    "electronics": "electronics.smartphone",
    "home": "appliances.kitchen.kettle",
    "beauty": "medicine.tools",
    "toys": "kids.toys",
    "sports": "sport.bicycle",
    "books": "stationery.cartrige",
}
"""A dotted REES46 ``category_code`` per sample category, one the shipped ``rees46`` mapping sends back
to it; grocery has none in REES46 (its mapping calls it ``other``)."""

REES46_EVENT_TYPES = {"view": "view", "add_to_cart": "cart", "remove_from_cart": "remove_from_cart",
                      "purchase": "purchase"}  # fmt: skip


def write_sample_exports(out: str | Path, ds: dt.date, days: int = 7, customers: int = 2000, seed: int = 7) -> dict:
    """Write the ``days`` nights up to ``ds`` of the sample shop into ``out`` as export files.

    Returns:
        a JSON-serialisable summary: the folder, the nights covered and rows and files per source.
    """
    folder = Path(out)
    if folder.exists() and any(folder.iterdir()):
        raise InputError(f"{folder} is not empty: give sample-exports a new or empty folder")
    start = ds - dt.timedelta(days=days - 1)
    nights = [(start + dt.timedelta(days=i)).isoformat() for i in range(days)]
    with tempfile.TemporaryDirectory(prefix="sample-exports-") as tmp:
        lake = LocalLake(tmp)
        generate_sample_data(lake, start=start, days=days, customers=customers, seed=seed)
        clicks = _read(lake, "clickstream", nights)
        orders = _read(lake, "orders", nights)
        catalog = _read(lake, "catalog", nights).drop_duplicates("product_id", keep="last")
    written = {
        "clickstream": _write_csv(folder / "clickstream" / "events.csv", _rees46(clicks)),
        "orders": _write_csv(folder / "orders" / "orders_export.csv", _shopify(orders, catalog)),
        "catalog": _write_csv(folder / "catalog" / "products.csv", _catalog(catalog)),
    }
    return {"folder": str(folder), "ds": ds.isoformat(), "nights": nights, "customers": customers, "seed": seed,
            "sources": written}  # fmt: skip


def _read(lake: LocalLake, source: str, nights: list[str]) -> pd.DataFrame:
    frames = []
    for night in nights:
        for info in lake.list(raw_prefix(source, night)):
            data = lake.read_bytes(info.key)
            if info.key.endswith(".parquet"):
                frames.append(pq.read_table(io.BytesIO(data)).to_pandas())
            else:
                compression = "gzip" if info.key.endswith(".gz") else None
                frames.append(pd.read_json(io.BytesIO(data), lines=True, compression=compression, dtype=False))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def _write_csv(path: Path, frame: pd.DataFrame) -> dict[str, Any]:
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(path, index=False, lineterminator="\n")
    return {"file": str(path), "rows": len(frame)}


def _rees46(clicks: pd.DataFrame) -> pd.DataFrame:
    kept = clicks[clicks["event_type"].isin(list(REES46_EVENT_TYPES))].sort_values(["event_time", "event_id"])
    when = pd.to_datetime(kept["event_time"], utc=True)
    category = kept["category"].fillna("")
    return pd.DataFrame({
        "event_time": when.dt.strftime("%Y-%m-%d %H:%M:%S UTC"),
        "event_type": kept["event_type"].map(REES46_EVENT_TYPES),
        "product_id": kept["product_id"],
        "category_id": category.map(lambda c: str(2053013550000000000 + zlib.crc32(c.encode())) if c else ""),
        "category_code": category.map(lambda c: REES46_CATEGORY_CODES.get(c, "")),
        "brand": kept["color"].fillna("").map(lambda c: f"{c} label" if c else ""),
        "price": kept["price"],
        "user_id": kept["customer_id"],
        "user_session": kept["session_id"],
    })  # fmt: skip


def _shopify(orders: pd.DataFrame, catalog: pd.DataFrame) -> pd.DataFrame:
    sales = orders[orders["quantity"] > 0]
    first_row = ["order_id", "customer_id", "order_time", "warehouse_id"]
    lines = (sales.groupby([*first_row, "product_id", "unit_price"], dropna=False, sort=False)["quantity"]
             .sum().reset_index().sort_values(["order_time", "order_id"], kind="stable"))  # fmt: skip
    created = pd.to_datetime(lines["order_time"], utc=True).dt.strftime("%Y-%m-%d %H:%M:%S +0000")
    later = lines["order_id"].duplicated().to_numpy()
    frame = pd.DataFrame({
        "Name": lines["order_id"],
        "Email": lines["customer_id"].fillna(""),
        "Financial Status": "paid",
        "Created at": created,
        "Lineitem quantity": lines["quantity"],
        "Lineitem name": lines["product_id"].map(dict(zip(catalog["product_id"], catalog["name"], strict=True))),
        "Lineitem price": lines["unit_price"].map(lambda p: repr(float(p))),
        "Lineitem sku": lines["product_id"],
        "Location": lines["warehouse_id"],
    })  # fmt: skip
    for column in ("Email", "Financial Status", "Created at", "Location"):
        frame.loc[later, column] = ""
    return frame


def _catalog(catalog: pd.DataFrame) -> pd.DataFrame:
    columns = ["product_id", "category", "length_mm", "width_mm", "height_mm", "weight_g", "fragile"]
    out = catalog[columns].copy()
    out["fragile"] = out["fragile"].map(lambda f: "true" if bool(f) else "false")
    out["colors"] = catalog["colors"].map(lambda c: ",".join(c) if isinstance(c, list) else "")
    return out
