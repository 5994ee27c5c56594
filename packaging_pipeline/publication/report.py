"""The night's batch report, ``report.html``: what was published, per segment, for people.

Who reads it: the analyst or packaging lead checking a night's batch, on a desktop or on a phone
from a link. So it is one file with no scripts and nothing fetched from the internet: each design's
preview and mockup are inline JPEG thumbnails (a few tens of KB each) that link to the full-size
PNGs beside it in the batch (``designs/<design_id>/preview.png``), which resolve wherever the batch
folder is opened or synced whole.

What it shows: batch totals (designs, print files, orders, and the board, CO2e and ink mass of what
the orders ship in); the night's parcels (ESR histogram, floor, board saved against the standard sizes,
why parcels are over 50% empty: ESR belongs to the parcel, not to the artwork); then a contact sheet
per segment: every published design with its motif,
inks, orders, and per box its recyclability grade, ESR, ink coverage, CO2e and whether it passed,
with the reasons when not; designs the gate rejected, with their reasons; the fallback a segment
got when nothing passed. The report holds no wall-clock time, so a republished night's report is
byte-identical.
"""

from __future__ import annotations

import base64
import dataclasses
import html
import io
import json
import math
from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

REPORT_NAME = "report.html"
PREVIEW_THUMB_PX = 480
MOCKUP_THUMB_PX = 240
GATE_STATUSES = ("passed", "optimised", "fallback", "rejected")
_RULE_NAMES = {"esr": "ESR", "inks": "inks", "total_ink_coverage": "ink", "recyclability_grade": "grade"}


@dataclasses.dataclass(frozen=True)
class ReportDesign:
    """One design card: its spec, images and what the gate decided."""

    design_id: str
    segment_id: int
    spec: Mapping[str, Any]
    orders: int
    preview_png: bytes | None
    mockup_png: bytes | None
    status: str  # passed, optimised, fallback, rejected (or "published" when no gate ran)
    reasons: Sequence[str] = ()
    folder: str | None = None  # relative folder of the full-size files; None when not published


@dataclasses.dataclass(frozen=True)
class BatchReport:
    """Everything the report shows; publication gathers it from staging and the batch it builds."""

    ds: str
    model: Mapping[str, Any]
    gate: Mapping[str, Any] | None
    counts: Mapping[str, Any]
    designs: Sequence[ReportDesign]
    pairs: Sequence[Mapping[str, Any]]  # sustainability.parquet rows
    shipped: Sequence[tuple[str, str]]  # (design_id, box_code) per order that has a design
    segments: Sequence[Mapping[str, Any]] = ()  # segment profiles: segment_id, label, palette, size
    parcels: Mapping[str, Any] | None = None  # the night's right-sizing summary (parcels/ds=<ds>/summary.json)


def thumbnail_data_uri(png: bytes, width: int) -> str:
    """A JPEG thumbnail ``width`` px wide (never upscaled) as a data URI."""
    from PIL import Image

    with Image.open(io.BytesIO(png)) as image:
        rgb = image.convert("RGB")
    if rgb.width > width:
        rgb = rgb.resize((width, max(1, round(rgb.height * width / rgb.width))), Image.Resampling.LANCZOS)
    buf = io.BytesIO()
    rgb.save(buf, "JPEG", quality=82, optimize=True)
    return "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _num(value: Any, fmt: str, missing: str = "–") -> str:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return missing
    return missing if math.isnan(number) else format(number, fmt)


def _segment_name(segment_id: int, label: str | None) -> str:
    base = "Default (guests and unsegmented customers)" if segment_id < 0 else f"Segment {segment_id}"
    return f"{base}: {label}" if label and segment_id >= 0 else base


def _totals(report: BatchReport, segment_id: int | None = None) -> dict[str, float]:
    """Board, CO2e and ink mass of what the orders ship in (one box per order)."""
    by_pair = {(str(p.get("design_id")), str(p.get("box_code"))): p for p in report.pairs}
    segment_of = {d.design_id: d.segment_id for d in report.designs}
    totals = {"orders": 0.0, "board_kg": 0.0, "co2e_kg": 0.0, "ink_g": 0.0, "scored": 0.0}
    for design_id, box_code in report.shipped:
        if segment_id is not None and segment_of.get(design_id) != segment_id:
            continue
        totals["orders"] += 1
        pair = by_pair.get((design_id, box_code))
        if pair is None:
            continue
        totals["scored"] += 1
        for key, column in (("board_kg", "board_mass_kg"), ("co2e_kg", "co2e_kg"), ("ink_g", "ink_mass_g")):
            value = pair.get(column)
            if value is not None and not (isinstance(value, float) and math.isnan(value)):
                totals[key] += float(value)
    return totals


