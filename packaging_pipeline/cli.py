"""The ``packaging-pipeline`` console script: one subcommand per stage.

Every subcommand takes ``--lake`` (default ``$PACKAGING_LAKE_URI``, else the embedded default lake)
and ``--json``; it exits 0 on success and 2 with a one-paragraph message on stderr on bad input.

Each handler imports its stage inside the function: the stages pull in TensorFlow, PySpark, MLflow
and PIL, and ``--help``, ``status`` or ``pull`` should not pay seconds for them.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import functools
import logging
import math
import sys
from collections.abc import Callable, Sequence
from typing import Any

from packaging_pipeline.core import progress
from packaging_pipeline.core.config import Settings, parse_mappings
from packaging_pipeline.core.errors import PipelineError
from packaging_pipeline.core.formats import dumps
from packaging_pipeline.core.keys import parse_ds


def _date(text: str) -> dt.date:
    try:
        return parse_ds(text)
    except PipelineError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{value} must be greater than zero")
    return value


def _add_judge_epochs(p: argparse.ArgumentParser) -> None:
    p.add_argument("--judge-epochs", type=_positive_int, help="training epochs of the motif judge when this corpus "
                   "has none registered yet (default 100; fewer only for smoke runs)")  # fmt: skip


def _share(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0.0 <= value < 1.0:
        raise argparse.ArgumentTypeError(f"{value} must lie in [0, 1)")
    return value


def _number(low: float, *, above: bool = False) -> Callable[[str], float]:
    """An argparse type: a finite number of at least ``low`` (above it with ``above``); NaN and inf are refused."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        if not math.isfinite(value) or value < low or (above and value == low):
            raise argparse.ArgumentTypeError(f"{text} must be a finite number {'above' if above else 'of at least'} "
                                             f"{low:g}")  # fmt: skip
        return value

    return parse


def _cmd_sample_data(args: argparse.Namespace, settings: Settings) -> dict[str, Any]:
    from packaging_pipeline.core.storage import open_lake
    from packaging_pipeline.sample_data.generate import generate_sample_data

    summary = generate_sample_data(
        open_lake(settings),
        start=args.start,
        days=args.days,
        customers=args.customers,
        seed=args.seed,
        bad_row_share=args.bad_row_share,
    )
    summary["lake"] = settings.lake_uri
    return summary


def _cmd_sample_exports(args: argparse.Namespace, settings: Settings) -> dict[str, Any]:
    from packaging_pipeline.sample_data.exports import write_sample_exports

    return write_sample_exports(args.out, args.ds, days=args.days, customers=args.customers, seed=args.seed)


def _print_sample_exports(result: dict[str, Any]) -> None:
    print(f"sample exports of {result['nights'][0]}..{result['ds']} written to {result['folder']}")
    for source, written in result["sources"].items():
        print(f"  {source:<12} {written['rows']:>8} rows  {written['file']}")


def _cmd_land(args: argparse.Namespace, settings: Settings) -> dict[str, Any]:
    from packaging_pipeline.core.storage import open_lake
    from packaging_pipeline.ingest.landing import land_exports

    landed = land_exports(open_lake(settings), args.exports, args.ds.isoformat())
    return {"lake": settings.lake_uri, "ds": args.ds.isoformat(), "sources": [dataclasses.asdict(x) for x in landed]}


def _print_land(result: dict[str, Any]) -> None:
    print(f"land ds={result['ds']} lake={result['lake']}")
    for src in result["sources"]:
        replaced = f", replacing {src['replaced_files']}" if src["replaced_files"] else ""
        files = f"{len(src['files'])} file(s), {src['bytes']} bytes"
        print(f"  {src['source']:<12} {files} -> {src['partition']}{replaced}")


def _cmd_ingest(args: argparse.Namespace, settings: Settings) -> dict[str, Any]:
    from packaging_pipeline.ingest.raw import ingest_range

    if args.ds and (args.start or args.end):
        raise PipelineError("give either --ds or --start/--end, not both")
    if args.ds:
        start = end = args.ds.isoformat()
    elif args.start and args.end:
        start, end = args.start.isoformat(), args.end.isoformat()
    else:
        raise PipelineError("ingest needs --ds YYYY-MM-DD, or --start and --end for a range")
    if args.mapping:
        settings = settings.replace(mappings=(*dict(settings.mappings).items(), *parse_mappings(args.mapping)))
    reports = [r.as_dict() for r in ingest_range(settings, start, end)]
    return reports[0] if len(reports) == 1 else {"lake": settings.lake_uri, "nights": reports}


