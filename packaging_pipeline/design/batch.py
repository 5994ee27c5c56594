"""The night's designs: per segment a few designs, each composed on every box size its orders need.

Inputs are the night's segment profiles (palettes, labels), its segment assignments, and the orders
shipping next, right-sized. Orders reach a segment through their pseudonymous ``customer_key``;
guest orders and customers not yet segmented go to the ``default`` segment (id -1), which gets a
plain brand design. Within a segment an order gets one of its designs by a stable hash of the order
id, so a rerun assigns the same design.

Everything lands under ``designs/staging/ds=<ds>/`` (replaced as a whole on a rerun):
``segment=<id>/<design_id>/`` with ``spec.json``, ``artwork.png``, ``preview.png``, ``mockup.png``
and one ``dieline-<box_code>-<LxWxH>.pdf`` / ``.svg`` per box size, plus ``order_designs.parquet``
(one row per order: its box, segment and design) and ``plan.json`` (what was made, and how fast).
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import dataclasses
import io
import json
import logging
import multiprocessing
import os
import sys
import time
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from packaging_pipeline.core import keys
from packaging_pipeline.core.colour import PAPER_HEX
from packaging_pipeline.core.errors import InputError
from packaging_pipeline.core.formats import (
    read_json,
    read_parquet,
    read_parquet_prefix,
    spec_bytes,
    write_json,
    write_parquet,
)
from packaging_pipeline.core.hashing import sha256_hex, stable_hash64
from packaging_pipeline.core.keys import design_prefix, print_file_key, staging_prefix
from packaging_pipeline.core.progress import track
from packaging_pipeline.core.storage import Lake, open_lake
from packaging_pipeline.design.artwork import night_tiles, palette_variants
from packaging_pipeline.design.compose import DEFAULT_TILE_MM, Design, clean_message, layout_for
from packaging_pipeline.design.dielines import make_dieline
from packaging_pipeline.design.messages import load_messages
from packaging_pipeline.design.previews import colour_tile, mockup_rgb, png_bytes, preview_rgb
from packaging_pipeline.design.print_files import design_pdf, design_svg, svg_ink_uris
from packaging_pipeline.design.right_size import orders_shipping_next, read_parcels, right_size_night, write_parcels
from packaging_pipeline.feedback.bandit import (
    allocation_summary,
    design_weights,
    log_allocation,
    thompson_allocation,
    weighted_order_choice,
)
from packaging_pipeline.feedback.policy import FeedbackPolicy, load_policy
from packaging_pipeline.feedback.statistics import Posteriors, latest_stats, posteriors_by_segment
from packaging_pipeline.gan.motifs import MOTIFS

log = logging.getLogger(__name__)

DEFAULT_SEGMENT = -1
DEFAULT_DESIGNS_PER_SEGMENT = 4
DEFAULT_PALETTE = ({"color": "navy", "hex": "#1f2a44"}, {"color": "beige", "hex": "#d9c8a9"})


@dataclasses.dataclass(frozen=True)
class PlannedDesign:
    """One design of one segment: its motif, tile, inks, message and the boxes it is printed on."""

    design_id: str
    segment_id: int
    segment_label: str
    motif: str
    variant: int
    inks: tuple[str, ...]
    ink_names: tuple[str, ...]
    message: str
    boxes: tuple[tuple[str, str, tuple[float, float, float], str], ...]  # (box_code, style, inner, board)
    orders: int
    allocation: dict[str, Any] = dataclasses.field(default_factory=dict, compare=False)  # arm, why, posterior


def order_choice(order_id: str, n: int) -> int:
    """A stable pick among ``n`` designs: the same order always gets the same design."""
    return stable_hash64(order_id) % n


def _segment_of_orders(lake: Lake, ds: str, lines: pd.DataFrame) -> pd.Series:
    """order_id -> segment_id; guests and customers without a segment get the default segment."""
    assignments = read_parquet_prefix(lake, keys.segment_assignments_prefix(ds))
    if assignments is None:
        raise InputError(
            f"no segment assignments for ds={ds} in {lake.uri_of(keys.segment_assignments_prefix(ds))}: "
            f"run `packaging-pipeline segment --ds {ds}` first"
        )
    seg = assignments.to_pandas().set_index("customer_key")["segment_id"]
    first = lines.dropna(subset=["customer_key"]).drop_duplicates("order_id").set_index("order_id")["customer_key"]
    return first.map(seg).dropna().astype(int)


def plan_designs(
    profiles: Sequence[dict[str, Any]], per_order: pd.DataFrame, order_segment: pd.Series,
    designs_per_segment: int = DEFAULT_DESIGNS_PER_SEGMENT, messages: dict[str, str] | None = None, ds: str = "",
    motifs: Sequence[str] | None = None, posteriors: Posteriors | None = None, policy: FeedbackPolicy | None = None,
    seed: int = 0, palette_posteriors: Posteriors | None = None,
) -> tuple[list[PlannedDesign], pd.DataFrame]:  # fmt: skip
    """The designs of the night and each fitted order's design.

    Each segment gets ``designs_per_segment`` designs, in the segment's palette, printed on every box
    size its orders need (the most used box of the night if it ships nothing tomorrow). Without
    feedback for a segment its designs rotate over the motifs (by segment, so neighbouring segments
    look different) and orders spread evenly; with ``posteriors`` (segment -> motif -> Beta) the
    motifs are Thompson-sampled, seeded by ``ds`` and ``seed``, and orders follow the posterior means
    (both with the policy's exploration floor). ``palette_posteriors`` (segment -> ink set -> Beta)
    likewise choose each design's ink set among the segment palette's variants.
    """
    motifs = tuple(motifs or MOTIFS)
    messages = messages or load_messages()
    fitted = per_order[per_order["status"] == "fitted"].copy()
    fitted["segment_id"] = fitted["order_id"].map(order_segment).fillna(DEFAULT_SEGMENT).astype(int)
    box_cols = ["box_code", "style", "inner_length_mm", "inner_width_mm", "inner_height_mm", "board_grade"]
    fallback_box = fitted["box_code"].mode().iloc[0] if len(fitted) else None
    box_rows = fitted.drop_duplicates("box_code").set_index("box_code")[box_cols[1:]] if len(fitted) else None

    def box_tuple(code: str) -> tuple[str, str, tuple[float, float, float], str]:
        r = box_rows.loc[code]  # type: ignore[union-attr]
        inner = (float(r.inner_length_mm), float(r.inner_width_mm), float(r.inner_height_mm))
        return code, str(r["style"]), inner, str(r.board_grade)

    segments = [dict(p) for p in profiles]
    if (fitted["segment_id"] == DEFAULT_SEGMENT).any() or not segments:
        segments.append({"segment_id": DEFAULT_SEGMENT, "label": "default", "palette": list(DEFAULT_PALETTE),
                         "top_categories": []})  # fmt: skip
    stamp = ds.replace("-", "")
    planned: list[PlannedDesign] = []
    choice: dict[str, str] = {}
    for profile in sorted(segments, key=lambda p: int(p["segment_id"])):
        sid = int(profile["segment_id"])
        mine = fitted[fitted["segment_id"] == sid]
        codes = sorted(mine["box_code"].unique()) or ([fallback_box] if fallback_box else [])
        boxes = tuple(box_tuple(c) for c in codes)
        names = {c["hex"]: c["color"] for c in profile.get("palette") or DEFAULT_PALETTE}
        ink_sets = {"+".join(names[c] for c in v): tuple(v) for v in palette_variants(list(names), PAPER_HEX)}
        top = (profile.get("top_categories") or [{}])[0].get("category")
        message = clean_message(messages.get(str(top), messages["default"]))
        n = 1 if sid == DEFAULT_SEGMENT else designs_per_segment
        evidence = posteriors.get(sid) if posteriors and sid != DEFAULT_SEGMENT else None
        palette_evidence = palette_posteriors.get(sid) if palette_posteriors and sid != DEFAULT_SEGMENT else None
        weights = None
        policy = policy or (load_policy() if evidence or palette_evidence else None)
        rng = np.random.default_rng([seed, int(stamp or 0), sid + 1])
        if evidence is None:
            allocation = [{"arm": motifs[(i + max(sid, 0)) % len(motifs)], "method": "rotation"} for i in range(n)]
        else:
            allocation = thompson_allocation(motifs, evidence, n, rng, policy.exploration_floor, policy.prior)
            weights = design_weights(allocation, policy.exploration_floor)
            for pick, share in zip(allocation, weights, strict=True):
                pick.update(order_share=share, policy_version=policy.version)
        if palette_evidence is None or len(ink_sets) == 1:
            palettes = [{"arm": next(iter(ink_sets)), "method": "default"} for _ in range(n)]
        else:
            palettes = thompson_allocation(list(ink_sets), palette_evidence, n, rng, policy.exploration_floor,
                                           policy.prior)  # fmt: skip
        ids = []
        variants: Counter[str] = Counter()
        for i, (pick, palette) in enumerate(zip(allocation, palettes, strict=True)):
            motif, inks = pick["arm"], ink_sets[palette["arm"]]
            design_id = f"d{stamp}-s{sid if sid >= 0 else 'x'}-{i:02d}"
            ids.append(design_id)
            planned.append(PlannedDesign(
                design_id, sid, str(profile.get("label", sid)), motif, variants[motif], inks,
                tuple(names[c] for c in inks), message, boxes, 0, {**pick, "palette": palette},
            ))  # fmt: skip
            variants[motif] += 1
        for o in mine["order_id"]:
            choice[o] = ids[order_choice(o, len(ids)) if weights is None else weighted_order_choice(o, weights)]
    fitted["design_id"] = fitted["order_id"].map(choice)
    counts = Counter(fitted["design_id"])
    planned = [dataclasses.replace(p, orders=counts.get(p.design_id, 0)) for p in planned]
    return planned, fitted


def pattern_digest(tile: np.ndarray) -> str:
    """The artwork's pattern, whatever its colours: equal digests are the same artwork."""
    return sha256_hex(np.ascontiguousarray(tile, dtype=np.uint8).tobytes())[:16]


def compose_design_files(
    plan: PlannedDesign, tile: np.ndarray, ds: str, source: dict[str, Any], tile_mm: float
) -> list[tuple[bytes, str]]:
    """All files of one design as (bytes, key) pairs; pure, so it runs in a worker process."""
    design = Design(plan.design_id, tile, plan.inks, plan.ink_names, plan.message, tile_mm)
    prefix = design_prefix(ds, plan.segment_id, plan.design_id)
    files: list[tuple[bytes, str]] = [(png_bytes(colour_tile(design)), prefix + "artwork.png")]
    ink_uris = svg_ink_uris(design)
    prints = []
    for i, (code, style, inner, board) in enumerate(plan.boxes):
        dieline = make_dieline(style, inner, board)
        layout = layout_for(dieline, design)
        pdf_key = print_file_key(ds, plan.segment_id, plan.design_id, code, inner)
        svg_key = pdf_key.removesuffix(".pdf") + ".svg"
        files.append((design_pdf(dieline, design, layout), pdf_key))
        files.append((design_svg(dieline, design, layout, ink_uris=ink_uris).encode("utf-8"), svg_key))
        if i == 0:  # previews show the design on its first box; the print files cover every box
            flat = preview_rgb(dieline, design, layout)
            files.append((png_bytes(flat), prefix + "preview.png"))
            files.append((png_bytes(mockup_rgb(dieline, flat)), prefix + "mockup.png"))
        prints.append({
            "box_code": code, "style": style, "inner_mm": list(inner), "board": board,
            "pdf": pdf_key, "svg": svg_key,
            "blank_width_mm": round(dieline.blank_width_mm, 2), "blank_height_mm": round(dieline.blank_height_mm, 2),
            "blank_area_m2": round(dieline.blank_area_m2, 6), "layout": layout.as_dict(),
        })  # fmt: skip
    spec = {
        "design_id": plan.design_id, "ds": ds, "segment_id": plan.segment_id, "segment_label": plan.segment_label,
        "motif": plan.motif, "variant": plan.variant, "artwork_source": source, "tile_mm": tile_mm,
        "pattern_sha256": pattern_digest(tile),
        "tile_px": int(tile.shape[0]), "dpi": round(design.dpi, 1),
        "inks": [{"name": n, "hex": c, "coverage": round(design.coverage()[k], 4)}
                 for k, (c, n) in enumerate(zip(plan.inks, plan.ink_names, strict=True), start=1)],
        "paper_coverage": round(design.coverage()[0], 4), "message": plan.message, "orders": plan.orders,
        "print_files": prints, "allocation": dict(plan.allocation),
    }  # fmt: skip
    files.append((spec_bytes(spec), prefix + keys.SPEC_NAME))
    return files


@contextlib.contextmanager
def child_processes_allowed() -> Iterator[None]:
    """Let an Airflow task start spawned worker processes, also on a Celery worker.

    Three things stand in the way in a real Airflow 3 task (not in ``dag.test()``):

    * Celery's prefork pool marks its children daemonic and Airflow forks each task from one, so
      multiprocessing refuses to start a pool ("daemonic processes are not allowed to have children");
      the task joins its pool before it returns, which is all the flag guards;
    * that pool child's current process is billiard's, whose auth key spawn cannot pickle;
    * spawned children re-run the launching script as ``__mp_main__``: the ``airflow`` CLI, whose
      import needs the metadata database that Airflow blocks in task processes. The workers need
      nothing from ``__main__`` (they run ``compose_design_files``), so its path is hidden meanwhile.
    """
    process = multiprocessing.current_process()  # in a Celery pool child: billiard's Process object
    config = process._config  # its setters would keep billiard's types: set the config itself
    before = {key: config[key] for key in ("daemon", "authkey") if key in config}
    config["daemon"] = False
    config["authkey"] = multiprocessing.process.AuthenticationString(bytes(process.authkey))
    main = sys.modules["__main__"]
    script = main.__dict__.pop("__file__", None) if getattr(main, "__spec__", None) is None else None
    try:
        yield
    finally:
        config.pop("daemon", None)
        config.update(before)
        if script is not None:
            main.__file__ = script


def compose_designs(
    plans: Sequence[PlannedDesign], tiles: dict[str, np.ndarray], ds: str, source: dict[str, Any],
    tile_mm: float = DEFAULT_TILE_MM, workers: int | None = None,
) -> Iterable[list[tuple[bytes, str]]]:  # fmt: skip
    """Compose every planned design, in worker processes when there is more than one core."""
    jobs = [(p, tiles[p.motif][p.variant % len(tiles[p.motif])], ds, source, tile_mm) for p in plans]
    workers = workers if workers is not None else min(len(jobs), os.cpu_count() or 1)
    if workers <= 1 or len(jobs) <= 1:
        for job in jobs:
            yield compose_design_files(*job)
        return
    # Spawned, not forked: the night's process may hold TensorFlow (the generator painted the tiles),
    # whose runtime does not survive a fork (a forked worker crawled through TF's clean-up for minutes).
    spawn = multiprocessing.get_context("spawn")
    with child_processes_allowed(), concurrent.futures.ProcessPoolExecutor(workers, mp_context=spawn) as pool:
        yield from pool.map(
            compose_design_files, *zip(*jobs, strict=True), chunksize=max(1, len(jobs) // (4 * workers))
        )


# -- the stage in three steps: plan the night, compose per segment, collect ---------------------------
# The DAG maps the middle step over the night's segments (one task each, spread over the workers, a
# failed segment retried alone); the CLI runs the three in one process.


def plan_night_designs(
    settings: Any, ds: str, designs_per_segment: int = DEFAULT_DESIGNS_PER_SEGMENT, tile_mm: float = DEFAULT_TILE_MM,
    use_model: bool = True, seed: int = 0,
) -> list[int]:  # fmt: skip
    """Plan the night's designs and paint their tiles once, into ``designs/work/ds=<ds>/``.

    Clears the night's staging: a rerun replaces it as a whole. Returns the night's segment ids, the
    units :func:`compose_segment_designs` works in.
    """
    if designs_per_segment < 1:
        raise InputError(f"designs per segment must be at least 1, got {designs_per_segment}")
    lake = open_lake(settings)
    started = time.perf_counter()
    profiles_key = keys.segment_profiles_key(ds)
    if not lake.exists(profiles_key):
        raise InputError(f"no segment profiles for ds={ds} ({lake.uri_of(profiles_key)}): run `segment --ds {ds}`")
    profiles = read_json(lake, profiles_key)["segments"]
    shipping = orders_shipping_next(lake, ds)  # each order's customer segment (and its boxes, if not sized yet)
    # The night's parcels as the right-sizing stage wrote them; sized (and written) here when it has not run.
    parcels = read_parcels(lake, ds)
    if parcels is None:
        per_order, sizing = right_size_night(settings, ds, shipping=shipping)
        write_parcels(lake, ds, per_order, sizing)
    else:
        per_order, sizing = parcels
    lines = shipping[0]
    policy = load_policy()
    stats = latest_stats(lake, ds, policy.lookback_days)  # the newest feedback posteriors; none: uniform
    posteriors, palettes = (posteriors_by_segment(pd.DataFrame(stats[kind])) if stats and stats[kind] else None
                            for kind in ("motif", "palette"))  # fmt: skip
    plans, order_designs = plan_designs(profiles, per_order, _segment_of_orders(lake, ds, lines),
                                        designs_per_segment, ds=ds, posteriors=posteriors, policy=policy,
                                        seed=seed, palette_posteriors=palettes)  # fmt: skip
    motifs = sorted({p.motif for p in plans})
    per_motif = 1 + max(p.variant for p in plans)
    t_tiles = time.perf_counter()
    tiles, source = night_tiles(motifs, per_motif, seed=seed, use_model=use_model)
    removed = lake.delete_prefix(staging_prefix(ds))  # a rerun replaces the night's staging as a whole
    work = keys.design_work_prefix(ds)
    lake.delete_prefix(work)
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **tiles)
    lake.write_bytes(work + keys.DESIGN_TILES_NAME, buffer.getvalue())
    write_parquet(lake, work + keys.ORDER_DESIGNS_NAME,
                  pa.Table.from_pandas(order_designs[list(PLANNED_ORDER_COLUMNS)].reset_index(drop=True),
                                       preserve_index=False))  # fmt: skip
    write_json(lake, work + keys.DESIGN_WORK_NAME, {
        "ds": ds, "tile_mm": tile_mm, "artwork_source": source.as_dict(),
        "designs": [dataclasses.asdict(p) for p in plans], "replaced_files": removed,
        "orders_unfit": int((per_order["status"] == "unfit").sum()),
        "right_sizing": {k: sizing[k] for k in ("orders", "fitted", "unfit", "mean_esr", "p95_esr", "unboxed_orders")
                         if k in sizing},  # unboxed orders still go to their warehouse, with the reason
        "feedback": {"stats_ds": stats["ds"] if stats else None, "policy_version": policy.version,
                     "allocation": allocation_summary(plans), "from_posteriors": bool(posteriors or palettes)},
        "seconds": {"plan": round(t_tiles - started, 3), "tiles": round(time.perf_counter() - t_tiles, 3)},
    })  # fmt: skip
    return sorted({p.segment_id for p in plans})


PLANNED_ORDER_COLUMNS = (
    "order_id", "warehouse_id", "ship_date", "segment_id", "design_id", "box_code", "style",
    "inner_length_mm", "inner_width_mm", "inner_height_mm", "board_grade", "esr", "parcel", "parcels", "products",
)  # fmt: skip
"""What the plan knows of each fitted parcel: its box, units, segment and design (the work area's table)."""
ORDER_DESIGN_COLUMNS = (*PLANNED_ORDER_COLUMNS, "print_file")
"""``order_designs.parquet``: the planned columns and the print file the collect step adds."""


def _night_work(lake: Lake, ds: str) -> dict[str, Any]:
    key = keys.design_work_prefix(ds) + keys.DESIGN_WORK_NAME
    if not lake.exists(key):
        raise InputError(f"no design plan for ds={ds} ({lake.uri_of(key)}): plan the night's designs first "
                         f"(`packaging-pipeline designs --ds {ds}`, or the DAG's plan_designs task)")  # fmt: skip
    work = read_json(lake, key)
    work["designs"] = [_planned_design(d) for d in work["designs"]]
    return work


def _planned_design(d: dict[str, Any]) -> PlannedDesign:
    """A :class:`PlannedDesign` back from its JSON form (lists back to tuples)."""
    boxes = tuple((code, style, (float(inner[0]), float(inner[1]), float(inner[2])), board)
                  for code, style, inner, board in d["boxes"])  # fmt: skip
    return PlannedDesign(**{**d, "inks": tuple(d["inks"]), "ink_names": tuple(d["ink_names"]), "boxes": boxes})


def compose_segment_designs(
    settings: Any, ds: str, segment_ids: Sequence[int], workers: int | None = None
) -> dict[str, Any]:
    """Compose and stage the designs of ``segment_ids`` from the night's plan; replaces just those segments.

    Returns what it staged: segments, designs, print files, files and bytes written, seconds.
    """
    lake = open_lake(settings)
    started = time.perf_counter()
    work = _night_work(lake, ds)
    wanted = {int(s) for s in segment_ids}
    unknown = sorted(wanted - {p.segment_id for p in work["designs"]})
    if unknown:
        raise InputError(f"segment(s) {unknown} have no designs in the plan of ds={ds}; plan the night again")
    plans = [p for p in work["designs"] if p.segment_id in wanted]
    with np.load(io.BytesIO(lake.read_bytes(keys.design_work_prefix(ds) + keys.DESIGN_TILES_NAME))) as stored:
        tiles = {motif: stored[motif] for motif in {p.motif for p in plans}}
    for segment_id in sorted(wanted):
        lake.delete_prefix(keys.segment_staging_prefix(ds, segment_id))
    composed: list[tuple[bytes, str]] = []
    with track("composing designs", len(plans), "designs") as done:
        for files in compose_designs(plans, tiles, ds, work["artwork_source"], work["tile_mm"], workers):
            composed.extend(files)
            done.advance()
    written = lake.upload_many(composed)  # one transfer pool
    return {
        "segments": sorted(wanted), "designs": len(plans), "print_files": sum(len(p.boxes) for p in plans),
        "files_written": written, "bytes_written": sum(len(b) for b, _ in composed),
        "seconds": round(time.perf_counter() - started, 3),
    }  # fmt: skip


def collect_night_designs(settings: Any, ds: str, composed: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """Finish the stage: check every planned design is staged, then write ``order_designs.parquet`` and,
    last, ``plan.json`` (without it the staging is incomplete)."""
    lake = open_lake(settings)
    started = time.perf_counter()
    work = _night_work(lake, ds)
    composed = list(composed)
    plans: list[PlannedDesign] = work["designs"]
    prefix = staging_prefix(ds)
    staged = {o.key for o in lake.list(prefix + "segment=") if o.key.endswith("/" + keys.SPEC_NAME)}
    missing = [p for p in plans if design_prefix(ds, p.segment_id, p.design_id) + keys.SPEC_NAME not in staged]
    if missing:
        segments = sorted({p.segment_id for p in missing})
        raise InputError(f"ds={ds}: {len(missing)} planned design(s) of segment(s) {segments} are not staged "
                         f"(e.g. {missing[0].design_id}); rerun the design task of those segments")  # fmt: skip
    work_prefix = keys.design_work_prefix(ds)
    order_designs = read_parquet(lake, work_prefix + keys.ORDER_DESIGNS_NAME).to_pandas()
    print_key = {(p.design_id, code): print_file_key(ds, p.segment_id, p.design_id, code, inner)
                 for p in plans for code, _, inner, _ in p.boxes}  # fmt: skip
    order_designs = order_designs.assign(
        print_file=[
            print_key.get((d, b)) for d, b in zip(order_designs["design_id"], order_designs["box_code"], strict=True)
        ]  # fmt: skip
    )
    write_parquet(
        lake,
        prefix + keys.ORDER_DESIGNS_NAME,
        pa.Table.from_pandas(order_designs[list(ORDER_DESIGN_COLUMNS)].reset_index(drop=True), preserve_index=False),
    )
    compose_s = round(sum(float(c["seconds"]) for c in composed), 3)
    seconds = {**work["seconds"], "compose_and_write": compose_s}
    seconds["total"] = round(seconds["plan"] + seconds["tiles"] + compose_s + time.perf_counter() - started, 3)
    plan = {
        "ds": ds, "artwork_source": work["artwork_source"], "segments": len({p.segment_id for p in plans}),
        "designs": len(plans), "print_files": sum(len(p.boxes) for p in plans),
        "files_written": sum(int(c["files_written"]) for c in composed) + 1,
        "bytes_written": sum(int(c["bytes_written"]) for c in composed),
        "orders_with_design": int(order_designs["design_id"].notna().sum()), "orders_unfit": work["orders_unfit"],
        "replaced_files": work["replaced_files"], "seconds": seconds, "right_sizing": work["right_sizing"],
        "design_ids": [p.design_id for p in plans], "design_tasks": len(composed),
        "feedback": {k: work["feedback"][k] for k in ("stats_ds", "policy_version", "allocation")},
    }  # fmt: skip
    if work["feedback"]["from_posteriors"]:  # analysts see in MLflow which arms the feedback bought each segment
        plan["feedback"]["mlflow_run_id"] = log_allocation(ds, work["feedback"]["stats_ds"],
                                                           plan["feedback"]["allocation"])  # fmt: skip
    lake.write_bytes(prefix + keys.PLAN_NAME, json.dumps(plan, indent=2, sort_keys=True, default=str).encode("utf-8"))
    log.info("ds=%s: %d designs, %d print files in %.1f s", ds, plan["designs"], plan["print_files"], seconds["total"])
    return plan


def generate_night_designs(
    settings: Any, ds: str, designs_per_segment: int = DEFAULT_DESIGNS_PER_SEGMENT, tile_mm: float = DEFAULT_TILE_MM,
    use_model: bool = True, workers: int | None = None, seed: int = 0,
) -> dict[str, Any]:  # fmt: skip
    """The whole design stage in one process (CLI ``designs``): plan, every segment in one pool, collect."""
    segments = plan_night_designs(settings, ds, designs_per_segment, tile_mm, use_model, seed)
    return collect_night_designs(settings, ds, [compose_segment_designs(settings, ds, segments, workers)])
