"""Benchmark of the night's bulk design stage: designs per second end to end against a PNG-encoding floor.

Usage (see docs/benchmarks.md for how results are recorded)::

    .venv/bin/python bench/design_bench.py                      # 20 segments x 8 designs x 4 box sizes
    .venv/bin/python bench/design_bench.py --segments 2 --designs 2 --boxes 2 --out /tmp/trial.json

Why these phases: the issue asks whether the whole design stage costs at most 2x what PNG encoding of the
same images costs on its own, and whether a night (20 x 8 x 4) fits in two minutes on 2 cores. One process
measures, in this order, with the 1-minute load average recorded around every phase:

* **plan** (not timed as part of the night): a synthetic night built without Spark. ``PlannedDesign`` objects
  exactly as ``batch.plan_designs`` makes them (motif rotated by segment, design ids, inks from
  ``inks_for_slots``), palettes drawn from ``vocabulary.COLOR_HEX``, messages from the packaged
  ``messages.yaml`` by a cycled top category, and ``--boxes`` sizes from the packaged box catalog, 0427
  mailers and 0201 slotted boxes mixed; every design is printed on every box size.
* **end to end, in sequence** (the headline): (a) tiles: ``night_tiles(..., use_model=False)``, i.e. the
  *procedural* corpus + ``upscale_separation`` (the GAN's generation rate is in ``bench/gan_bench.py``);
  (b) ``compose_designs(..., workers=N)`` materialised: PDF, SVG, preview/mockup rasters, artwork/preview/
  mockup PNG encoding and spec.json per design, in N worker processes as the night runs it; (c) one
  ``S3Lake.upload_many`` of every file to a moto S3 server over HTTP on 127.0.0.1 (a separate process on
  the same cores, so its CPU is counted against the night: real S3 would not be). End to end = a + b + c,
  without overlap.
* **end to end, pipelined** (``--no-pipelined`` skips it): the loop of ``generate_night_designs``: tiles,
  then ``upload_many`` per design as ``compose_designs`` yields it, into a second prefix.
* **PNG floor**: ``png_bytes`` alone on the same artwork, preview and mockup arrays of every design,
  recomputed with ``colour_tile`` / ``preview_rgb`` / ``mockup_rgb`` outside the timed region. Same worker
  count as (b): N forked processes each recompute their share of the arrays, meet at a barrier, and only then
  encode; the floor is the wall time from the first encode start to the last encode end (no pickling or IPC
  inside it; with N = 1 everything runs in this process, as ``compose_designs`` does).
* **per-step split**: a sample of designs composed in this process step by step, replicating
  ``batch.compose_design_files`` (its output is checked byte for byte against phase b), so the share of each step is
  known; font subsetting inside the PDF and the PNGs embedded in the SVG are timed as sub-steps.
* **machine reference**: a numpy float32 1024x1024 matmul in GFLOP/s, in the same run.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import hashlib
import multiprocessing as mp
import os
import resource
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import defaultdict
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import load, machine_base, matmul_reference, write_result
from packaging_pipeline.core.colour import PAPER_HEX
from packaging_pipeline.core.config import S3Options
from packaging_pipeline.core.formats import dumps
from packaging_pipeline.core.keys import design_prefix, print_file_name, staging_prefix
from packaging_pipeline.core.storage import S3Lake
from packaging_pipeline.core.vocabulary import COLOR_HEX
from packaging_pipeline.design import pdf as pdf_mod
from packaging_pipeline.design import print_files as print_files_mod
from packaging_pipeline.design.artwork import ArtworkSource, inks_for_slots, night_tiles
from packaging_pipeline.design.batch import PlannedDesign, compose_designs, load_messages
from packaging_pipeline.design.boxes import load_box_catalog
from packaging_pipeline.design.compose import DEFAULT_TILE_MM, Design, clean_message, layout_for
from packaging_pipeline.design.dielines import make_dieline
from packaging_pipeline.design.previews import colour_tile, mockup_rgb, png_bytes, preview_rgb
from packaging_pipeline.design.print_files import design_pdf, design_svg
from packaging_pipeline.gan.motifs import MOTIFS

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
DS = "2026-11-01"
TARGET_NIGHT_S = 120.0
TARGET_FLOOR_RATIO = 2.0
Files = list[tuple[bytes, str]]


def load1() -> float:
    return load()[0]


# --------------------------------------------------------------------------------------------------
# The synthetic night


def pick_boxes(n: int) -> tuple[tuple[str, str, tuple[float, float, float], str], ...]:
    """``n`` catalog boxes, 0427 and 0201 alternating, spread over each style's size range.

    Sorted by code, as ``plan_designs`` sorts a segment's boxes, so the first box (the one the previews
    show) is a 0201 whenever there is one, as on a real night.
    """
    catalog = load_box_catalog()
    by_style = {s: [b for b in catalog.boxes if b.style == s] for s in ("0427", "0201")}  # ordered by board area
    want = {"0427": (n + 1) // 2, "0201": n // 2}
    chosen = []
    for style, k in want.items():
        boxes = by_style[style]
        # k evenly spaced sizes, neither the smallest nor the largest when there is room for that
        last = len(boxes) - 1
        spots = np.linspace(0, last, k + 2)[1:-1] if k + 2 <= len(boxes) else np.linspace(0, last, k)
        chosen += [boxes[round(float(x))] for x in spots]
    return tuple(sorted(((b.code, b.style, tuple(b.inner_mm), b.board) for b in chosen), key=lambda t: t[0]))


def synthetic_plan(segments: int, designs: int, boxes: int, seed: int = 7) -> list[PlannedDesign]:
    """The night's ``PlannedDesign``s as ``batch.plan_designs`` makes them, without Spark or orders."""
    rng = np.random.default_rng(seed)
    messages = load_messages()
    categories = [c for c in messages if c != "default"]
    colours = [c for c in COLOR_HEX if c != "white"]  # white is the paper: inks_for_slots would skip it
    box_tuples = pick_boxes(boxes)
    stamp = DS.replace("-", "")
    planned = []
    for sid in range(segments):
        names = [str(c) for c in rng.choice(colours, size=int(rng.integers(2, 4)), replace=False)]
        palette = [COLOR_HEX[c] for c in names]
        by_hex = dict(zip(palette, names, strict=True))
        inks = tuple(inks_for_slots(palette, PAPER_HEX))
        message = clean_message(messages[categories[sid % len(categories)]])
        for i in range(designs):
            planned.append(PlannedDesign(
                f"d{stamp}-s{sid}-{i:02d}", sid, f"segment {sid}", MOTIFS[(i + sid) % len(MOTIFS)],
                i // len(MOTIFS), inks, tuple(by_hex[c] for c in inks), message, box_tuples, 10,
            ))  # fmt: skip
    return planned