def _totals_html(totals: Mapping[str, float], extra: Sequence[tuple[str, str]] = ()) -> str:
    items = [*extra, ("orders shipping", f"{int(totals['orders'])}"),
             ("board", f"{totals['board_kg']:.2f} kg"), ("CO2e (board)", f"{totals['co2e_kg']:.2f} kg"),
             ("ink", f"{totals['ink_g']:.1f} g")]  # fmt: skip
    if totals["scored"] < totals["orders"]:
        items.append(("orders not scored", f"{int(totals['orders'] - totals['scored'])}"))
    cells = "".join(f"<div><dt>{_e(k)}</dt><dd>{_e(v)}</dd></div>" for k, v in items)
    return f'<dl class="totals">{cells}</dl>'


def _swatches(inks: Sequence[Mapping[str, Any]]) -> str:
    if not inks:
        return '<span class="muted">unprinted</span>'
    return "".join(
        f'<span class="ink"><i style="background:{_e(i.get("hex", "#ccc"))}"></i>{_e(i.get("name", "?"))}'
        + (f" {_num(i.get('coverage'), '.0%')}" if i.get("coverage") is not None else "")
        + "</span>"
        for i in inks
    )


_BOX_RULES = ("max_esr",)
"""Rules of the box, not the artwork: the parcels' empty space, shown with the parcels, not on a design."""


def _rules(pair: Mapping[str, Any]) -> list[str]:
    try:
        failed = json.loads(pair.get("failed_rules") or "[]")
    except (TypeError, ValueError):
        failed = []
    return [str(f.get("rule", "")) for f in failed if isinstance(f, dict)]


def _failed_rules(pair: Mapping[str, Any]) -> str:
    """Short names of the artwork rules a (design, box) pair failed, from its ``failed_rules`` JSON."""
    names = [r.removeprefix("max_").removeprefix("min_") for r in _rules(pair) if r not in _BOX_RULES]
    return ", ".join(_RULE_NAMES.get(n, n.replace("_", " ")) for n in names if n) or "fail"


def _reasons(pairs: Sequence[Mapping[str, Any]]) -> list[str]:
    """The pairs' artwork failure reasons, once each (why a design fails); box rules (ESR) are the parcels'."""
    design: dict[str, None] = {}
    for p in sorted(pairs, key=lambda r: str(r.get("box_code"))):
        rules = _rules(p)
        for i, reason in enumerate(p.get("reasons") or []):
            if not (i < len(rules) and rules[i] in _BOX_RULES):
                design.setdefault(str(reason), None)
    return list(design)


def _pairs_table(pairs: Sequence[Mapping[str, Any]]) -> str:
    if not pairs:
        return '<p class="muted">No sustainability scores for this design.</p>'
    rows = []
    for p in sorted(pairs, key=lambda r: str(r.get("box_code"))):
        passed = p.get("passed")
        verdict = "pass" if passed else ("fail" if passed is not None else "")
        box_only = verdict == "fail" and all(r in _BOX_RULES for r in _rules(p))
        mark = _e({"pass": "✓", "fail": "✗ " + _failed_rules(p)}.get(verdict, "–"))
        esr = _num(p.get("esr_max"), ".0%")
        if box_only:  # the artwork passed; the box's parcels are over the ESR limit, each with its reason
            verdict, mark, esr = "pass", "✓", f'<a href="#parcels" title="see the parcels">{esr}*</a>'
        rows.append(
            f'<tr class="{verdict}"><td>{_e(p.get("box_code", "?"))}</td>'
            f"<td>{_e(p.get('recyclability_grade', '–'))}</td>"
            f"<td>{esr}</td><td>{_num(p.get('ink_coverage_total'), '.0%')}</td>"
            f"<td>{_num(p.get('co2e_kg'), '.3f')}</td><td>{_num(p.get('orders'), '.0f', '0')}</td>"
            f"<td>{mark}</td></tr>"
        )
    head = "<tr><th>box</th><th>grade</th><th>ESR</th><th>ink</th><th>CO2e kg</th><th>orders</th><th>gate</th></tr>"
    return f'<div class="scroll"><table>{head}{"".join(rows)}</table></div>'