def _cmd_features(args: argparse.Namespace, settings: Settings) -> dict[str, Any]:
    from packaging_pipeline.customers.features import run_customer_features
    from packaging_pipeline.customers.spark_io import run_spark_stage

    ds = args.ds.isoformat()
    result = run_spark_stage(
        settings,
        f"customer_features ds={ds}",
        lambda io: run_customer_features(io, ds, args.window_days, rebuild=args.rebuild),
        master=args.master,
    )
    return {"lake": settings.lake_uri, **result.as_dict()}


def _cmd_segment(args: argparse.Namespace, settings: Settings) -> dict[str, Any]:
    from packaging_pipeline.customers.segments import run_segmentation, segmentation_config
    from packaging_pipeline.customers.spark_io import run_spark_stage
    from packaging_pipeline.customers.tracking import log_segments

    ds, config = args.ds.isoformat(), segmentation_config(args)
    profiles = run_spark_stage(
        settings, f"segment_customers ds={ds}", lambda io: run_segmentation(io, ds, config), master=args.master
    )
    run_id = None if args.no_mlflow else log_segments(profiles)
    return {"lake": settings.lake_uri, "mlflow_run_id": run_id, **profiles}


def _cmd_train(args: argparse.Namespace, settings: Settings) -> dict[str, Any]:
    from packaging_pipeline.feedback.bandit import night_class_weights
    from packaging_pipeline.gan.night import gate_policy, train_for_night

    ds = args.ds.isoformat()
    return train_for_night(
        settings, ds, args.corpus, args.profile, epochs=args.epochs, seed=args.seed,
        from_scratch=args.from_scratch, restart=args.restart, pretrain_epochs=args.pretrain_epochs,
        class_weights_for=functools.partial(night_class_weights, settings, ds),
        policy=gate_policy(args.judge_epochs),
    )  # fmt: skip


def _cmd_evaluate_model(args: argparse.Namespace, settings: Settings) -> dict[str, Any]:
    from packaging_pipeline.gan.night import evaluate_for_night, gate_policy

    return evaluate_for_night(settings, args.ds.isoformat(), args.corpus, args.profile, seed=args.seed,
                              policy=gate_policy(args.judge_epochs))  # fmt: skip


def _cmd_base_model(args: argparse.Namespace, settings: Settings) -> dict[str, Any]:
    from pathlib import Path

    from packaging_pipeline.gan.night import BASE_MODEL_DIR, BASE_MODEL_EPOCHS, build_base_model

    command = "packaging-pipeline " + " ".join(sys.argv[1:]) if sys.argv[1:] else "packaging-pipeline base-model"
    return build_base_model(settings, args.ds.isoformat(), epochs=args.epochs or BASE_MODEL_EPOCHS, seed=args.seed,
                            export_dir=Path(args.export) if args.export else BASE_MODEL_DIR,
                            command=command)  # fmt: skip


def _cmd_sample_tiles(args: argparse.Namespace, settings: Settings) -> dict[str, Any]:
    from packaging_pipeline.gan.render import PREVIEW_PALETTES, write_sample_tiles

    inks = args.inks.split(",") if args.inks else PREVIEW_PALETTES[0]
    return write_sample_tiles(args.model_uri, args.motif, args.n, args.out, inks=inks, seed=args.seed)


def _cmd_dieline(args: argparse.Namespace, settings: Settings) -> dict[str, Any]:
    from packaging_pipeline.design.dielines import make_dieline, write_dieline
    from packaging_pipeline.design.materials import load_materials

    library = load_materials(args.materials) if args.materials else None
    dieline = make_dieline(args.style, args.inner, args.board, library)
    out = write_dieline(dieline, args.out, margin_mm=args.margin)
    return {**dieline.summary(), "out": str(out)}


def _cmd_designs(args: argparse.Namespace, settings: Settings) -> dict[str, Any]:
    from packaging_pipeline.design.batch import generate_night_designs

    return generate_night_designs(
        settings, args.ds.isoformat(), designs_per_segment=args.per_segment, tile_mm=args.tile_mm,
        use_model=not args.procedural, workers=args.workers,
    )  # fmt: skip


def _print_json(result: dict[str, Any]) -> None:
    print(dumps(result, indent=2, sort_keys=True))


def _print_features(result: dict[str, Any]) -> None:
    print(
        f"features ds={result['ds']} ({result['mode']}, window {result['window_start']}..{result['ds']}): "
        f"{result['customers']} customers -> {result['lake']}/{result['features_prefix']}"
    )
    computed, read = len(result["daily_partitions_computed"]), result["daily_partitions_read"]
    how = {"rolled": "yesterday's window state rolled on", "merged": "the whole window merged"}[result["window_update"]]
    print(f"  daily partitions computed: {computed}, read: {read} ({how})")