# --------------------------------------------------------------------------------------------------
# The S3 endpoint


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def moto_server(log_dir: str) -> Iterator[tuple[str, subprocess.Popen]]:
    """A moto S3 server in its own process on a free 127.0.0.1 port (conftest runs the same server in a
    thread; a process keeps it off this process's GIL). Always stopped on exit, error or SIGTERM."""
    port = free_port()
    exe = Path(sys.executable).parent / "moto_server"
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "moto.server"]
    log = open(Path(log_dir) / "moto.log", "wb")  # noqa: SIM115 - closed in finally
    proc = subprocess.Popen([*cmd, "-H", "127.0.0.1", "-p", str(port)], stdout=log, stderr=subprocess.STDOUT)
    previous = signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"moto_server exited with {proc.returncode}; see {log.name}")
            try:
                urllib.request.urlopen(url + "/moto-api/", timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"moto_server did not answer on {url} within 30 s") from None
                time.sleep(0.2)
        yield url, proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
        signal.signal(signal.SIGTERM, previous)


def proc_cpu_s(pid: int) -> float:
    """utime + stime of a process, from /proc (the moto server's share of the upload)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def children_cpu_s() -> float:
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


# --------------------------------------------------------------------------------------------------
# Phases


def time_sequential(
    plans: Sequence[PlannedDesign], lake: S3Lake, workers: int, tile_mm: float, seed: int, moto_pid: int
) -> tuple[dict[str, Any], list[Files], dict[str, np.ndarray], ArtworkSource]:
    """(a) tiles, (b) compose all designs, (c) upload all files; each phase alone, so a + b + c has no overlap."""
    out: dict[str, Any] = {}
    motifs = sorted({p.motif for p in plans})
    per_motif = 1 + max(p.variant for p in plans)

    before = load1()
    t = time.perf_counter()
    tiles, source = night_tiles(motifs, per_motif, seed=seed, use_model=False)
    out["tiles"] = {"s": time.perf_counter() - t, "tiles": len(motifs) * per_motif, "source": source.as_dict(),
                    "load_before": before, "load_after": load1()}  # fmt: skip
    print(f"  (a) tiles: {out['tiles']['s']:.3f} s ({source.kind})", flush=True)

    before, cpu0 = load1(), children_cpu_s()
    t = time.perf_counter()
    results = list(compose_designs(plans, tiles, DS, source, tile_mm, workers))
    wall = time.perf_counter() - t
    cpu = children_cpu_s() - cpu0 if workers > 1 else None
    out["compose"] = {"s": wall, "workers": workers, "worker_cpu_s": cpu, "load_before": before,
                      "load_after": load1()}  # fmt: skip
    print(f"  (b) compose + encode: {wall:.2f} s", flush=True)

    files = [f for r in results for f in r]
    before, client0, server0 = load1(), time.process_time(), proc_cpu_s(moto_pid)
    t = time.perf_counter()
    written = lake.upload_many(files)
    wall = time.perf_counter() - t
    out["upload"] = {"s": wall, "files": written, "bytes": sum(len(b) for b, _ in files),
                     "client_cpu_s": time.process_time() - client0, "server_cpu_s": proc_cpu_s(moto_pid) - server0,
                     "load_before": before, "load_after": load1()}  # fmt: skip
    print(f"  (c) upload: {wall:.2f} s, {written} files", flush=True)
    listed = lake.list(staging_prefix(DS))
    out["upload"]["verified"] = len(listed) == len(files) and sum(o.size for o in listed) == out["upload"]["bytes"]
    out["end_to_end_s"] = out["tiles"]["s"] + out["compose"]["s"] + out["upload"]["s"]
    return out, results, tiles, source


def time_pipelined(
    plans: Sequence[PlannedDesign], lake: S3Lake, workers: int, tile_mm: float, seed: int
) -> dict[str, Any]:
    """The loop of ``generate_night_designs``: tiles, then one ``upload_many`` per design as it is composed."""
    motifs = sorted({p.motif for p in plans})
    per_motif = 1 + max(p.variant for p in plans)
    before = load1()
    t0 = time.perf_counter()
    tiles, source = night_tiles(motifs, per_motif, seed=seed, use_model=False)
    t1 = time.perf_counter()
    upload_s, written, size = 0.0, 0, 0
    for files in compose_designs(plans, tiles, DS, source, tile_mm, workers):
        t = time.perf_counter()
        written += lake.upload_many(files)
        upload_s += time.perf_counter() - t
        size += sum(len(b) for b, _ in files)
    wall = time.perf_counter() - t0
    return {"s": wall, "tiles_s": t1 - t0, "blocked_in_upload_s": upload_s,
            "waiting_for_compose_s": wall - (t1 - t0) - upload_s, "files": written, "bytes": size,
            "load_before": before, "load_after": load1()}  # fmt: skip


def _floor_arrays(plan: PlannedDesign, tile: np.ndarray, tile_mm: float) -> list[np.ndarray]:
    """artwork, preview and mockup arrays of one design, exactly as ``compose_design_files`` draws them."""
    design = Design(plan.design_id, tile, plan.inks, plan.ink_names, plan.message, tile_mm)
    code, style, inner, board = plan.boxes[0]
    dieline = make_dieline(style, inner, board)
    flat = preview_rgb(dieline, design, layout_for(dieline, design))
    return [colour_tile(design), flat, mockup_rgb(dieline, flat)]


def _floor_worker(jobs: list[tuple[PlannedDesign, np.ndarray]], tile_mm: float, barrier: Any, queue: Any) -> None:
    """Recompute this shard's arrays (untimed), wait for every worker, then time ``png_bytes`` only."""
    try:
        arrays = [a for plan, tile in jobs for a in _floor_arrays(plan, tile, tile_mm)]
        if barrier is not None:
            barrier.wait(timeout=3600)
        cpu0 = time.process_time()
        start = time.perf_counter()  # CLOCK_MONOTONIC: comparable across processes on Linux
        encoded = [png_bytes(a) for a in arrays]
        end = time.perf_counter()
        queue.put({"start": start, "end": end, "cpu_s": time.process_time() - cpu0, "images": len(arrays),
                   "bytes": sum(len(b) for b in encoded), "pixels": sum(a.shape[0] * a.shape[1] for a in arrays),
                   "sha256": hashlib.sha256(b"".join(encoded)).hexdigest()})  # fmt: skip
    except BaseException as exc:  # noqa: BLE001 - reported to the parent, which raises
        queue.put({"error": repr(exc)})
        if barrier is not None:
            barrier.abort()