def _card(design: ReportDesign, pairs: Sequence[Mapping[str, Any]]) -> str:
    spec = design.spec
    figures = []
    for name, png, width in (("preview", design.preview_png, PREVIEW_THUMB_PX),
                             ("mockup", design.mockup_png, MOCKUP_THUMB_PX)):  # fmt: skip
        if png is None:
            continue
        img = f'<img src="{thumbnail_data_uri(png, width)}" alt="{_e(name)} of design {_e(design.design_id)}">'
        if design.folder:
            img = f'<a href="{_e(design.folder)}{name}.png">{img}</a>'
        figures.append(f'<figure class="{name}">{img}</figure>')
    reasons = _reasons(pairs) or [str(r) for r in design.reasons]
    reason_list = "".join(f"<li>{_e(r)}</li>" for r in reasons)
    why = "Why it was rejected" if design.status == "rejected" else f"Why {len(reasons)} check(s) failed"
    message = spec.get("message")
    return (
        f'<article class="design {_e(design.status)}" id="design-{_e(design.design_id)}" '
        f'data-design-id="{_e(design.design_id)}" data-status="{_e(design.status)}">'
        f'<div class="images">{"".join(figures)}</div>'
        f'<h3>{_e(design.design_id)} <span class="badge {_e(design.status)}">{_e(design.status)}</span></h3>'
        f'<p class="meta">{_e(spec.get("motif", "?"))} · {design.orders} orders'
        + (f" · “{_e(message)}”" if message else "")
        + f'</p><p class="inks">{_swatches(spec.get("inks") or [])}</p>'
        + _pairs_table(pairs)
        + (f'<details class="reasons"{" open" if design.status == "rejected" else ""}><summary>{_e(why)}</summary>'
           f"<ul>{reason_list}</ul></details>" if reasons else "")
        + "</article>"
    )


def _esr_histogram_svg(counts: Sequence[int]) -> str:
    """Parcels per tenth of ESR as bars, the PPWR 50% limit dashed; inline SVG, no script."""
    width, height, bar = 300, 110, 26
    top = max(max(counts, default=0), 1)
    bars = []
    for i, n in enumerate(counts):
        h = round(72 * n / top, 1)
        colour = "#c0392b" if i >= len(counts) // 2 else "#2e7d4f"
        x = 10 + i * (bar + 2)
        bars.append(f'<rect x="{x}" y="{90 - h}" width="{bar}" height="{h}" fill="{colour}"><title>'
                    f"{i * 10}-{i * 10 + 10}% empty: {n} parcels</title></rect>"
                    f'<text x="{x + bar / 2}" y="{86 - h}" font-size="9" text-anchor="middle">{n or ""}'
                    "</text>")  # fmt: skip
    limit = 10 + len(counts) // 2 * (bar + 2) - 1
    return (f'<svg class="histogram" viewBox="0 0 {width} {height}" role="img" '
            f'aria-label="parcels by empty space ratio, in tenths">{"".join(bars)}'
            f'<line x1="{limit}" y1="4" x2="{limit}" y2="94" stroke="#1d232b" stroke-dasharray="3 2"/>'
            f'<text x="{limit}" y="104" font-size="9" text-anchor="middle">50% (PPWR limit)</text>'
            f'<text x="10" y="104" font-size="9">0%</text><text x="{width - 10}" y="104" font-size="9" '
            f'text-anchor="end">100% empty</text></svg>')  # fmt: skip


def _parcels_section(parcels: Mapping[str, Any] | None) -> str:
    """The night's parcels: ESR on the inner basis (histogram), the floor, board and what it saves."""
    if not parcels:
        return ""
    reference = parcels.get("standard_catalog") or {}
    saved, share = reference.get("board_saved_m2"), reference.get("board_saved_share")
    items = [
        ("parcels", str(parcels.get("parcels", "–"))), ("orders split", str(parcels.get("split_orders", 0))),
        ("own packaging", str(parcels.get("own_packaging", 0))),
        ("mean ESR", _num(parcels.get("mean_esr"), ".0%")), ("p95 ESR", _num(parcels.get("p95_esr"), ".0%")),
        ("over 50%", _num(parcels.get("share_esr_over_50pct"), ".0%")),
        ("physical floor, mean", _num(parcels.get("mean_esr_floor"), ".0%")),
        ("board", f"{_num(parcels.get('board_m2_total'), '.1f')} m²"),
    ]  # fmt: skip
    if saved is not None:
        items.append(("board saved against the standard sizes",
                      f"{_num(saved, '.1f')} m² ({_num(share, '.0%')})"))  # fmt: skip
    cells = "".join(f"<div><dt>{_e(k)}</dt><dd>{_e(v)}</dd></div>" for k, v in items)
    reasons = parcels.get("over_50pct_reasons") or {}
    reason_list = "".join(f"<li>{int(n)} × {_e(r)}</li>" for r, n in sorted(reasons.items(), key=lambda kv: -kv[1]))
    histogram = parcels.get("esr_histogram")
    return (
        '<section class="parcels" id="parcels"><h2>Parcels</h2>'
        f'<dl class="totals">{cells}</dl>'
        + (_esr_histogram_svg(histogram) if histogram else "")
        + (f'<details class="reasons" open><summary>Why parcels are over 50% empty</summary><ul>{reason_list}</ul>'
           "</details>" if reason_list else "")
        + '<p class="muted">Empty space ratio on the inner basis (box inner volume), void fill counted as empty '
        "(PPWR Art. 24); the floor is a box of exactly the packing plus the clearance. Standard sizes: the same "
        "orders in the catalog's stock boxes alone, without box-on-demand or splitting to save board. An ESR "
        "marked * on a design is its box's parcels', explained here.</p></section>"
    )


