"""The batch report: rendered in headless Chromium on a phone and a desktop viewport, it shows every
published design (images decoded), the rejected ones with their reasons, the segment fallback, and
totals that match the published assignments and scores; it is self-contained and deterministic."""

from __future__ import annotations

import csv
import io
import json
import os
import shutil

import pyarrow.parquet as pq
import pytest

from packaging_pipeline.publication.publish import publish_batch
from packaging_pipeline.publication.report import BatchReport, ReportDesign, render_batch_report
from tests.support.nights import DS
from tests.support.published import batch_of

VIEWPORTS = {"phone": {"width": 390, "height": 844}, "desktop": {"width": 1366, "height": 900}}
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]  # fmt: skip


def chromium_path() -> str:
    """Debian's Chromium (``.ci/run`` installs it); a local run without it skips, CI fails."""
    path = os.environ.get("PACKAGING_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    if path:
        return path
    message = "no Chromium found: install Debian's `chromium` package (or set PACKAGING_CHROMIUM)"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="module")
def published(gated):
    """The gated night of tests/conftest.py (rejection, fallback), published."""
    lake = gated[0]
    result = publish_batch(lake, DS)
    manifest = json.loads(lake.read_bytes(batch_of(lake, DS).manifest_key))
    return lake, result, manifest


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    executable = chromium_path()
    with sync_playwright() as p:
        instance = p.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        yield instance
        instance.close()


def shipped_totals(lake, manifest) -> dict[str, float]:
    """Board, CO2e and ink of what the orders ship in, from the published CSVs and scores alone."""
    batch = batch_of(lake, DS)
    pairs = pq.read_table(io.BytesIO(lake.read_bytes(batch.key(manifest["gate"]["sustainability_key"])))).to_pylist()
    by_pair = {(p["design_id"], p["box_code"]): p for p in pairs}
    totals = {"board": 0.0, "co2e": 0.0, "ink": 0.0, "orders": 0}
    for wh in manifest["warehouses"]:
        for row in csv.DictReader(io.StringIO(lake.read_text(batch.key(wh["assignments_key"])))):
            if row["design_id"]:
                pair = by_pair[(row["design_id"], row["box_code"])]
                totals["orders"] += 1
                totals["board"] += pair["board_mass_kg"]
                totals["co2e"] += pair["co2e_kg"]
                totals["ink"] += pair["ink_mass_g"]
    return totals


@pytest.mark.parametrize("viewport", sorted(VIEWPORTS))
def test_the_report_shows_every_design_in_chromium(published, browser, viewport):
    lake, result, manifest = published
    page = browser.new_page(viewport=VIEWPORTS[viewport])
    folder = lake.root / batch_of(lake, DS).prefix
    page.goto((folder / "report.html").as_uri())

    designs = {d["design_id"]: d for d in manifest["designs"]}
    assert designs and len(designs) == result["designs"]
    for design_id, entry in designs.items():
        card = page.locator(f'article[data-design-id="{design_id}"]')
        assert card.count() == 1, design_id
        card.scroll_into_view_if_needed()
        assert card.is_visible(), design_id
        images = card.locator("img")
        assert images.count() == 2  # preview and mockup
        for i in range(2):
            assert images.nth(i).evaluate("img => img.complete && img.naturalWidth > 0"), (design_id, i)
            assert images.nth(i).bounding_box()["width"] > 80, (design_id, i)
        for href in card.locator("a").evaluate_all("links => links.map(a => a.getAttribute('href'))"):
            if href.startswith("#"):  # a box's ESR links to the night's parcels
                assert page.locator(href).count() == 1, href
                continue
            assert (folder / href).is_file(), href  # full-size files resolve beside the report
        assert f"{entry['orders']} orders" in card.inner_text()

    # Rejected designs are shown, with why; the segment left without a passing design says what it got.
    gate = manifest["gate"]["summary"]
    rejected = [d["design_id"] for d in gate["designs"] if d["status"] == "rejected"]
    assert rejected
    for design_id in rejected:
        card = page.locator(f'article[data-design-id="{design_id}"]')
        assert card.get_attribute("data-status") == "rejected"
        reasons = card.locator(".reasons li")
        assert reasons.count() >= 1 and reasons.first.is_visible()
        assert "total ink coverage" in reasons.first.inner_text()  # the rule that rejected it comes first
    fallback = next(s for s in gate["segments"] if s["fallback"])
    note = page.locator(f'section[data-segment-id="{fallback["segment_id"]}"] .note')
    assert "plain unprinted box" in note.inner_text()

    # Totals: the whole batch's match the published assignments and scores.
    expected = shipped_totals(lake, manifest)
    header = dict(zip(page.locator("header .totals dt").all_inner_texts(),
                      page.locator("header .totals dd").all_inner_texts(), strict=True))  # fmt: skip
    assert header["designs"] == str(len(designs))
    assert header["orders shipping"] == str(expected["orders"])
    assert header["board"] == f"{expected['board']:.2f} kg" and header["CO2e (board)"] == f"{expected['co2e']:.2f} kg"
    assert header["ink"] == f"{expected['ink']:.1f} g"

    # The night's parcels: ESR belongs to them, with a histogram, the reasons and the board saved.
    parcels = json.loads(lake.read_bytes(f"parcels/ds={DS}/summary.json"))
    section = page.locator("section#parcels")
    section.scroll_into_view_if_needed()
    assert section.is_visible() and section.locator("svg.histogram").is_visible()
    figures = dict(zip(section.locator(".totals dt").all_inner_texts(), section.locator(".totals dd").all_inner_texts(),
                       strict=True))  # fmt: skip
    assert figures["parcels"] == str(parcels["parcels"]) and figures["mean ESR"] == f"{parcels['mean_esr']:.0%}"
    saved = parcels["standard_catalog"]["board_saved_m2"]
    assert figures["board saved against the standard sizes"].startswith(f"{saved:.1f} m²")
    bars = section.locator("svg.histogram rect title").all_text_contents()
    assert len(bars) == 10 and sum(int(t.split(": ")[1].split()[0]) for t in bars) == parcels["fitted"]
    if parcels["over_50pct_reasons"]:
        assert section.locator(".reasons li").count() == len(parcels["over_50pct_reasons"])
    assert "✗ ESR" not in page.locator("main").inner_text()  # no design card blames its artwork for a box's air

    # Readable at this width: nothing sticks out sideways.
    width = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    assert width[0] <= width[1], width
    page.close()


