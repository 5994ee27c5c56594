"""Right-sizing through the console script: ``right-size --json`` as a subprocess on an ingested sample
lake, the table output and a bad box catalog (the library itself is in tests/unit/test_right_size.py)."""

from __future__ import annotations

import datetime as dt
import json
import math

import numpy as np
import pytest

from packaging_pipeline.cli import main
from packaging_pipeline.core.config import Settings
from packaging_pipeline.core.storage import LocalLake
from packaging_pipeline.ingest.raw import ingest_range
from packaging_pipeline.sample_data.generate import generate_sample_data
from tests.conftest import TEST_PSEUDONYM_KEY
from tests.support.cli import run_cli


def test_cli_right_size_json(tmp_path, capsys):
    # The lake as `sample-data` + `ingest` leave it, built in-process (the same functions, seconds faster).
    lake = LocalLake(tmp_path / "lake")
    generate_sample_data(lake, start=dt.date(2026, 11, 1), days=2, customers=400, seed=7)
    ingest_range(Settings(lake_uri=lake.uri, pseudonym_key=TEST_PSEUDONYM_KEY), "2026-11-01", "2026-11-02")
    uri = lake.uri

    out = run_cli("right-size", "--lake", uri, "--ds", "2026-11-02", "--json")
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)  # progress goes to stderr: stdout is one JSON object
    summary, orders = result["summary"], result["orders"]
    done = f"right-sizing: {summary['orders'] + summary['returns_only']:,}/"
    assert any(line.startswith(done) and line.endswith(", done") for line in out.stderr.splitlines()), out.stderr
    assert summary["ship_date"] == "2026-11-03" and summary["catalog_snapshot"] == "2026-11-01"
    assert summary["order_partitions"] == ["2026-11-01", "2026-11-02"]
    shipped = [o for o in orders if o["status"] != "returns_only"]  # one row per parcel
    assert summary["parcels"] == len(shipped) and summary["orders"] == len({o["order_id"] for o in shipped}) > 5
    assert all(o["ship_date"] == "2026-11-03" and "customer_key" not in o for o in orders)
    fitted = [o for o in shipped if o["status"] == "fitted"]
    assert summary["unfit"] == 0  # every order has parcels or an own-packaging decision
    assert summary["fitted"] == len(fitted)
    assert summary["own_packaging"] + summary["missing_product"] + len(fitted) == len(shipped)
    for o in fitted:
        assert o["style"] in ("0427", "0201") and o["box_code"].startswith(o["style"])
        assert o["esr"] == pytest.approx(1 - o["item_volume_mm3"] / o["box_volume_mm3"])
        assert o["box_volume_mm3"] == pytest.approx(o["inner_length_mm"] * o["inner_width_mm"] * o["inner_height_mm"])
    assert summary["mean_esr"] == pytest.approx(np.mean([o["esr"] for o in fitted]), abs=1e-4)
    assert {u["order_id"] for u in summary["unboxed_orders"]} == {o["order_id"] for o in shipped if not o["box_code"]}
    assert all(u["reason"] for u in summary["unboxed_orders"])
    assert sum(summary["per_style"].values()) == len(fitted)
    assert summary["board_m2_total"] == pytest.approx(sum(o["board_area_m2"] for o in fitted), abs=1e-3)

    assert main(["right-size", "--lake", uri, "--ds", "2026-11-02"]) == 0
    table = capsys.readouterr().out
    assert "ESR inner basis: mean" in table and "outer basis" in table and fitted[0]["order_id"] in table

    bad = tmp_path / "boxes.yaml"
    bad.write_text("boxes: []\n")
    assert main(["right-size", "--lake", uri, "--ds", "2026-11-02", "--boxes", str(bad)]) == 2
    assert f"box catalog {bad}: boxes: expected a non-empty list" in capsys.readouterr().err
    assert math.isfinite(summary["p95_esr"])