def time_png_floor(
    plans: Sequence[PlannedDesign], tiles: dict[str, np.ndarray], workers: int, tile_mm: float
) -> dict[str, Any]:
    """PNG encoding alone of every design's artwork, preview and mockup, on the same number of workers."""
    jobs = [(p, tiles[p.motif][p.variant % len(tiles[p.motif])]) for p in plans]
    before = load1()
    if workers <= 1 or len(jobs) <= 1:
        q: Any = mp.get_context("fork").SimpleQueue()
        _floor_worker(jobs, tile_mm, None, q)
        parts = [q.get()]
        n = 1
    else:
        ctx = mp.get_context("fork")  # compose_designs' pool forks as well (Linux default on 3.11)
        n = min(workers, len(jobs))
        barrier, q = ctx.Barrier(n), ctx.SimpleQueue()
        procs = [ctx.Process(target=_floor_worker, args=(jobs[i::n], tile_mm, barrier, q)) for i in range(n)]
        for p in procs:
            p.start()
        parts = [q.get() for _ in procs]
        for p in procs:
            p.join()
    errors = [p["error"] for p in parts if "error" in p]
    if errors:
        raise RuntimeError(f"PNG floor worker failed: {errors}")
    wall = max(p["end"] for p in parts) - min(p["start"] for p in parts)
    return {"s": wall, "workers": n, "images": sum(p["images"] for p in parts),
            "bytes": sum(p["bytes"] for p in parts), "megapixels": sum(p["pixels"] for p in parts) / 1e6,
            "cpu_s": sum(p["cpu_s"] for p in parts), "per_worker_s": [p["end"] - p["start"] for p in parts],
            "load_before": before, "load_after": load1()}  # fmt: skip