def _print_segments(result: dict[str, Any]) -> None:
    print(
        f"segments ds={result['ds']}: {result['customers']} customers in {result['k_final']} segments "
        f"(previous night: {result['previous_ds'] or 'none'}; new {result['new_segments']}, "
        f"vanished {result['vanished_segments']})"
    )
    for seg in result["segments"]:
        palette = " ".join(c["color"] for c in seg["palette"])
        print(f"  {seg['segment_id']:>3}  {seg['size']:>7}  {seg['label']}  [{palette}]")
    if result.get("mlflow_run_id"):
        print(f"  MLflow run {result['mlflow_run_id']}")


def _cmd_status(args: argparse.Namespace, settings: Settings) -> dict[str, Any]:
    from packaging_pipeline.ingest.status import night_status

    return night_status(settings, args.ds.isoformat())


def _print_status(result: dict[str, Any]) -> None:
    print(f"night ds={result['ds']} in {result['lake']}")
    for name, info in result["datasets"].items():
        print(f"  {name:<24} objects={info['objects']:>4} bytes={info['bytes']:>11}")
    if result.get("ingest"):
        _print_ingest(result["ingest"])
    if result.get("segments"):
        _print_segments({"ds": result["ds"], "k_final": len(result["segments"]["segments"]), **result["segments"]})


def _print_ingest(result: dict[str, Any]) -> None:
    for night in result.get("nights", [result]):
        print(f"ingest ds={night['ds']} lake={night['lake']}")
        for name, src in night["sources"].items():
            reasons = ", ".join(f"{k}={v}" for k, v in src["reasons"].items()) or "-"
            print(
                f"  {name:<12} read={src['read']:>9} accepted={src['accepted']:>9} "
                f"quarantined={src['quarantined']:>7}  reasons: {reasons}"
            )


def _print_sample(result: dict[str, Any]) -> None:
    print(f"sample data written to {result['lake']} ({result['days']} days from {result['start']})")
    for name, src in result["sources"].items():
        print(f"  {name:<12} rows={src['rows']:>9} partitions={src['partitions']:>3} files={src['files']:>4}")
    if result.get("bad_rows"):
        print(f"  deliberately bad rows: {result['bad_rows']}")


def _cmd_right_size(args: argparse.Namespace, settings: Settings) -> dict[str, Any]:
    from packaging_pipeline.design.right_size import order_records, right_size_stage

    per_order, summary = right_size_stage(settings, args.ds.isoformat(), args.boxes, args.on_demand)
    return {"lake": settings.lake_uri, "summary": summary, "orders": order_records(per_order)}


def _cmd_box_assortment(args: argparse.Namespace, settings: Settings) -> dict[str, Any]:
    from pathlib import Path

    from packaging_pipeline.design.assortment import box_assortment

    text, report = box_assortment(
        settings, args.ds.isoformat(), args.history_days, args.sizes, styles=args.styles, board=args.board,
        base_catalog=args.boxes, volumetric_weight=args.volumetric_weight, time_limit_s=args.time_limit,
        **{k: v for k, v in (("max_candidates", args.max_candidates), ("max_gap", args.max_gap),
                             ("sample", args.sample_orders)) if v is not None},
    )  # fmt: skip
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text, encoding="utf-8")
    return {"lake": settings.lake_uri, "out": str(out), **report}


def _print_box_assortment(result: dict[str, Any]) -> None:
    gap = "-" if result["mip_gap"] is None else f"{result['mip_gap']:.2%}"
    print(
        f"box-assortment ds={result['ds']}: {result['sizes']} sizes from {result['history_orders']} orders of "
        f"{result['history_days']} nights ({result['packed_orders']} packed; {result['demand_classes']} demand sizes, "
        f"{result['candidates']} "
        f"candidates); HiGHS {result['solver_status']!r}, gap {gap}, {result['seconds']['total']:.1f} s"
    )
    for c in result["chosen"]:
        print(f"  {c['style']} {'x'.join(f'{v:g}' for v in c['inner_mm'])} mm, board {c['board']}")
    print(f"  held-out night {result['held_out_ds']}:")
    for name, s in result["held_out"].items():
        if "error" in s:
            print(f"    {name:<9} {s['error']}")
            continue
        print(f"    {name:<9} board {s['board_m2_total']} m2, mean ESR {s['mean_esr']}, over 50% "
              f"{s['share_esr_over_50pct']}, {s['parcels']} parcels for {s['orders']} orders")  # fmt: skip
    print(f"  catalog written to {result['out']} (use it with `right-size --boxes {result['out']}`)")