def _gate_line(gate: Mapping[str, Any] | None) -> str:
    if not gate:
        return "The sustainability gate did not run for this batch."
    policy = gate.get("policy") or {}
    limits = policy.get("limits") or {}
    counts = gate.get("counts") or {}
    limit_text = ", ".join(f"{k} {v}" for k, v in sorted(limits.items()))
    outcome = ", ".join(f"{counts[s]} {s}" for s in ("passed", "optimised", "rejected") if s in counts)
    fallbacks = counts.get("fallbacks")
    return (
        f"Gate policy {_e(policy.get('name', '?'))} v{_e(policy.get('version', '?'))}"
        + (f" ({_e(limit_text)})" if limit_text else "")
        + (f": {_e(outcome)}" if outcome else "")
        + (f", {_e(fallbacks)} segment fallback(s)" if fallbacks else "")
        + "."
    )


def _segment_section(report: BatchReport, segment_id: int, designs: Sequence[ReportDesign],
                     profile: Mapping[str, Any] | None, pairs_by_design: Mapping[str, list[Mapping[str, Any]]],
                     fallback: Mapping[str, Any] | None) -> str:  # fmt: skip
    label = (profile or {}).get("label") or next((d.spec.get("segment_label") for d in designs), None)
    palette = [{"name": c.get("color", "?"), "hex": c.get("hex", "#ccc")} for c in (profile or {}).get("palette") or []
               if isinstance(c, Mapping)]  # fmt: skip
    published = [d for d in designs if d.folder]
    notes = []
    if fallback:
        kind = fallback.get("kind")
        what = (f"reuses design {fallback.get('design_id')} of {fallback.get('from_ds')}" if kind == "previous"
                else "ships a plain unprinted box with the logo and message")  # fmt: skip
        notes.append(f"No design of this segment passed the gate: it {what}. {fallback.get('why', '')}".strip())
    cards = "".join(_card(d, pairs_by_design.get(d.design_id, [])) for d in designs)
    extra = [("designs published", str(len(published)))]
    if profile and profile.get("size") is not None:
        extra.insert(0, ("customers", str(profile["size"])))
    return (
        f'<section class="segment" id="segment-{segment_id}" data-segment-id="{segment_id}">'
        f"<h2>{_e(_segment_name(segment_id, label))}</h2>"
        + (f'<p class="inks">{_swatches(palette)}</p>' if palette else "")
        + _totals_html(_totals(report, segment_id), extra)
        + "".join(f'<p class="note">{_e(n)}</p>' for n in notes)
        + f'<div class="sheet">{cards}</div></section>'
    )


def render_batch_report(report: BatchReport) -> bytes:
    """The self-contained HTML report of one night's batch (UTF-8 bytes, deterministic)."""
    pairs_by_design: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
    for p in report.pairs:
        pairs_by_design[str(p.get("design_id"))].append(p)
    by_segment: dict[int, list[ReportDesign]] = defaultdict(list)
    for d in report.designs:
        by_segment[d.segment_id].append(d)
    profiles = {int(p["segment_id"]): p for p in report.segments if "segment_id" in p}
    fallbacks = {int(s["segment_id"]): s["fallback"] for s in (report.gate or {}).get("segments") or []
                 if isinstance(s, Mapping) and s.get("fallback")}  # fmt: skip
    order = sorted(by_segment, key=lambda s: (s < 0, s))  # named segments first, the default last
    rank = {s: i for i, s in enumerate(GATE_STATUSES)}
    sections = "".join(
        _segment_section(report, s, sorted(by_segment[s], key=lambda d: (rank.get(d.status, 0), d.design_id)),
                         profiles.get(s), pairs_by_design, fallbacks.get(s))
        for s in order
    )  # fmt: skip
    nav = "".join(
        f'<a href="#segment-{s}">{_e(_segment_name(s, (profiles.get(s) or {}).get("label")))}</a>' for s in order
    )
    counts = report.counts
    model = report.model or {}
    source = model.get("artwork_source") or {}
    artwork = (f"model version {model['version']}" if model.get("version")
               else f"{source.get('kind', 'unknown')} artwork")  # fmt: skip
    header_extra = [("designs", str(counts.get("designs", len([d for d in report.designs if d.folder])))),
                    ("print files", str(counts.get("print_files", "–"))),
                    ("orders without a design", str(counts.get("orders_without_design", 0)))]  # fmt: skip
    unshipped = int(counts.get("designs_staged", 0)) - int(counts.get("designs", 0))
    if unshipped > 0:
        header_extra.append(("staged, no orders tonight", str(unshipped)))
    rejected = sum(1 for d in report.designs if d.status == "rejected")
    if rejected:
        header_extra.append(("rejected by the gate", str(rejected)))
    page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Packaging batch {_e(report.ds)}</title>