class StepTimer:
    """Accumulates wall seconds per named step."""

    def __init__(self) -> None:
        self.s: dict[str, float] = defaultdict(float)
        self.n: dict[str, int] = defaultdict(int)

    @contextlib.contextmanager
    def __call__(self, name: str) -> Iterator[None]:
        t = time.perf_counter()
        try:
            yield
        finally:
            self.s[name] += time.perf_counter() - t
            self.n[name] += 1


@contextlib.contextmanager
def sub_step_probes(timer: StepTimer) -> Iterator[None]:
    """Time font subsetting (inside the PDF) and the PNGs embedded in the SVG, without changing them."""
    original_subset, original_uri = pdf_mod.TrueTypeFont.subset, print_files_mod._png_data_uri

    def subset(self: Any, codes: set[int]) -> bytes:
        with timer("pdf: font subset"):
            return original_subset(self, codes)

    def png_data_uri(rgba: np.ndarray) -> str:
        with timer("svg: embedded PNGs"):
            return original_uri(rgba)

    pdf_mod.TrueTypeFont.subset = subset  # type: ignore[method-assign]
    print_files_mod._png_data_uri = png_data_uri
    try:
        yield
    finally:
        pdf_mod.TrueTypeFont.subset = original_subset  # type: ignore[method-assign]
        print_files_mod._png_data_uri = original_uri


def compose_steps(plan: PlannedDesign, tile: np.ndarray, source: dict[str, Any], tile_mm: float, t: StepTimer) -> Files:
    """``batch.compose_design_files`` step by step, under timers; must give the same files in the same order."""
    with t("design + colour tile"):
        design = Design(plan.design_id, tile, plan.inks, plan.ink_names, plan.message, tile_mm)
        prefix = design_prefix(DS, plan.segment_id, plan.design_id)
        art = colour_tile(design)
    with t("PNG encoding (artwork, preview, mockup)"):
        files: Files = [(png_bytes(art), prefix + "artwork.png")]
    prints = []
    for i, (code, style, inner, board) in enumerate(plan.boxes):
        with t("dieline"):
            dieline = make_dieline(style, inner, board)
        with t("layout"):
            layout = layout_for(dieline, design)
        name = print_file_name(code, inner)
        with t("PDF"):
            files.append((design_pdf(dieline, design, layout), prefix + name + ".pdf"))
        with t("SVG"):
            files.append((design_svg(dieline, design, layout).encode("utf-8"), prefix + name + ".svg"))
        if i == 0:
            with t("preview raster"):
                flat = preview_rgb(dieline, design, layout)
            with t("PNG encoding (artwork, preview, mockup)"):
                files.append((png_bytes(flat), prefix + "preview.png"))
            with t("mockup raster"):
                mock = mockup_rgb(dieline, flat)
            with t("PNG encoding (artwork, preview, mockup)"):
                files.append((png_bytes(mock), prefix + "mockup.png"))
        with t("spec"):
            prints.append({
                "box_code": code, "style": style, "inner_mm": list(inner), "board": board,
                "pdf": prefix + name + ".pdf", "svg": prefix + name + ".svg",
                "blank_width_mm": round(dieline.blank_width_mm, 2),
                "blank_height_mm": round(dieline.blank_height_mm, 2),
                "blank_area_m2": round(dieline.blank_area_m2, 6), "layout": layout.as_dict(),
            })  # fmt: skip
    with t("spec"):
        spec = {
            "design_id": plan.design_id, "ds": DS, "segment_id": plan.segment_id,
            "segment_label": plan.segment_label, "motif": plan.motif, "variant": plan.variant,
            "artwork_source": source, "tile_mm": tile_mm, "tile_px": int(tile.shape[0]), "dpi": round(design.dpi, 1),
            "inks": [{"name": n, "hex": c, "coverage": round(design.coverage()[k], 4)}
                     for k, (c, n) in enumerate(zip(plan.inks, plan.ink_names, strict=True), start=1)],
            "paper_coverage": round(design.coverage()[0], 4), "message": plan.message, "orders": plan.orders,
            "print_files": prints,
        }  # fmt: skip
        files.append((dumps(spec, indent=2, sort_keys=True).encode("utf-8"), prefix + "spec.json"))
    return files