def _print_right_size(result: dict[str, Any]) -> None:
    s = result["summary"]

    def pct(value: float | None) -> str:
        return "-" if value is None else f"{value:.1%}"

    print(
        f"right-size ds={s['ds']}: {s['orders']} orders shipping {s['ship_date']} "
        f"(catalog snapshot {s['catalog_snapshot']}, boxes {s['box_catalog']})"
    )
    print(
        f"  {s['parcels']} parcels: boxed {s['fitted']} ({s['on_demand_parcels']} cut on demand), "
        f"{s['split_orders']} orders split ({s['split_to_save_orders']} to save board), own packaging "
        f"{s['own_packaging']}, missing products {s['missing_product']}; board {s['board_m2_total']} m2, "
        f"volumetric {s['volumetric_weight_kg_total']} kg"
    )
    print(
        f"  ESR inner basis: mean {pct(s['mean_esr'])}, p95 {pct(s['p95_esr'])}, over 50% "
        f"{pct(s['share_esr_over_50pct'])}; outer basis: mean {pct(s['mean_esr_outer'])}; physical floor: mean "
        f"{pct(s['mean_esr_floor'])} (ESR / floor {s['esr_to_floor']}); per style {s['per_style']}"
    )
    ref = s.get("standard_catalog")
    if ref:
        print(f"  the stock sizes alone (no machine, no split): board {ref['board_m2_total']} m2, mean ESR "
              f"{pct(ref['mean_esr'])}; board saved {ref['board_saved_m2']} m2 ({pct(ref['board_saved_share'])})")
    for reason, n in s["over_50pct_reasons"].items():
        print(f"  over 50%: {n} x {reason}")
    header = ("order", "warehouse", "box", "inner mm", "units", "item L", "box L", "ESR")
    print("  {:<24} {:<9} {:<24} {:>13} {:>5} {:>7} {:>7} {:>6}".format(*header))
    for o in result["orders"]:
        if o["status"] == "returns_only":
            continue
        inner = f"{o['inner_length_mm']:g}x{o['inner_width_mm']:g}x{o['inner_height_mm']:g}" if o["box_code"] else "-"
        item_l = "-" if o["item_volume_l"] is None else f"{o['item_volume_l']:.2f}"
        box_l = "-" if o["box_volume_l"] is None else f"{o['box_volume_l']:.2f}"
        print(
            f"  {o['order_id']:<24} {o['warehouse_id']:<9} {o['box_code'] or o['status']:<24} {inner:>13} "
            f"{o['units']:>5} {item_l:>7} {box_l:>7} {pct(o['esr']):>6}"
        )
        if o["reason"]:
            print(f"      {o['reason']}")


def _ds_or_latest(text: str) -> str:
    return "latest" if text == "latest" else _date(text).isoformat()


def _cmd_publish(args: argparse.Namespace, settings: Settings) -> dict[str, Any]:
    from packaging_pipeline.publication.publish import publish_night

    return publish_night(settings, args.ds.isoformat(), model_version=args.model_version)


def _print_publish(result: dict[str, Any]) -> None:
    per_wh = ", ".join(f"{w}={n}" for w, n in sorted(result["orders_per_warehouse"].items())) or "none"
    print(
        f"published ds={result['ds']} to {result['published_uri']}: {result['designs']} designs, "
        f"{result['print_files']} print files, {result['files']} files ({result['bytes']} bytes); orders {per_wh}"
    )
    print(f"  gate: {'ran' if result['gate_ran'] else 'not run'}; LATEST: {result['latest']}")
    print(f"  report: {result['report_uri']}")


def _cmd_pull(args: argparse.Namespace, settings: Settings) -> dict[str, Any]:
    from packaging_pipeline.core.storage import open_lake
    from packaging_pipeline.publication.pull import pull_batch

    return pull_batch(open_lake(settings), args.ds, args.warehouse, args.dest, wait_seconds=args.wait,
                      poll_seconds=args.poll)  # fmt: skip


def _print_pull(result: dict[str, Any]) -> None:
    if not result["orders"]:
        print(f"no orders for warehouse {result['warehouse_id']} in ds={result['ds']}; warehouses with orders in this "
              f"batch: {', '.join(result['warehouses_with_orders']) or 'none'}")  # fmt: skip
    print(
        f"pulled ds={result['ds']} for warehouse {result['warehouse_id']} into {result['folder']}: "
        f"{result['orders']} orders, {result['print_files']} print files; {result['downloaded']} files downloaded, "
        f"{result['already_present']} already present; all match manifest.json (size and sha256)"
    )