<style>{_CSS}</style></head>
<body><header><h1>Packaging batch {_e(report.ds)}</h1>
<p class="meta">Artwork: {_e(artwork)} · {_gate_line(report.gate)}</p>
{_totals_html(_totals(report), header_extra)}
<nav>{nav}</nav></header>
<main>{_parcels_section(report.parcels)}{sections}</main>
<footer><p>ESR: empty space ratio of the box's parcels (the policy limit applies per parcel; see Parcels).
Grade: recyclability A-E. CO2e: the board's cradle-to-grave factor; inks carry no sourced factor. Full-size
previews and mockups are in <code>designs/&lt;design_id&gt;/</code> beside this report; every file's checksum is in
<code>manifest.json</code>.</p></footer>
</body></html>
"""
    return page.encode("utf-8")


_CSS = """
*{box-sizing:border-box}
body{margin:0;font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1d232b;background:#f4f2ee}
header,main,footer{max-width:1280px;margin:0 auto;padding:12px 16px}
h1{font-size:1.5rem;margin:.3em 0}h2{font-size:1.2rem;margin:1.2em 0 .4em}h3{font-size:.95rem;margin:.4em 0}
.meta,.muted,footer{color:#5b6470;font-size:.9rem}
nav{display:flex;flex-wrap:wrap;gap:6px;margin:8px 0}
nav a{background:#fff;border:1px solid #d8d3ca;border-radius:14px;padding:2px 10px;text-decoration:none;color:#1d232b}
.totals{display:flex;flex-wrap:wrap;gap:8px;margin:8px 0}
.totals div{background:#fff;border:1px solid #e2ddd4;border-radius:6px;padding:4px 10px}
.totals dt{font-size:.75rem;color:#5b6470}.totals dd{margin:0;font-weight:600}
.sheet{display:grid;grid-template-columns:repeat(auto-fill,minmax(min(100%,400px),1fr));gap:12px}
.design{background:#fff;border:1px solid #e2ddd4;border-radius:8px;padding:10px;min-width:0}
.design.rejected{border-color:#c0392b;background:#fff7f6}
.images{display:flex;gap:6px;align-items:flex-start}
.images figure{margin:0;min-width:0}.images .preview{flex:2}.images .mockup{flex:1}
.images img{display:block;width:100%;height:auto;border-radius:4px;background:#eee}
.badge{font-size:.7rem;font-weight:600;border-radius:10px;padding:1px 8px;vertical-align:middle;background:#e7f4ea;
color:#1e6b34}
.badge.rejected{background:#fbe4e1;color:#a23023}.badge.fallback,.badge.optimised{background:#fff1d6;color:#8a5a00}
.ink{display:inline-flex;align-items:center;gap:4px;margin-right:10px;font-size:.85rem}
.ink i{display:inline-block;width:14px;height:14px;border-radius:3px;border:1px solid #0003}
.scroll{overflow-x:auto}
table{border-collapse:collapse;width:100%;font-size:.82rem}
th,td{text-align:left;padding:3px 5px;border-bottom:1px solid #eee;white-space:nowrap}
tr.fail td:last-child{color:#a23023;font-weight:600}tr.pass td:last-child{color:#1e6b34}
.reasons{margin:6px 0 0;font-size:.82rem;color:#a23023}.reasons ul{margin:4px 0;padding-left:18px}
.reasons summary{cursor:pointer}
.note{background:#fff1d6;border-radius:6px;padding:6px 10px}
.histogram{display:block;width:100%;max-width:420px;height:auto;margin:4px 0}
@media (max-width:480px){body{font-size:14px}header,main,footer{padding:8px 10px}}
"""