def time_steps(
    plans: Sequence[PlannedDesign], results: Sequence[Files], tiles: dict[str, np.ndarray], source: ArtworkSource,
    tile_mm: float, sample: int,
) -> dict[str, Any]:  # fmt: skip
    """Per-step wall time for ``sample`` designs spread over the night, in this process (one warm-up first)."""
    k = min(sample, len(plans))
    idx = sorted({round(i * (len(plans) - 1) / max(1, k - 1)) for i in range(k)})
    src = source.as_dict()

    def tile_of(p: PlannedDesign) -> np.ndarray:
        return tiles[p.motif][p.variant % len(tiles[p.motif])]

    compose_steps(plans[idx[0]], tile_of(plans[idx[0]]), src, tile_mm, StepTimer())  # warm-up: font, logo
    timer = StepTimer()
    before = load1()
    identical = True
    with sub_step_probes(timer):
        t = time.perf_counter()
        for i in idx:
            files = compose_steps(plans[i], tile_of(plans[i]), src, tile_mm, timer)
            identical &= files == results[i]
        wall = time.perf_counter() - t
    main = {k: v for k, v in timer.s.items() if ":" not in k}
    timed = sum(main.values())
    return {"designs": len(idx), "print_files": sum(len(plans[i].boxes) for i in idx), "wall_s": wall,
            "steps_s": dict(sorted(main.items(), key=lambda kv: -kv[1])), "calls": dict(timer.n),
            "sub_steps_s": {k: v for k, v in timer.s.items() if ":" in k}, "untimed_s": wall - timed,
            "identical_to_compose_designs": identical, "load_before": before, "load_after": load1()}  # fmt: skip


def font_subset_variants(codes: set[int], repeat: int = 5) -> dict[str, Any]:
    """One PDF's font subset as the library does it, and with GSUB/GPOS/GDEF removed from the font before
    subsetting (fontTools decompiles them even when told to drop them; a simple WinAnsi TrueType font in a
    PDF never uses them). Evidence for the suggestion only: the library is not changed."""
    import io

    from fontTools import subset
    from fontTools.ttLib import TTFont

    font = pdf_mod.load_font()

    def without_layout() -> bytes:
        options = subset.Options()
        options.notdef_outline, options.recalc_timestamp = True, False
        options.name_IDs = [0, 1, 2, 3, 4, 5, 6]
        options.drop_tables += ["FFTM"]
        tt = TTFont(io.BytesIO(font.data), recalcTimestamp=False)
        for tag in ("GSUB", "GPOS", "GDEF"):
            if tag in tt:
                del tt[tag]
        sub = subset.Subsetter(options)
        sub.populate(unicodes=sorted({ord(c) for c in (pdf_mod._winansi_char(k) for k in codes) if c is not None}))
        sub.subset(tt)
        buf = io.BytesIO()
        tt.save(buf)
        return buf.getvalue()

    out: dict[str, Any] = {"codes": len(codes)}
    for name, fn in (("library", lambda: font.subset(codes)), ("layout_tables_removed", without_layout)):
        times, size = [], 0
        for _ in range(repeat):
            t = time.perf_counter()
            size = len(fn())
            times.append(time.perf_counter() - t)
        out[name] = {"s_median": float(np.median(times)), "bytes": size}
    return out


# --------------------------------------------------------------------------------------------------
# Orchestration