def _add_publication_commands(add: Callable[[str, str], argparse.ArgumentParser]) -> None:
    """``publish`` (the night's batch to the warehouse contract) and ``pull`` (a warehouse's share of it)."""
    p = add("publish", "Publish the night's (gated) designs and assignments to published/ds=<ds>/, _SUCCESS last.")
    p.add_argument("--ds", type=_date, required=True, help="the night, YYYY-MM-DD")
    p.add_argument("--model-version", help="model version for the manifest (default: the one that painted it)")
    p.set_defaults(handler=_cmd_publish, printer=_print_publish)

    p = add("pull", "Download one warehouse's assignments and print files of a complete batch, verified by sha256.")
    p.add_argument("--ds", type=_ds_or_latest, required=True, help="the night, YYYY-MM-DD, or 'latest'")
    p.add_argument("--warehouse", required=True, help="warehouse id, e.g. WH-MAD")
    p.add_argument("--dest", required=True, help="local folder; the batch lands in DEST/published/ds=<ds>/")
    p.add_argument("--wait", type=_number(0), default=0.0, help="seconds to wait for _SUCCESS (default 0)")
    p.add_argument("--poll", type=_positive_int, default=15, help="seconds between checks while waiting")
    p.set_defaults(handler=_cmd_pull, printer=_print_pull)


def _cmd_gate(args: argparse.Namespace, settings: Settings) -> dict[str, Any]:
    from packaging_pipeline.gate.night import gate_night

    return gate_night(settings, args.ds.isoformat(), args.policy, log_to_mlflow=not args.no_mlflow)


def _print_gate(result: dict[str, Any]) -> None:
    c, policy = result["counts"], result["policy"]
    print(
        f"gate ds={result['ds']} (policy {policy['name']} v{policy['version']}, materials "
        f"v{result['materials']['version']}): {c['designs']} designs, {c['passed']} passed, {c['optimised']} "
        f"optimised, {c['rejected']} rejected; fallbacks {c['fallbacks']}; {c['orders_reassigned']} of {c['orders']} "
        f"orders reassigned; {c['orders_over_esr_limit']} orders over the ESR limit"
    )
    for seg in result["segments"]:
        fallback = seg["fallback"]
        kind = f"fallback {fallback['kind']} {fallback['design_id']}" if fallback else "no fallback needed"
        co2e = "-" if seg["mean_co2e_kg"] is None else f"{seg['mean_co2e_kg'] * 1000:.0f} g CO2e/box"
        print(
            f"  segment {seg['segment_id']:>3}: passed {len(seg['passed'])}, optimised {len(seg['optimised'])}, "
            f"rejected {len(seg['rejected'])}; {kind}; {co2e}"
        )
    for design in result["designs"]:
        rules = sorted({f["rule"] for f in design.get("failed_rules") or []})
        if design["status"] != "passed":
            print(f"    {design['design_id']}: {design['status']}{' (' + ', '.join(rules) + ')' if rules else ''}")
    if result.get("mlflow_run_id"):
        print(f"  MLflow run {result['mlflow_run_id']}")


def _add_gate_command(add: Callable[[str, str], argparse.ArgumentParser]) -> None:
    """``gate``: score the night's staged designs, optimise or reject, and reassign orders."""
    p = add("gate", "Score every staged design x box for sustainability; optimise, reject and reassign orders.")
    p.add_argument("--ds", type=_date, required=True, help="the night, YYYY-MM-DD")
    p.add_argument("--policy", help="gate policy YAML (default: packaging_pipeline/data/gate_policy.yaml)")
    p.add_argument("--no-mlflow", action="store_true", help="do not log the gate to MLflow")
    p.set_defaults(handler=_cmd_gate, printer=_print_gate)


def _cmd_feedback_ingest(args: argparse.Namespace, settings: Settings) -> dict[str, Any]:
    from packaging_pipeline.feedback.ingest import ingest_feedback
    from packaging_pipeline.feedback.policy import load_policy

    return ingest_feedback(settings, args.ds.isoformat(), policy=load_policy(args.policy))


def _cmd_feedback_stats(args: argparse.Namespace, settings: Settings) -> dict[str, Any]:
    from packaging_pipeline.feedback.policy import load_policy
    from packaging_pipeline.feedback.statistics import compute_design_stats

    return compute_design_stats(settings, args.ds.isoformat(), policy=load_policy(args.policy),
                                log_mlflow=not args.no_mlflow)  # fmt: skip


def _print_feedback_ingest(result: dict[str, Any]) -> None:
    print(
        f"feedback ds={result['ds']}: read {result['read']}, joined {result['joined']}, quarantined "
        f"{result['quarantined']}, unmatched {result['unmatched']} (against {result['published_orders_known']} "
        f"published orders); reasons {result['reasons'] or 'none'}"
    )


