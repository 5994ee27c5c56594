"""Right-sizing: box choice, the packing heuristic, ESR, unfit reporting and the night's inputs.

The console script (a subprocess on a sample lake) is in tests/integration/test_right_size_cli.py."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from packaging_pipeline.core.config import Settings
from packaging_pipeline.core.errors import InputError
from packaging_pipeline.core.formats import write_json, write_parquet
from packaging_pipeline.core.keys import accepted_prefix, ingest_report_key
from packaging_pipeline.core.schemas import CATALOG, ORDERS
from packaging_pipeline.core.storage import LocalLake
from packaging_pipeline.design.boxes import Box, BoxCatalog, CustomSizes, load_box_catalog
from packaging_pipeline.design.dielines import make_dieline
from packaging_pipeline.design.packing import Placement, Unit, choose_box, pack_units
from packaging_pipeline.design.right_size import (
    catalog_snapshot_ds,
    orders_shipping_next,
    right_size_night,
    right_size_orders,
)
from tests.conftest import TEST_PSEUDONYM_KEY


def box(code: str, inner: tuple[float, float, float], area: float, style: str = "0201") -> Box:
    return Box(code, style, inner, "B", area)


def catalog_of(*boxes: Box, padding: float = 5.0, custom: CustomSizes | None = None) -> BoxCatalog:
    return BoxCatalog(boxes, padding, custom or CustomSizes())


def products(rows: dict[str, tuple[float, float, float]]) -> pd.DataFrame:
    return pd.DataFrame(
        [{"product_id": p, "length_mm": d[0], "width_mm": d[1], "height_mm": d[2]} for p, d in rows.items()]
    )


def order_lines(*lines: tuple[str, str, int], customer: str | None = "cust-key") -> pd.DataFrame:
    return pd.DataFrame(
        [
            {"order_id": o, "customer_key": customer, "warehouse_id": "WH-BER", "ship_date": dt.date(2026, 11, 2),
             "product_id": p, "quantity": q}
            for o, p, q in lines
        ]
    )  # fmt: skip


def assert_valid_packing(placements: tuple[Placement, ...], units: list[Unit], inner: tuple, padding: float) -> None:
    """Every unit placed once, in one of its orientations, inside the padded box, overlapping nothing."""
    assert sorted(p.product_id for p in placements) == sorted(u.product_id for u in units)
    assert sorted(sorted(p.size_mm) for p in placements) == sorted(sorted(u.dims_mm) for u in units)
    for p in placements:
        for i in range(3):
            assert p.position_mm[i] >= padding - 1e-6
            assert p.position_mm[i] + p.size_mm[i] <= inner[i] - padding + 1e-6
    for i, a in enumerate(placements):
        for b in placements[i + 1 :]:
            apart = any(
                a.position_mm[k] + a.size_mm[k] <= b.position_mm[k] + 1e-6
                or b.position_mm[k] + b.size_mm[k] <= a.position_mm[k] + 1e-6
                for k in range(3)
            )
            assert apart, (a, b)


# --------------------------------------------------------------------------------------------------
# Box choice and packing


def test_single_item_that_only_fits_rotated():
    boxes = catalog_of(box("LONG", (300, 100, 100), 0.2))
    unit = Unit("P1", (80.0, 90.0, 250.0))  # standing up it is 250 mm tall; the box is 100 mm
    choice = choose_box([unit], boxes)
    assert choice.box is not None and choice.box.code == "LONG"
    (placed,) = choice.placements
    assert placed.size_mm[0] == 250.0 and placed.size_mm != unit.dims_mm
    assert_valid_packing(choice.placements, [unit], (300, 100, 100), 5.0)


def test_least_board_area_wins_among_boxes_that_fit():
    # Hand-checked: the item (200x120x40 mm + 5 mm padding) fits TIGHT and ROOMY but not SMALL.
    # SMALL has the least board but is too small; ROOMY is bigger yet uses less board than TIGHT.
    small = box("SMALL", (150, 100, 50), 0.10)
    tight = box("TIGHT", (210, 130, 50), 0.30, style="0427")
    roomy = box("ROOMY", (250, 150, 100), 0.25)
    choice = choose_box([Unit("P1", (200.0, 120.0, 40.0))], catalog_of(small, tight, roomy))
    assert choice.box is not None and choice.box.code == "ROOMY"
    # Without ROOMY, the tight mailer is the only fit.
    assert choose_box([Unit("P1", (200.0, 120.0, 40.0))], catalog_of(small, tight)).box.code == "TIGHT"


def test_packaged_catalog_loads_both_styles_ordered_by_board_area():
    boxes = load_box_catalog()
    styles = {b.style for b in boxes.boxes}
    assert styles == {"0427", "0201"} and len(boxes.boxes) == 20
    areas = [b.blank_area_m2 for b in boxes.boxes]
    assert areas == sorted(areas) and all(a > 0 for a in areas)
    # Board area is the flat blank area of the box's dieline.
    m1 = next(b for b in boxes.boxes if b.code == "0427-M1")
    assert m1.blank_area_m2 == make_dieline("0427", (150, 100, 50), "E").blank_area_m2
    assert boxes.largest.inner_mm == (600.0, 400.0, 400.0) and not boxes.custom.enabled
    # The choice over the real catalog is the least-board box among those whose padded inside takes the item.
    unit = Unit("P1", (330.0, 210.0, 120.0))
    fitting = [b for b in boxes.boxes if pack_units([unit], boxes.usable_mm(b)) is not None]
    assert choose_box([unit], boxes).box == min(fitting, key=lambda b: b.blank_area_m2)


def test_multi_item_order_is_packed_without_overlap():
    units = [Unit(f"P{i}", (100.0, 100.0, 100.0)) for i in range(6)]
    inner = (310.0, 210.0, 110.0)  # 300x200x100 usable: exactly six cubes, no slack
    choice = choose_box(units, catalog_of(box("EXACT", inner, 0.5)))
    assert choice.box is not None
    assert_valid_packing(choice.placements, units, inner, 5.0)


def test_mixed_orders_pack_inside_and_apart():
    rng = np.random.default_rng(11)
    boxes = load_box_catalog()
    packed = 0
    for n in range(40):
        units = [Unit(f"P{n}-{i}", tuple(rng.uniform(20, 220, 3).round(1))) for i in range(2 + n % 7)]
        choice = choose_box(units, boxes)
        if choice.box is None:
            continue
        packed += 1
        assert_valid_packing(choice.placements, units, choice.box.inner_mm, boxes.padding_mm)
        # Stable: every unit stands on the floor or on another unit's top.
        tops = {round(p.position_mm[2] + p.size_mm[2], 6) for p in choice.placements}
        assert all(round(p.position_mm[2], 6) in tops | {5.0} for p in choice.placements)
    assert packed >= 30


def test_volume_fits_but_geometry_does_not():
    # Two 100x100x80 units (1.6 L) in a 150x150x100 space (2.25 L): side by side needs 160 mm, stacked 160 mm.
    units = [Unit("A", (100.0, 100.0, 80.0)), Unit("B", (100.0, 100.0, 80.0))]
    assert sum(u.volume_mm3 for u in units) < 150 * 150 * 100
    assert pack_units(units, (150, 150, 100)) is None
    assert pack_units(units, (160, 150, 100)) is not None
    only_small = catalog_of(box("SQ", (160, 160, 110), 0.3))
    choice = choose_box(units, only_small)
    assert choice.box is None
    assert choice.reason == "2 units of total 1.6 L do not pack into any box (largest SQ 160x160x110 holds 2.8 L)"
    bigger = box("BIG", (220, 160, 110), 0.4)
    assert choose_box(units, catalog_of(box("SQ", (160, 160, 110), 0.3), bigger)).box == bigger


def test_custom_size_is_rounded_up_when_nothing_standard_fits():
    custom = CustomSizes(enabled=True, style="0201", board="C", step_mm=10, max_inner_mm=(800, 600, 600))
    boxes = catalog_of(box("R", (600, 400, 400), 1.6), custom=custom)
    choice = choose_box([Unit("MAT", (652.0, 261.0, 41.0))], boxes)
    assert choice.box is not None and choice.box.custom
    assert choice.box.inner_mm == (670.0, 280.0, 60.0)  # 652+10 -> 670, 261+10 -> 280, 41+10 -> 60
    assert choice.box.code == "0201-CUSTOM-670x280x60" and choice.box.blank_area_m2 > 0
    assert_valid_packing(choice.placements, [Unit("MAT", (652.0, 261.0, 41.0))], choice.box.inner_mm, 5.0)
    assert "exceeds every box" in choice.reason
    too_big = choose_box([Unit("POLE", (900.0, 40.0, 40.0))], boxes)
    assert too_big.box is None and "no custom size up to 800x600x600" in too_big.reason


# --------------------------------------------------------------------------------------------------
# Orders


def test_esr_and_volumes_are_hand_computed():
    boxes = catalog_of(box("B1", (200, 150, 100), 0.3))
    catalog = products({"FULL": (180, 140, 90), "SMALL": (100, 50, 40)})
    out = right_size_orders(order_lines(("O1", "FULL", 1), ("O2", "SMALL", 2)), catalog, boxes).set_index("order_id")
    assert out.loc["O1", "item_volume_mm3"] == 180 * 140 * 90 == 2_268_000
    assert out.loc["O1", "item_volume_l"] == pytest.approx(2.268)
    assert out.loc["O1", "box_volume_mm3"] == 3_000_000 and out.loc["O1", "box_volume_l"] == 3.0
    assert out.loc["O1", "esr"] == pytest.approx((3_000_000 - 2_268_000) / 3_000_000)  # 0.244
    assert out.loc["O2", "units"] == 2 and out.loc["O2", "item_volume_mm3"] == 400_000
    assert out.loc["O2", "esr"] == pytest.approx(2_600_000 / 3_000_000)
    assert out.loc["O1", ["inner_length_mm", "inner_width_mm", "inner_height_mm"]].tolist() == [200, 150, 100]
    assert out.loc["O1", "board_area_m2"] == 0.3 and out.loc["O1", "status"] == "fitted"


def test_returns_are_not_packed():
    boxes = catalog_of(box("B1", (200, 150, 100), 0.3))
    catalog = products({"SHIP": (100, 100, 50), "HUGE": (900, 900, 900)})
    lines = order_lines(("O1", "SHIP", 1), ("O1", "HUGE", -2), ("O2", "HUGE", -1))
    out = right_size_orders(lines, catalog, boxes).set_index("order_id")
    assert out.loc["O1", "status"] == "fitted" and out.loc["O1", "units"] == 1 and out.loc["O1", "returned_units"] == 2
    assert out.loc["O1", "item_volume_mm3"] == 500_000
    assert out.loc["O2", "status"] == "returns_only" and out.loc["O2", "units"] == 0


def test_an_oversized_unit_ships_in_its_own_packaging_and_missing_products_are_reported():
    boxes = catalog_of(box("R10", (600, 400, 400), 1.6))
    catalog = products({"P123": (900, 40, 40), "OK": (100, 100, 100)})
    lines = order_lines(("O1", "P123", 1), ("O1", "OK", 1), ("O2", "GHOST", 1), ("O2", "OK", 1), ("O3", "OK", 1))
    out = right_size_orders(lines, catalog, boxes)
    assert list(out["order_id"]) == ["O1", "O1", "O2", "O3"]
    o1 = out[out["order_id"] == "O1"].set_index("parcel")
    assert list(o1["parcels"]) == [2, 2]
    assert o1.loc[1, "status"] == "fitted" and o1.loc[1, "box_code"] == "R10" and o1.loc[1, "products"] == "OKx1"
    assert o1.loc[2, "status"] == "own_packaging" and pd.isna(o1.loc[2, "box_code"])
    assert o1.loc[2, "products"] == "P123x1"
    assert o1.loc[2, "reason"] == "ships in its own packaging (PPWR Art. 24(5)): 900x40x40 mm exceeds every box"
    out = out.set_index("order_id")
    assert out.loc["O2", "status"] == "missing_product" and "'GHOST'" in out.loc["O2", "reason"]
    assert out.loc["O3", "status"] == "fitted"
    assert (out["status"] != "unfit").all()


def test_guests_get_boxes_and_no_customer_ids_leave():
    boxes = catalog_of(box("B1", (200, 150, 100), 0.3))
    out = right_size_orders(order_lines(("O1", "OK", 1), customer=None), products({"OK": (50, 50, 50)}), boxes)
    assert out.loc[0, "guest"] and out.loc[0, "status"] == "fitted"
    assert not {"customer_id", "customer_key"} & set(out.columns)


# --------------------------------------------------------------------------------------------------
# The night: shipping-next rule and catalog snapshot


def _write_catalog(lake: LocalLake, ds: str, dims: tuple[float, float, float]) -> None:
    row = {"product_id": "P1", "category": "home", "length_mm": dims[0], "width_mm": dims[1],
           "height_mm": dims[2], "weight_g": 500.0, "fragile": False, "colors": ["white"]}  # fmt: skip
    write_parquet(lake, accepted_prefix("catalog", ds) + "part-00000.parquet",
                  pa.Table.from_pylist([row], schema=CATALOG.accepted_schema))  # fmt: skip


def _write_orders(lake: LocalLake, ds: str, lines: list[tuple[str, str, int]]) -> None:
    rows = [
        {"order_id": o, "order_time": dt.datetime.fromisoformat(ds + "T12:00:00+00:00"), "customer_key": None,
         "warehouse_id": "WH-BER", "ship_date": dt.date.fromisoformat(ship), "product_id": "P1", "quantity": q,
         "unit_price": 10.0}
        for o, ship, q in lines
    ]  # fmt: skip
    write_parquet(lake, accepted_prefix("orders", ds) + "part-00000.parquet",
                  pa.Table.from_pylist(rows, schema=ORDERS.accepted_schema))  # fmt: skip
    write_json(lake, ingest_report_key(ds), {"ds": ds})


@pytest.fixture
def small_lake(tmp_path):
    lake = LocalLake(tmp_path / "lake")
    _write_catalog(lake, "2026-11-01", (100, 100, 100))
    _write_catalog(lake, "2026-11-03", (300, 100, 100))  # re-packed: longer from the 3rd on
    _write_catalog(lake, "2026-11-05", (500, 300, 300))
    _write_orders(lake, "2026-11-02", [("EARLY", "2026-11-04", 1), ("TODAY", "2026-11-02", 1)])
    _write_orders(lake, "2026-11-03", [("LATE", "2026-11-04", 1), ("LATER", "2026-11-05", 1),
                                       ("EARLY", "2026-11-04", 1), ("GONE", "2026-11-04", -1)])  # fmt: skip
    _write_orders(lake, "2026-11-04", [("TOMORROW", "2026-11-04", 1)])  # not yet known on the night of the 3rd
    return lake


def test_catalog_snapshot_is_the_newest_at_or_before_ds(small_lake):
    assert catalog_snapshot_ds(small_lake, "2026-11-04") == "2026-11-03"
    assert catalog_snapshot_ds(small_lake, "2026-11-03") == "2026-11-03"
    assert catalog_snapshot_ds(small_lake, "2026-11-02") == "2026-11-01"
    with pytest.raises(InputError, match="no accepted catalog snapshot at or before ds=2026-10-31"):
        catalog_snapshot_ds(small_lake, "2026-10-31")


def test_night_boxes_orders_shipping_the_next_day_with_that_nights_catalog(small_lake):
    lines, partitions = orders_shipping_next(small_lake, "2026-11-03")
    assert partitions == ["2026-11-02", "2026-11-03"]
    assert sorted(lines["order_id"]) == ["EARLY", "GONE", "LATE"]  # EARLY re-delivered on the 3rd counts once

    boxes = catalog_of(box("CUBE", (120, 120, 120), 0.2), box("LONG", (320, 120, 120), 0.4))
    settings = Settings(lake_uri=small_lake.uri, pseudonym_key=TEST_PSEUDONYM_KEY)
    per_order, summary = right_size_night(settings, "2026-11-03", boxes)
    assert summary["ship_date"] == "2026-11-04" and summary["catalog_snapshot"] == "2026-11-03"
    boxed = per_order.set_index("order_id")["box_code"].fillna("none").to_dict()
    assert boxed == {"EARLY": "LONG", "GONE": "none", "LATE": "LONG"}
    assert summary["orders"] == 2 and summary["fitted"] == 2 and summary["returns_only"] == 1
    # A night before the re-pack still uses the first snapshot (the 100 mm cube).
    _write_orders(small_lake, "2026-11-01", [("FIRST", "2026-11-02", 1)])
    first, summary = right_size_night(settings, "2026-11-01", boxes)
    assert summary["catalog_snapshot"] == "2026-11-01" and first["box_code"].tolist() == ["CUBE"]


def test_night_that_was_not_ingested_is_a_clear_error(small_lake):
    settings = Settings(lake_uri=small_lake.uri)
    with pytest.raises(InputError, match="night ds=2026-11-09 has not been ingested"):
        right_size_night(settings, "2026-11-09", load_box_catalog())


def test_bad_box_catalog_names_file_and_entry(tmp_path):
    path = tmp_path / "boxes.yaml"

    def write(*boxes: str) -> None:
        path.write_text("padding_mm: 5\nboxes:\n" + "".join(f"  - {{{b}}}\n" for b in boxes))

    good = "code: M1, style: '0427', inner_mm: [150, 100, 50], board: E"
    write(good, "code: M2, style: 0427, inner_mm: [200, 150, 50], board: E")
    with pytest.raises(InputError, match=rf"box catalog {path}: boxes\[1\] \('M2'\).style: expected a quoted FEFCO"):
        load_box_catalog(path)
    write("code: M1, style: '0427', inner_mm: [150, 100], board: E")
    with pytest.raises(InputError, match=r"boxes\[0\] \('M1'\).inner_mm: expected three sizes"):
        load_box_catalog(path)
    write(good, "code: R1, style: '0201', inner_mm: [200, 150, 150], board: Z")
    with pytest.raises(InputError, match=r"boxes\[1\] \('R1'\).board: unknown board grade 'Z'"):
        load_box_catalog(path)
    write(good, "code: M9, style: '0427', inner_mm: [200, 100, 150], board: E")  # a mailer taller than deep
    with pytest.raises(InputError, match=r"boxes\[1\] \('M9'\): inner size 200x100x150: FEFCO 0427 takes H up to W"):
        load_box_catalog(path)
    write(good)
    assert [b.code for b in load_box_catalog(path).boxes] == ["M1"]
    with pytest.raises(InputError, match="cannot read box catalog"):
        load_box_catalog(tmp_path / "missing.yaml")