def machine() -> dict[str, Any]:
    """Where and on what code the figures were taken (uncommitted library edits included)."""
    import boto3
    import fontTools
    import moto
    import PIL

    lib = {f: hashlib.sha256((REPO / "packaging_pipeline" / f).read_bytes()).hexdigest()[:12]
           for f in ("design/batch.py", "design/compose.py", "design/pdf.py", "design/artwork.py",
                     "design/dielines.py", "storage.py")}  # fmt: skip
    return {
        **machine_base(),
        "library_sha256": lib,
        "pillow": PIL.__version__,
        "fonttools": fontTools.version,
        "boto3": boto3.__version__,
        "moto": moto.__version__,
    }


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Every measurement of one run, in one process (plus its workers and the moto server)."""
    started = dt.datetime.now().isoformat(timespec="seconds")
    result: dict[str, Any] = {"args": vars(args).copy(), "machine": machine(), "started": started, "load_start": load()}
    plans = synthetic_plan(args.segments, args.designs, args.boxes, args.seed)
    boxes = plans[0].boxes
    result["night"] = {"segments": args.segments, "designs_per_segment": args.designs, "designs": len(plans),
                       "boxes": [{"code": c, "style": s, "inner_mm": list(i), "board": b} for c, s, i, b in boxes],
                       "print_files": sum(len(p.boxes) for p in plans),
                       "distinct_messages": len({p.message for p in plans}),
                       "motifs": sorted({p.motif for p in plans})}  # fmt: skip
    print(f"night: {len(plans)} designs x {len(boxes)} boxes ({', '.join(b[0] for b in boxes)}), "
          f"workers {args.workers}", flush=True)  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="design-bench-") as tmp, moto_server(tmp) as (url, proc):
        options = S3Options(endpoint_url=url, region_name="us-east-1", aws_access_key_id="testing",
                            aws_secret_access_key="testing")  # fmt: skip  # pragma: allowlist secret - moto takes any
        lake = S3Lake("design-bench", "lake", options)
        lake.client.create_bucket(Bucket="design-bench")
        result["s3"] = {"endpoint": "moto_server (separate process) on 127.0.0.1", "uri": lake.uri,
                        "max_concurrency": options.max_concurrency}  # fmt: skip
        print("end to end, in sequence:", flush=True)
        seq, results, tiles, source = time_sequential(plans, lake, args.workers, args.tile_mm, args.seed, proc.pid)
        result["sequential"] = seq
        if args.pipelined:
            print("end to end, pipelined (generate_night_designs' loop):", flush=True)
            result["pipelined"] = time_pipelined(plans, S3Lake("design-bench", "pipelined", options), args.workers,
                                                 args.tile_mm, args.seed)  # fmt: skip
            print(f"  {result['pipelined']['s']:.2f} s", flush=True)
    print("PNG floor:", flush=True)
    result["png_floor"] = floor = time_png_floor(plans, tiles, args.workers, args.tile_mm)
    composed_png = sum(len(b) for r in results for b, k in r if k.endswith(".png"))
    floor["same_bytes_as_compose"] = floor["bytes"] == composed_png
    print(f"  {floor['s']:.2f} s for {floor['images']} images", flush=True)
    print(f"per-step split ({min(args.sample, len(plans))} designs, 1 process):", flush=True)
    result["steps"] = time_steps(plans, results, tiles, source, args.tile_mm, args.sample)
    print(f"  {result['steps']['wall_s']:.2f} s", flush=True)
    codes = set(pdf_mod.load_font().encode(plans[0].message))
    result["font_subset"] = font_subset_variants(codes)
    result["matmul_reference"] = matmul_reference()
    result["summary"] = summarise(result)
    result["finished"] = dt.datetime.now().isoformat(timespec="seconds")
    result["load_end"] = load()
    return result


def summarise(r: dict[str, Any]) -> dict[str, Any]:
    """Throughputs, target checks, shares and a projection, from the raw measurements."""
    seq, floor, steps, night = r["sequential"], r["png_floor"], r["steps"], r["night"]
    e2e = seq["end_to_end_s"]
    designs, prints = night["designs"], night["print_files"]
    s: dict[str, Any] = {
        "end_to_end_s": e2e,
        "designs_per_s": designs / e2e,
        "print_files_per_s": prints / e2e,
        "files_written": seq["upload"]["files"],
        "bytes_written": seq["upload"]["bytes"],
        "night_target_s": TARGET_NIGHT_S,
        "night_target_met": e2e <= TARGET_NIGHT_S,
        "png_floor_s": floor["s"],
        "ratio_end_to_end_over_floor": e2e / floor["s"],
        "ratio_compose_over_floor": seq["compose"]["s"] / floor["s"],
        "floor_ratio_target": TARGET_FLOOR_RATIO,
        "floor_ratio_target_met": e2e / floor["s"] <= TARGET_FLOOR_RATIO,
        "phase_share": {k: seq[k]["s"] / e2e for k in ("tiles", "compose", "upload")},
    }
    if "pipelined" in r:
        p = r["pipelined"]["s"]
        s["pipelined"] = {"s": p, "designs_per_s": designs / p, "night_target_met": p <= TARGET_NIGHT_S,
                          "ratio_over_floor": p / floor["s"]}  # fmt: skip
    total = sum(steps["steps_s"].values())
    s["step_share"] = {k: v / total for k, v in steps["steps_s"].items()}
    s["sub_step_share"] = {k: v / total for k, v in steps["sub_steps_s"].items()}
    per_design = total / steps["designs"]
    s["single_process_s_per_design"] = per_design
    # Projection: font subsetting done once per distinct message (a cache keyed by the code set) instead
    # of once per PDF; every other step unchanged, compose scaled by the share it loses.
    subset_share = s["sub_step_share"].get("pdf: font subset", 0.0)
    keep = min(1.0, night["distinct_messages"] * seq["compose"]["workers"] / max(1, prints))
    compose_cached = seq["compose"]["s"] * (1 - subset_share * (1 - keep))
    s["projection_font_subset_cached"] = {
        "compose_s": compose_cached,
        "end_to_end_s": e2e - seq["compose"]["s"] + compose_cached,
        "ratio_over_floor": (e2e - seq["compose"]["s"] + compose_cached) / floor["s"],
    }
    # Parallel efficiency: the single-process cost of the night over what the workers' wall time offers.
    s["compose_parallel_efficiency"] = per_design * designs / (seq["compose"]["s"] * seq["compose"]["workers"])
    return s


def table(r: dict[str, Any]) -> str:
    """The human-readable summary printed at the end of a run."""
    m, n, seq, fl, st, s = r["machine"], r["night"], r["sequential"], r["png_floor"], r["steps"], r["summary"]
    mm, fs = r["matmul_reference"], r["font_subset"]
    w = seq["compose"]["workers"]
    mb = s["bytes_written"] / 1e6
    lines = [
        f"machine: {m['nproc']} CPUs ({m['cpu']}), Python {m['python']}, numpy {m['numpy']}, Pillow {m['pillow']}, "
        f"fontTools {m['fonttools']}; git {m['git_head']} + uncommitted {m['uncommitted'] or 'none'}",
        f"night: {n['segments']} segments x {n['designs_per_segment']} designs = {n['designs']} designs, each on "
        f"{len(n['boxes'])} boxes ({', '.join(b['code'] for b in n['boxes'])}) = {n['print_files']} print files; "
        f"tiles procedural ({seq['tiles']['tiles']} tiles); {w} workers; S3 = moto_server on 127.0.0.1",
        "",
        f"{'phase':<44} {'s':>9} {'share':>7} {'load 1m before/after':>21}",
    ]
    for key, label in (("tiles", "(a) tiles (procedural + upscale)"),
                       ("compose", f"(b) compose + encode ({w} workers)"),
                       ("upload", "(c) upload_many to S3 (moto)")):  # fmt: skip
        ph = seq[key]
        lines.append(f"{label:<44} {ph['s']:>9.3f} {s['phase_share'][key]:>7.1%} "
                     f"{ph['load_before']:>10}/{ph['load_after']:<10}")  # fmt: skip
    lines += [
        f"{'end to end a+b+c (no overlap)':<44} {s['end_to_end_s']:>9.3f} {1:>7.0%}",
    ]
    if "pipelined" in r:
        p = r["pipelined"]
        lines.append(f"{'end to end pipelined (generate_night_designs)':<44} {p['s']:>9.3f} {'':>7} "
                     f"{p['load_before']:>10}/{p['load_after']:<10}")  # fmt: skip
        lines.append(f"{'  of which blocked in upload_many per design':<44} {p['blocked_in_upload_s']:>9.3f}")
    lines += [
        f"{'PNG floor (png_bytes only, ' + str(fl['workers']) + ' workers)':<44} {fl['s']:>9.3f} {'':>7} "
        f"{fl['load_before']:>10}/{fl['load_after']:<10}",
        "",
        f"designs/s {s['designs_per_s']:.2f}; print files/s {s['print_files_per_s']:.2f}; "
        f"{s['files_written']} files, {mb:.1f} MB written ({mb / seq['upload']['s']:.1f} MB/s, "
        f"{s['files_written'] / seq['upload']['s']:.0f} files/s upload; upload CPU: client "
        f"{seq['upload']['client_cpu_s']:.1f} s, moto server {seq['upload']['server_cpu_s']:.1f} s)",
        f"compose worker CPU {seq['compose']['worker_cpu_s'] or 0:.1f} s over {seq['compose']['s']:.1f} s wall; "
        f"single process {s['single_process_s_per_design']:.3f} s per design ({len(n['boxes'])} print files); "
        f"parallel efficiency {s['compose_parallel_efficiency']:.0%}",
        f"PNG floor: {fl['images']} images, {fl['megapixels']:.0f} Mpx, {fl['bytes'] / 1e6:.1f} MB, "
        f"CPU {fl['cpu_s']:.2f} s; "
        f"same total PNG bytes as compose: {fl['same_bytes_as_compose']}",
        "",
        f"target night <= {TARGET_NIGHT_S:.0f} s: {s['end_to_end_s']:.1f} s -> "
        f"{'MET' if s['night_target_met'] else 'MISSED'} ({s['end_to_end_s'] / TARGET_NIGHT_S:.2f}x the target)",
        f"target end to end <= {TARGET_FLOOR_RATIO:g}x PNG floor: {s['ratio_end_to_end_over_floor']:.1f}x -> "
        f"{'MET' if s['floor_ratio_target_met'] else 'MISSED'} (compose alone {s['ratio_compose_over_floor']:.1f}x)",
    ]
    if "pipelined" in s:
        p = s["pipelined"]
        lines.append(f"pipelined: {p['s']:.1f} s, {p['designs_per_s']:.2f} designs/s, {p['ratio_over_floor']:.1f}x "
                     f"floor -> night target {'MET' if p['night_target_met'] else 'MISSED'}")  # fmt: skip
    lines += [
        "",
        f"where compose time goes (1 process, {st['designs']} designs / {st['print_files']} print files, "
        f"{st['wall_s']:.2f} s, load {st['load_before']}/{st['load_after']}; output identical to compose_designs: "
        f"{st['identical_to_compose_designs']}):",
        f"{'step':<44} {'s':>9} {'ms/design':>10} {'share':>7}",
    ]
    for k, v in st["steps_s"].items():
        lines.append(f"{k:<44} {v:>9.3f} {v / st['designs'] * 1e3:>10.1f} {s['step_share'][k]:>7.1%}")
    for k, v in st["sub_steps_s"].items():
        lines.append(f"{'  ' + k:<44} {v:>9.3f} {v / st['designs'] * 1e3:>10.1f} {s['sub_step_share'][k]:>7.1%}")
    pr = s["projection_font_subset_cached"]
    lines += [
        "",
        f"font subset per PDF: library {fs['library']['s_median'] * 1e3:.0f} ms ({fs['library']['bytes']} B); "
        f"GSUB/GPOS/GDEF removed first {fs['layout_tables_removed']['s_median'] * 1e3:.0f} ms "
        f"({fs['layout_tables_removed']['bytes']} B); distinct messages in the night: {n['distinct_messages']}",
        f"projection, font subset cached per code set: compose {pr['compose_s']:.1f} s, end to end "
        f"{pr['end_to_end_s']:.1f} s, {pr['ratio_over_floor']:.1f}x floor",
        f"machine reference: numpy float32 {mm['n']}x{mm['n']} matmul {mm['gflops_per_s_median']:.1f} GFLOP/s "
        f"(best {mm['gflops_per_s_best']:.1f}); load after {mm['load_after'][0]}",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--segments", type=int, default=20)
    parser.add_argument("--designs", type=int, default=8, help="designs per segment")
    parser.add_argument("--boxes", type=int, default=4, help="box sizes every design is printed on")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="compose and PNG-floor processes")
    parser.add_argument("--sample", type=int, default=16, help="designs in the single-process per-step split")
    parser.add_argument("--tile-mm", type=float, default=DEFAULT_TILE_MM)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--no-pipelined", dest="pipelined", action="store_false",
                        help="skip the second, pipelined pass (generate_night_designs' loop)")  # fmt: skip
    parser.add_argument("--out", help="result JSON (default bench/results/design_<timestamp>.json)")
    args = parser.parse_args(argv)
    if min(args.segments, args.designs, args.boxes, args.workers, args.sample) < 1:
        parser.error("--segments, --designs, --boxes, --workers and --sample must be >= 1")
    if args.boxes > 20:
        parser.error("--boxes: the packaged catalog has 20 sizes")
    result = run(args)
    out = write_result(result, "design", args.out)
    print()
    print(table(result))
    print(f"\nresults: {out}")
    return result


if __name__ == "__main__":
    main()