def _print_feedback_stats(result: dict[str, Any]) -> None:
    print(f"feedback stats ds={result['ds']}: {result['events']} events (policy v{result['policy']['version']})")
    for r in sorted(result["motif"], key=lambda r: (r["segment_id"], -r["mean"])):
        print(f"  segment {r['segment_id']:>3} {r['arm']:<10} mean {r['mean']:.3f} over {r['weight']:.1f} events")
    if result.get("mlflow_run_id"):
        print(f"  MLflow run {result['mlflow_run_id']}")


def _add_feedback_commands(add: Callable[[str, str], argparse.ArgumentParser]) -> None:
    """``feedback-ingest`` (validate and join a night's feedback) and ``feedback-stats`` (posteriors)."""
    help_policy = "feedback policy YAML (default: packaging_pipeline/data/feedback_policy.yaml)"
    p = add("feedback-ingest", "Validate a night's feedback and join it to the published design each order got.")
    p.add_argument("--ds", type=_date, required=True, help="the night the feedback arrived, YYYY-MM-DD")
    p.add_argument("--policy", help=help_policy)
    p.set_defaults(handler=_cmd_feedback_ingest, printer=_print_feedback_ingest)

    p = add("feedback-stats", "Decayed Beta posteriors per segment x motif class and palette; logged to MLflow.")
    p.add_argument("--ds", type=_date, required=True, help="the night, YYYY-MM-DD (uses feedback up to it)")
    p.add_argument("--policy", help=help_policy)
    p.add_argument("--no-mlflow", action="store_true", help="do not log the statistics to MLflow")
    p.set_defaults(handler=_cmd_feedback_stats, printer=_print_feedback_stats)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="packaging-pipeline", description=__doc__.split("\n")[0])
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress to stderr")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(name: str, help_text: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.add_argument("--lake", help="lake URI: file:///abs/path or s3://bucket/prefix (default: $PACKAGING_LAKE_URI)")
        p.add_argument("--json", action="store_true", help="print the result as one JSON object on stdout")
        return p

    p = add("sample-data", "Write synthetic raw clickstream, orders, catalog and feedback with planted segments.")
    p.add_argument("--start", type=_date, required=True, help="first night, YYYY-MM-DD")
    p.add_argument("--days", type=_positive_int, default=7)
    p.add_argument("--customers", type=_positive_int, default=2000)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--bad-row-share", type=_share, default=0.0, help="share of deliberately bad rows (default 0)")
    p.set_defaults(handler=_cmd_sample_data, printer=_print_sample)

    p = add("sample-exports", "Write sample nights as a shop exports them (REES46 clickstream, Shopify orders CSV).")
    p.add_argument("--out", required=True, metavar="FOLDER", help="new or empty folder; `land --from` takes it")
    p.add_argument("--ds", type=_date, required=True, help="the last night exported, YYYY-MM-DD")
    p.add_argument("--days", type=_positive_int, default=7, help="nights up to --ds in the files (default 7)")
    p.add_argument("--customers", type=_positive_int, default=2000)
    p.add_argument("--seed", type=int, default=7)
    p.set_defaults(handler=_cmd_sample_exports, printer=_print_sample_exports)

    p = add("land", "Copy a folder of exports (one sub-folder per source) into a night's raw partitions.")
    p.add_argument("--from", dest="exports", required=True, metavar="FOLDER",
                   help="folder with clickstream/, orders/, catalog/ (optionally feedback/) sub-folders")  # fmt: skip
    p.add_argument("--ds", type=_date, required=True, help="the night to land them as, YYYY-MM-DD (their last day)")
    p.set_defaults(handler=_cmd_land, printer=_print_land)

    p = add("ingest", "Validate raw partitions into accepted Parquet and quarantine, with counts per reason.")
    p.add_argument("--ds", type=_date, help="the night to ingest, YYYY-MM-DD")
    p.add_argument("--start", type=_date, help="first night of a range")
    p.add_argument("--end", type=_date, help="last night of a range (inclusive)")
    p.add_argument("--mapping", action="append", default=[], metavar="SOURCE=MAPPING",
                   help="read SOURCE's raw files through a source mapping: a shipped name (rees46, shopify-orders) "
                        "or a YAML path; repeat per source")  # fmt: skip
    p.set_defaults(handler=_cmd_ingest, printer=_print_ingest)

    p = add("features", "Daily aggregates for a night and rolling customer features over the trailing window (Spark).")
    p.add_argument("--ds", type=_date, required=True, help="the night, YYYY-MM-DD")
    p.add_argument("--window-days", type=_positive_int, default=90, help="trailing window in days (default 90)")
    p.add_argument("--rebuild", action="store_true", help="recompute every day of the window from accepted data")
    p.add_argument("--master", default="local[*]", help="Spark master (default local[*])")
    p.set_defaults(handler=_cmd_features, printer=_print_features)

    p = add("segment", "Segment the night's customers (KMeans), keep ids stable across nights, log to MLflow.")
    p.add_argument("--ds", type=_date, required=True, help="the night, YYYY-MM-DD")
    p.add_argument("--master", default="local[*]", help="Spark master (default local[*])")
    p.add_argument("--no-mlflow", action="store_true", help="do not log the run to MLflow")
    from packaging_pipeline.customers.segments import add_segmentation_arguments

    add_segmentation_arguments(p)
    p.set_defaults(handler=_cmd_segment, printer=_print_segments)

    p = add("train", "Train (or fine-tune from the champion) the pattern GAN; registers a 'challenger' in MLflow.")
    p.add_argument("--ds", type=_date, required=True, help="the night, YYYY-MM-DD")
    p.add_argument("--corpus", help="folder or s3:// prefix of images, one sub-folder per motif (default: procedural)")
    p.add_argument("--epochs", type=_positive_int, help="default: the profile's (fewer when warm-starting)")
    p.add_argument("--pretrain-epochs", type=int, help="discriminator motif pretraining before a from-scratch "
                   "training; default: the profile's, 0 skips it")  # fmt: skip
    p.add_argument("--profile", choices=("cpu", "gpu"), default="cpu")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--from-scratch", action="store_true", help="do not warm-start from the champion")
    p.add_argument("--restart", action="store_true", help="ignore this night's checkpoint and start over")
    _add_judge_epochs(p)
    p.set_defaults(handler=_cmd_train, printer=_print_json)

    p = add(
        "evaluate-model", "Score the challenger against held-out corpus images; promote it to champion if it earns it."
    )
    p.add_argument("--ds", type=_date, required=True, help="the night, YYYY-MM-DD")
    p.add_argument("--corpus", help="judge against this corpus (default: the one the challenger's run records)")
    p.add_argument("--profile", choices=("cpu", "gpu"), default="cpu")
    p.add_argument("--seed", type=int, default=0)
    _add_judge_epochs(p)
    p.set_defaults(handler=_cmd_evaluate_model, printer=_print_json)

    p = add("base-model", "Train the cpu profile's GAN from scratch, gate it, and package it as the base model "
            "a fresh install starts from.")
    p.add_argument("--ds", type=_date, default=dt.date.today(), help="night the run is filed under (default: today)")
    p.add_argument("--epochs", type=_positive_int, help="default: long enough to clear the gate on 2 cores")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--export", help="package folder to write (default: the installed package's data/base_model)")
    p.set_defaults(handler=_cmd_base_model, printer=_print_json)

    p = add("sample-tiles", "Write PNG tiles (and their 2x2 repeats) of one motif from a registered model.")
    p.add_argument("--model-uri", default="models:/packaging-pattern-gan@champion")
    p.add_argument("--motif", required=True, help="motif class, e.g. stripes")
    p.add_argument("--n", type=_positive_int, default=16)
    p.add_argument("--out", required=True, help="output directory")
    p.add_argument("--inks", help="comma-separated ink colours (vocabulary names or #rrggbb)")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(handler=_cmd_sample_tiles, printer=_print_json)

    p = add("dieline", "Write a true-scale dieline (cut and crease lines as spot colours) as PDF or SVG.")
    p.add_argument("--style", required=True, help="FEFCO style: 0201 (slotted box) or 0427 (mailer)")
    p.add_argument("--inner", required=True, help="inner size LxWxH in mm, e.g. 300x200x80")
    p.add_argument("--board", default="E", help="board grade from the materials library (default E)")
    p.add_argument("--out", required=True, help="output file, .pdf or .svg")
    p.add_argument("--margin", type=_number(0), default=10.0, help="margin around the blank in mm (default 10)")
    p.add_argument("--materials", help="materials YAML to use instead of the shipped library")
    p.set_defaults(handler=_cmd_dieline, printer=_print_json)

    p = add("designs", "Compose the night's designs per segment on every box size its orders need (staging).")
    p.add_argument("--ds", type=_date, required=True, help="the night, YYYY-MM-DD")
    p.add_argument("--per-segment", type=_positive_int, default=4, help="designs per segment (default 4)")
    p.add_argument("--tile-mm", type=_number(0, above=True), default=40.0,
                   help="physical size of one pattern repeat (default 40)")
    p.add_argument("--procedural", action="store_true", help="paint from the procedural corpus, not the champion")
    p.add_argument("--workers", type=_positive_int, help="composition processes (default: one per core)")
    p.set_defaults(handler=_cmd_designs, printer=_print_json)

    p = add("status", "Show what the lake holds for one night: datasets, sizes and the ingest counts.")
    p.add_argument("--ds", type=_date, required=True, help="the night, YYYY-MM-DD")
    p.set_defaults(handler=_cmd_status, printer=_print_status)

    p = add("right-size", "Parcel every order shipping the day after --ds in its leanest box; report ESR and board.")
    p.add_argument("--ds", type=_date, required=True, help="the night, YYYY-MM-DD (boxes orders shipping ds + 1)")
    p.add_argument("--boxes", help="box catalog YAML (default: the packaged packaging_pipeline/data/box_catalog.yaml)")
    p.add_argument("--on-demand", action="store_true",
                   help="plan as if every warehouse had a box-on-demand machine (the catalog's what_if machine)")
    p.set_defaults(handler=_cmd_right_size, printer=_print_right_size)
    p = add("box-assortment", "Choose K standard box sizes from the order history (MILP), judged on the next night.")
    p.add_argument("--ds", type=_date, required=True, help="the last night of the history, YYYY-MM-DD")
    p.add_argument("--history-days", type=_positive_int, default=30, help="nights of accepted orders (default 30)")
    p.add_argument("--sizes", type=_positive_int, required=True, help="how many standard sizes to choose")
    p.add_argument("--styles", nargs="+", default=["0201", "0427"], choices=["0201", "0427"])
    p.add_argument("--board", default="B", help="board grade of the new sizes (default B)")
    p.add_argument("--boxes", help="the current catalog to compare with and take padding and machines from")
    p.add_argument("--volumetric-weight", type=_number(0), default=0.0,
                   help="m2 of board one kg of volumetric weight is worth in the objective (default 0: board only)")
    p.add_argument("--time-limit", type=_number(0, above=True), default=120.0,
                   help="solver time limit in seconds (default 120)")
    p.add_argument("--max-candidates", type=_positive_int, default=None,
                   help="the most frequent demand sizes kept as candidate boxes (default 400)")
    p.add_argument("--max-gap", type=_number(0, above=True), default=None,
                   help="refuse a box set further than this from optimal when the time limit stops HiGHS "
                        "(a fraction, default 0.05)")
    p.add_argument("--sample-orders", type=_positive_int, default=None,
                   help="pack a seeded uniform sample of this many orders of a longer history (default 100000)")
    p.add_argument("--out", required=True, help="where to write the new box catalog YAML")
    p.set_defaults(handler=_cmd_box_assortment, printer=_print_box_assortment)
    _add_gate_command(add)
    _add_publication_commands(add)
    _add_feedback_commands(add)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(message)s")
    handler: Callable[[argparse.Namespace, Settings], dict[str, Any]] = args.handler
    try:
        settings = Settings.from_env(lake_uri=args.lake)
        with progress.to_stream(sys.stderr):  # stderr: with --json, stdout stays one JSON object
            result = handler(args, settings)
    except PipelineError as exc:
        print(f"packaging-pipeline {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:
        message = storage_error_message(exc, args.lake)
        if message is None:
            raise
        print(f"packaging-pipeline {args.command}: error: {message}", file=sys.stderr)
        return 2
    try:
        if args.json:
            print(dumps(result, sort_keys=True))
        else:
            args.printer(result)
    except BrokenPipeError:  # e.g. piped into `head`
        sys.stderr.close()
    return 0


def storage_error_message(exc: Exception, lake: str | None) -> str | None:
    """A one-paragraph message for failures to reach the lake; None for anything else (a bug: traceback)."""
    where = lake or "the lake from $PACKAGING_LAKE_URI"
    try:
        from boto3.exceptions import Boto3Error  # e.g. S3UploadFailedError after the retries
        from botocore.exceptions import BotoCoreError, ClientError
    except ImportError:  # pragma: no cover - boto3 is a core dependency
        Boto3Error = BotoCoreError = ClientError = ()  # noqa: N806
    if isinstance(exc, ClientError | BotoCoreError | Boto3Error):
        return (
            f"cannot access {where}: {exc}. Check that the bucket exists, the credentials (AWS_* variables or the "
            f"Airflow AWS connection) grant access, and AWS_ENDPOINT_URL points at the right S3 endpoint."
        )
    if isinstance(exc, PermissionError | FileNotFoundError | NotADirectoryError):
        return f"cannot access {where}: {exc}. Check the path and its permissions."
    return None


if __name__ == "__main__":
    sys.exit(main())