def test_the_report_is_listed_self_contained_and_deterministic(published):
    lake, result, manifest = published
    relative = manifest["report"]["key"]
    key = batch_of(lake, DS).key(relative)
    assert relative == "report.html" and result["report_uri"].endswith(key)
    assert relative in {f["key"] for f in manifest["files"]}
    text = lake.read_text(key)
    assert "<script" not in text and "http://" not in text and "https://" not in text
    assert 'name="viewport"' in text
    before = lake.read_bytes(key)
    publish_batch(lake, DS)  # the same staging again: the same report, byte for byte
    assert lake.read_bytes(key) == before


def test_hostile_text_in_a_spec_is_escaped():
    hostile = '</h3><script>alert("x")</script>'
    design = ReportDesign("d-1", 0, {"motif": hostile, "message": hostile, "inks": [{"name": hostile, "hex": "#fff"}]},
                          1, None, None, "passed")  # fmt: skip
    pair = {"design_id": "d-1", "box_code": "0201-R1", "passed": False, "reasons": [hostile],
            "failed_rules": json.dumps([{"rule": "max_total_ink_coverage"}])}  # fmt: skip
    parcels = {"parcels": 3, "fitted": 3, "esr_histogram": [1, 0, 1, 0, 0, 0, 1, 0, 0, 0],
               "over_50pct_reasons": {hostile: 1}}  # fmt: skip
    html = render_batch_report(BatchReport(DS, {}, None, {}, [design], [pair], [("d-1", "0201-R1")],
                                           [{"segment_id": 0, "label": hostile}], parcels)).decode()  # fmt: skip
    assert "<script" not in html and html.count("&lt;script&gt;") >= 5  # reasons, label, motif, message, ink
    assert "✗ ink" in html and 'id="parcels"' in html


def test_a_box_over_the_esr_limit_does_not_fail_its_artwork_on_the_card():
    """ESR is the parcels': a pair failing only max_esr shows a passed artwork and links to the parcels."""
    design = ReportDesign("d-1", 0, {"motif": "waves"}, 1, None, None, "passed")
    esr_only = {"design_id": "d-1", "box_code": "0201-R1", "passed": False, "esr_max": 0.71, "reasons": ["ESR 0.71"],
                "failed_rules": json.dumps([{"rule": "max_esr"}])}  # fmt: skip
    both = {**esr_only, "box_code": "0201-R2", "failed_rules": json.dumps([{"rule": "max_esr"}, {"rule": "max_inks"}]),
            "reasons": ["ESR 0.71", "4 inks > 3"]}  # fmt: skip
    html = render_batch_report(BatchReport(DS, {}, None, {}, [design], [esr_only, both], [])).decode()
    assert '<a href="#parcels" title="see the parcels">71%*</a>' in html and "✗ ESR" not in html
    assert "✗ inks" in html and "4 inks &gt; 3" in html and "ESR 0.71" not in html
