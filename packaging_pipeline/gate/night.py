"""The night's sustainability gate: score every staged (design, box) pair and decide what gets published.

Why a gate: a design reaches warehouses only if the box it prints meets limits that live in a
versioned policy file (``gate/policy.py``), not in code, and every decision records the measured
value, the limit and the policy version, so an analyst can see why a design passed or not.

What the gate does with a failing design:

* ESR follows from the box, not the artwork. A pair over the ESR limit fails and says so, but the
  design is not rejected for it: any other design would ship in the same right-sized box.
* A design failing an ink rule (ink count, coverage, or a grade lowered by its inks) gets one
  automatic pass (``gate/optimise.py``): one ink is merged into the paper and the artwork is
  recomposed. It is published if it then passes every design rule.
* A design still failing moves to ``designs/rejected/ds=<ds>/<design_id>/`` with ``reasons.json``;
  its orders move to a passing design of the same segment. A segment without one reuses its last
  published design, else gets a plain unprinted box with the logo and message, so a warehouse is
  never left without a design.

Outputs under ``designs/staging/ds=<ds>/``: ``sustainability.parquet`` (one row per design x box),
``order_designs_gated.parquet`` (every order's final design and print file) and ``gate.json``
(written last). A rerun puts rejected designs back and drops the fallbacks it made before, so it
decides afresh; an optimised design keeps its optimised artwork (rerun ``designs`` to start over).
"""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from packaging_pipeline.contract import PLAIN_SUFFIX, last_published_design
from packaging_pipeline.core import keys
from packaging_pipeline.core.config import Settings
from packaging_pipeline.core.errors import InputError, PipelineError
from packaging_pipeline.core.formats import dumps, read_json, read_parquet, spec_bytes, write_json, write_parquet
from packaging_pipeline.core.keys import design_prefix, rejected_prefix, staging_prefix
from packaging_pipeline.core.storage import Lake, open_lake
from packaging_pipeline.core.tracking import night_run
from packaging_pipeline.design.artwork import PRINT_TILE_PX
from packaging_pipeline.design.batch import order_choice
from packaging_pipeline.design.compose import DEFAULT_TILE_MM
from packaging_pipeline.design.materials import MaterialsLibrary, load_materials
from packaging_pipeline.gate.optimise import Box, compose_variant, design_tile, merge_slot, plan_optimisation
from packaging_pipeline.gate.policy import GatePolicy, load_policy
from packaging_pipeline.gate.scoring import design_failures, evaluate_design

log = logging.getLogger(__name__)

SUSTAINABILITY_EXPERIMENT = "sustainability"


def _worst(rows: Sequence[Mapping[str, Any]], policy: GatePolicy) -> dict[str, Any]:
    """The design's worst box, for an optimisation note: most inks, highest coverage, lowest grade."""
    return {
        "inks": max(r["n_inks"] for r in rows),
        "ink_coverage_total": max(r["ink_coverage_total"] for r in rows),
        "recyclability_grade": max((r["recyclability_grade"] for r in rows), key=policy.grade_rank),
    }


@dataclasses.dataclass
class _Decision:
    """What the gate did with one design, and the rows that record it."""

    spec: dict[str, Any]
    status: str  # passed, optimised, rejected, fallback
    rows: list[dict[str, Any]]
    failures: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    optimisation: dict[str, Any] | None = None


def _staged_specs(lake: Lake, ds: str) -> dict[str, dict[str, Any]]:
    prefix = staging_prefix(ds)
    return {
        (spec := read_json(lake, o.key))["design_id"]: spec
        for o in lake.list(prefix + "segment=")
        if o.key.endswith("/spec.json")
    }


def _reset(lake: Lake, ds: str, planned: Iterable[str]) -> None:
    """Undo an earlier gate run of this night: rejected designs back to staging, its fallbacks gone."""
    planned = set(planned)
    staged = _staged_specs(lake, ds)
    for design_id, spec in staged.items():
        if "fallback" in spec and design_id not in planned:
            lake.delete_prefix(design_prefix(ds, int(spec["segment_id"]), design_id))
    prefix = rejected_prefix(ds)
    for obj in lake.list(prefix):
        design_id, _, name = obj.key[len(prefix) :].partition("/")
        if name != keys.SPEC_NAME or design_id not in planned or design_id in staged:
            continue  # a design stage rerun since then has restaged it, or it is not tonight's any more
        target = design_prefix(ds, int(read_json(lake, obj.key)["segment_id"]), design_id)
        for f in lake.list(f"{prefix}{design_id}/"):
            if not f.key.endswith("/reasons.json"):
                lake.copy(f.key, target + f.key.rsplit("/", 1)[-1])
    lake.delete_prefix(prefix)


def _decide(
    lake: Lake, ds: str, spec: dict[str, Any], orders: pd.DataFrame, policy: GatePolicy, library: MaterialsLibrary
) -> _Decision:
    """Pass, optimise once, or reject one staged design."""
    rows = evaluate_design(spec, orders, policy, library)
    failures = design_failures(rows)
    if not failures:
        note = spec.get("optimised")  # optimised by an earlier run of this night's gate
        return _Decision(spec, "optimised" if note else "passed", rows, optimisation=note)
    if not policy.optimise:
        attempt: dict[str, Any] = {"skipped": "optimisation is disabled in the policy"}
    elif spec.get("optimised"):
        attempt = {"skipped": "already optimised once (a design gets one pass)"}
    else:
        attempt = plan_optimisation(spec, rows, policy)
    if "action" in attempt:
        prefix = design_prefix(ds, int(spec["segment_id"]), spec["design_id"])
        tile = merge_slot(design_tile(lake.read_bytes(prefix + "artwork.png"), spec["inks"], prefix + "artwork.png"),
                          attempt["slot"])  # fmt: skip
        inks = [i for k, i in enumerate(spec["inks"], start=1) if k != attempt["slot"]]
        files, new_spec = compose_variant({**spec, "inks": inks}, tile, ds)
        new_rows = evaluate_design(new_spec, orders, policy, library)
        still = design_failures(new_rows)
        note = {**attempt, "before": _worst(rows, policy), "after": _worst(new_rows, policy),
                "policy_version": policy.version}  # fmt: skip
        if not still:
            new_spec["optimised"] = note
            files[-1] = (spec_bytes(new_spec), files[-1][1])
            lake.upload_many(files)
            return _Decision(new_spec, "optimised", new_rows, optimisation=note)
        attempt = {**note, "still_failing": still}
    _reject(lake, ds, spec, rows, failures, attempt, policy)
    return _Decision(spec, "rejected", rows, failures, attempt)


def _reject(
    lake: Lake, ds: str, spec: Mapping[str, Any], rows: Sequence[Mapping[str, Any]],
    failures: Sequence[Mapping[str, Any]], attempt: Mapping[str, Any], policy: GatePolicy,
) -> None:  # fmt: skip
    """Move the design's files to ``designs/rejected/ds=<ds>/<design_id>/`` with ``reasons.json``."""
    source = design_prefix(ds, int(spec["segment_id"]), spec["design_id"])
    target = f"{rejected_prefix(ds)}{keys.safe_part(spec['design_id'])}/"
    for obj in lake.list(source):
        lake.copy(obj.key, target + obj.key[len(source) :])
    reasons = {
        "design_id": spec["design_id"], "segment_id": spec["segment_id"], "ds": ds,
        "policy": {"name": policy.name, "version": policy.version},
        "failed_rules": list(failures), "reasons": sorted({t for r in rows for t in r["reasons"]}),
        "grade_reasons": sorted({t for r in rows for t in r["grade_reasons"]}), "optimisation": dict(attempt),
    }  # fmt: skip
    write_json(lake, target + "reasons.json", reasons)
    lake.delete_prefix(source)


def _segment_boxes(specs: Iterable[Mapping[str, Any]], orders: pd.DataFrame) -> list[Box]:
    """Every box size a segment's designs were printed on or its orders ship in, in a stable order."""
    boxes: dict[str, Box] = {}
    for spec in specs:
        for p in spec["print_files"]:
            boxes.setdefault(p["box_code"], (p["box_code"], p["style"], list(p["inner_mm"]), p["board"]))
    for r in orders.itertuples(index=False):
        inner = [float(r.inner_length_mm), float(r.inner_width_mm), float(r.inner_height_mm)]
        boxes.setdefault(r.box_code, (r.box_code, r.style, inner, r.board_grade))
    return [boxes[c] for c in sorted(boxes)]


def _fallback(
    lake: Lake, ds: str, segment_id: int, specs: Sequence[Mapping[str, Any]], orders: pd.DataFrame,
    policy: GatePolicy, library: MaterialsLibrary,
) -> tuple[_Decision, dict[str, Any]]:  # fmt: skip
    """A design for a segment none of whose designs passed: its last published one, else plain."""
    boxes = _segment_boxes(specs, orders)
    base = {
        "segment_id": segment_id, "segment_label": specs[0].get("segment_label", str(segment_id)), "ds": ds,
        "orders": len(orders), "message": specs[0].get("message", ""),
    }  # fmt: skip
    why = f"no design of segment {segment_id} passed the gate"
    skipped, previous = None, None
    if policy.fallback_lookback_days:
        previous = last_published_design(lake, segment_id, ds, policy.fallback_lookback_days)
    if previous is not None:
        try:
            old = read_json(lake, previous["spec_key"])
            tile = design_tile(lake.read_bytes(previous["artwork_key"]), old["inks"], previous["artwork_key"])
            note = {"kind": "previous", "from_ds": previous["ds"], "design_id": previous["design_id"], "why": why}
            spec = {**old, **base, "design_id": previous["design_id"], "message": old.get("message", base["message"])}
            files, new_spec = compose_variant(spec, tile, ds, boxes, fallback=note)
            rows = evaluate_design(new_spec, orders.assign(design_id=new_spec["design_id"]), policy, library)
            if not design_failures(rows):
                lake.upload_many(files)
                return _Decision(new_spec, "fallback", rows), note
            failed = ", ".join(sorted({f["rule"] for f in design_failures(rows)}))
            skipped = f"previous design {previous['design_id']} ({previous['ds']}) fails tonight's policy: {failed}"
        except (InputError, KeyError, OSError) as exc:
            skipped = f"previous design {previous['design_id']} ({previous['ds']}) cannot be reused: {exc}"
    elif policy.fallback_lookback_days:
        skipped = f"no published design of segment {segment_id} in the {policy.fallback_lookback_days} nights before"
    note = {"kind": "plain", "why": why, **({"previous_skipped": skipped} if skipped else {})}
    stamp = ds.replace("-", "")
    design_id = f"d{stamp}-s{segment_id if segment_id >= 0 else 'x'}{PLAIN_SUFFIX}"
    spec = {**base, "design_id": design_id, "motif": "plain", "variant": 0, "inks": [],
            "artwork_source": {"kind": "plain"}, "tile_mm": DEFAULT_TILE_MM}  # fmt: skip
    files, new_spec = compose_variant(spec, np.zeros((PRINT_TILE_PX, PRINT_TILE_PX), np.uint8), ds, boxes,
                                      fallback=note)  # fmt: skip
    lake.upload_many(files)
    rows = evaluate_design(new_spec, orders.assign(design_id=design_id), policy, library)
    return _Decision(new_spec, "fallback", rows), {**note, "design_id": design_id}


def _reassign(orders: pa.Table, decisions: Mapping[str, _Decision], fallbacks: Mapping[int, str]) -> pa.Table:
    """Orders of rejected designs to a passing design of their segment (stable per order), else the fallback."""
    ok = {d: x for d, x in decisions.items() if x.status != "rejected"}
    passing: dict[int, list[str]] = {}
    for design_id, decision in sorted(ok.items()):
        if decision.status in ("passed", "optimised"):
            passing.setdefault(int(decision.spec["segment_id"]), []).append(design_id)
    pdf = {(d, p["box_code"]): p["pdf"] for d, x in ok.items() for p in x.spec["print_files"]}
    design_ids, print_files, moved_from, moved_to = [], [], [], []
    for order_id, segment_id, original, box_code in zip(
        *(orders.column(c).to_pylist() for c in ("order_id", "segment_id", "design_id", "box_code")), strict=True
    ):
        design_id, kind = original, None
        if original not in ok:
            choices = passing.get(int(segment_id))
            if choices:
                design_id, kind = choices[order_choice(order_id, len(choices))], "sibling"
            else:
                design_id, kind = fallbacks[int(segment_id)], "fallback"
        key = pdf.get((design_id, box_code))
        if key is None:  # every design of a segment is printed on all its boxes: a broken staging
            raise PipelineError(f"order {order_id} ships in box {box_code}, which design {design_id} has no print "
                                "file for; rerun the design stage")  # fmt: skip
        design_ids.append(design_id)
        print_files.append(key)
        moved_from.append(original if kind else None)
        moved_to.append(kind)
    out = orders.set_column(orders.schema.get_field_index("design_id"), "design_id", pa.array(design_ids, pa.string()))
    out = out.set_column(out.schema.get_field_index("print_file"), "print_file", pa.array(print_files, pa.string()))
    out = out.append_column("reassigned_from", pa.array(moved_from, pa.string()))
    return out.append_column("reassigned_to", pa.array(moved_to, pa.string()))


SUSTAINABILITY_SCHEMA = pa.schema([
    ("ds", pa.string()), ("design_id", pa.string()), ("segment_id", pa.int32()), ("gate_status", pa.string()),
    ("box_code", pa.string()), ("style", pa.string()), ("inner_length_mm", pa.float64()),
    ("inner_width_mm", pa.float64()), ("inner_height_mm", pa.float64()), ("board_grade", pa.string()),
    ("board_combined_gsm", pa.float64()), ("blank_area_m2", pa.float64()), ("board_mass_kg", pa.float64()),
    ("co2e_kg", pa.float64()), ("co2e_factor_id", pa.string()), ("co2e_factor_value", pa.float64()),
    ("co2e_factor_unit", pa.string()), ("co2e_factor_scope", pa.string()), ("co2e_factor_source", pa.string()),
    ("co2e_factor_year", pa.int32()), ("n_inks", pa.int32()), ("inks", pa.string()),
    ("ink_coverage_total", pa.float64()), ("ink_mass_g", pa.float64()), ("orders", pa.int32()),
    ("esr_mean", pa.float64()), ("esr_max", pa.float64()), ("orders_over_esr_limit", pa.int32()),
    ("mono_material", pa.bool_()), ("materials", pa.string()), ("recyclability_grade", pa.string()),
    ("grade_reasons", pa.list_(pa.string())), ("passed", pa.bool_()), ("design_rules_passed", pa.bool_()),
    ("failed_rules", pa.string()), ("reasons", pa.list_(pa.string())), ("optimised", pa.string()),
    ("policy_version", pa.int32()), ("materials_version", pa.int32()),
])  # fmt: skip
"""One row per (design, box). ``inks``, ``materials``, ``failed_rules`` ({rule, measured, limit}) and
``optimised`` are JSON text; ``passed`` covers every rule, ``design_rules_passed`` all but ESR.
Rows of rejected designs carry their original orders' ESR; the others the gated assignment's."""


def _table(decisions: Iterable[_Decision], ds: str, policy: GatePolicy, library: MaterialsLibrary) -> pa.Table:
    rows = []
    for d in decisions:
        note = d.spec.get("optimised")
        for r in d.rows:
            rows.append({
                **{k: v for k, v in r.items() if k in SUSTAINABILITY_SCHEMA.names}, "ds": ds, "gate_status": d.status,
                "inks": dumps(r["inks"]), "materials": dumps(r["materials"]), "failed_rules": dumps(r["failed_rules"]),
                "optimised": dumps(note, sort_keys=True) if note else None, "policy_version": policy.version,
                "materials_version": library.version,
            })  # fmt: skip
    return pa.Table.from_pylist(rows, schema=SUSTAINABILITY_SCHEMA)


def _segment_summary(
    segment_id: int, decisions: Sequence[_Decision], fallback: Mapping[str, Any] | None, gated: pd.DataFrame
) -> dict[str, Any]:
    """A segment's outcome and its figures: pass rate, mean board and CO2e per box, what its orders ship in."""
    mine = [d for d in decisions if d.status != "fallback"]
    live = [r for d in decisions if d.status != "rejected" for r in d.rows]
    by_pair = {(r["design_id"], r["box_code"]): r for r in live}
    orders = gated[gated["segment_id"] == segment_id]
    shipped = [by_pair[(d, b)] for d, b in zip(orders["design_id"], orders["box_code"], strict=True)]
    ids = {s: sorted(d.spec["design_id"] for d in mine if d.status == s) for s in ("passed", "optimised", "rejected")}
    return {
        "segment_id": segment_id, "designs": len(mine), **ids,
        "pass_rate": round((len(ids["passed"]) + len(ids["optimised"])) / len(mine), 4) if mine else None,
        "fallback": dict(fallback) if fallback else None,
        "orders": len(orders), "orders_reassigned": int(orders["reassigned_from"].notna().sum()),
        "orders_over_esr_limit": int(sum(r["orders_over_esr_limit"] for r in live)),
        "mean_co2e_kg": round(float(np.mean([r["co2e_kg"] for r in live])), 6) if live else None,
        "mean_board_kg": round(float(np.mean([r["board_mass_kg"] for r in live])), 6) if live else None,
        "shipped_co2e_kg": round(sum(r["co2e_kg"] for r in shipped), 6),
        "shipped_board_kg": round(sum(r["board_mass_kg"] for r in shipped), 6),
    }  # fmt: skip


def gate_night(
    settings: Settings, ds: str, policy_path: str | os.PathLike[str] | None = None, *, log_to_mlflow: bool = True
) -> dict[str, Any]:
    """The nightly sustainability gate (CLI ``gate``, the DAG's ``evaluate_sustainability``).

    Reads the design stage's staging for ``ds``, decides every design (see the module docstring),
    writes ``sustainability.parquet``, ``order_designs_gated.parquet`` and, last, ``gate.json``,
    and logs one MLflow run in the ``sustainability`` experiment unless ``log_to_mlflow`` is False.

    Returns:
        The content of gate.json (with the MLflow run id).

    Raises:
        InputError: no staged designs for ``ds``, or a bad policy file.
    """
    lake = open_lake(settings)
    library = load_materials()
    policy = load_policy(policy_path, library)
    prefix = staging_prefix(ds)
    plan_key, orders_key = prefix + keys.PLAN_NAME, prefix + keys.ORDER_DESIGNS_NAME
    if not (lake.exists(plan_key) and lake.exists(orders_key)):
        raise InputError(f"no staged designs for ds={ds} ({lake.uri_of(plan_key)} or order_designs.parquet is "
                         f"missing): run `packaging-pipeline designs --ds {ds}` first")  # fmt: skip
    planned = sorted(read_json(lake, plan_key)["design_ids"])
    # gate.json marks a finished gate (publication reads it): gone until this run finishes.
    lake.delete(prefix + keys.GATE_NAME)
    _reset(lake, ds, planned)
    specs = _staged_specs(lake, ds)
    missing = [d for d in planned if d not in specs]
    if missing:
        raise InputError(f"staging for ds={ds} lacks the designs {missing} its plan.json lists: rerun "
                         f"`packaging-pipeline designs --ds {ds}`")  # fmt: skip
    order_table = read_parquet(lake, orders_key)
    orders = order_table.to_pandas()
    decisions = {d: _decide(lake, ds, specs[d], orders, policy, library) for d in planned}

    segments = sorted({int(specs[d]["segment_id"]) for d in planned})
    fallbacks: dict[int, tuple[_Decision, dict[str, Any]]] = {}
    for sid in segments:
        mine = [decisions[d] for d in planned if int(specs[d]["segment_id"]) == sid]
        if not any(d.status in ("passed", "optimised") for d in mine):
            seg_orders = orders[orders["segment_id"] == sid]
            fallbacks[sid] = _fallback(lake, ds, sid, [d.spec for d in mine], seg_orders, policy, library)
    gated_table = _reassign(order_table, {**decisions, **{f.spec["design_id"]: f for f, _ in fallbacks.values()}},
                            {sid: f.spec["design_id"] for sid, (f, _) in fallbacks.items()})  # fmt: skip
    gated = gated_table.to_pandas()

    final = list(decisions.values()) + [f for f, _ in fallbacks.values()]
    for d in final:
        if d.status == "rejected":
            continue
        d.rows = evaluate_design(d.spec, gated, policy, library)  # ESR of the orders it now ships
        count = int((gated["design_id"] == d.spec["design_id"]).sum())
        if d.spec.get("orders") != count:  # keep spec.json's order count true after reassignment
            d.spec["orders"] = count
            spec_key = design_prefix(ds, int(d.spec["segment_id"]), d.spec["design_id"]) + keys.SPEC_NAME
            lake.write_bytes(spec_key, spec_bytes(d.spec))
    table = _table(final, ds, policy, library)
    write_parquet(lake, prefix + keys.SUSTAINABILITY_NAME, table)
    write_parquet(lake, prefix + keys.ORDER_DESIGNS_GATED_NAME, gated_table)

    counts = {s: sum(d.status == s for d in decisions.values()) for s in ("passed", "optimised", "rejected")}
    gate: dict[str, Any] = {
        "ds": ds, "lake": settings.lake_uri, "policy": policy.summary(),
        "materials": {"version": library.version, "source": library.source},
        "counts": {"designs": len(planned), **counts, "fallbacks": len(fallbacks),
                   "fallback_previous": sum(n["kind"] == "previous" for _, n in fallbacks.values()),
                   "fallback_plain": sum(n["kind"] == "plain" for _, n in fallbacks.values()),
                   "pairs": table.num_rows, "pairs_failed": sum(not p for p in table.column("passed").to_pylist()),
                   "orders": len(gated), "orders_reassigned": int(gated["reassigned_from"].notna().sum()),
                   "orders_over_esr_limit": int(sum(r["orders_over_esr_limit"] for d in final
                                                    if d.status != "rejected" for r in d.rows))},
        "segments": [
            _segment_summary(sid, [decisions[d] for d in planned if int(specs[d]["segment_id"]) == sid]
                             + ([fallbacks[sid][0]] if sid in fallbacks else []),
                             fallbacks[sid][1] if sid in fallbacks else None, gated)
            for sid in segments
        ],
        "designs": [
            {"design_id": d, "segment_id": int(specs[d]["segment_id"]), "status": x.status,
             "failed_rules": x.failures, "optimisation": x.optimisation,
             **({"rejected": f"{rejected_prefix(ds)}{d}/"} if x.status == "rejected" else {})}
            for d, x in decisions.items()
        ] + [{"design_id": f.spec["design_id"], "segment_id": sid, "status": "fallback", "fallback": n}
             for sid, (f, n) in fallbacks.items()],
        "outputs": {"sustainability": prefix + keys.SUSTAINABILITY_NAME,
                    "order_designs_gated": prefix + keys.ORDER_DESIGNS_GATED_NAME,
                    "rejected": rejected_prefix(ds), "gate": prefix + keys.GATE_NAME},
        "mlflow_run_id": None,
    }  # fmt: skip
    if log_to_mlflow:
        gate["mlflow_run_id"] = log_gate(gate, table)
    write_json(lake, prefix + keys.GATE_NAME, gate)
    log.info("ds=%s gate: %s", ds, gate["counts"])
    return gate


def log_gate(gate: Mapping[str, Any], pairs: pa.Table | pd.DataFrame) -> str:
    """Log one night's gate as one run of the ``sustainability`` experiment; returns the run id.

    Params: the policy (name, version, limits) and the materials version; metrics: the counts and,
    per segment, pass rate, mean CO2e and board mass per box and what the night's orders ship in;
    the per-pair table as an MLflow table, gate.json as a dict.
    """
    import mlflow

    ds, policy = gate["ds"], gate["policy"]
    frame = pairs.to_pandas() if isinstance(pairs, pa.Table) else pairs.copy()
    for column in frame.columns:  # MLflow tables want flat cells
        if frame[column].map(lambda v: isinstance(v, list | np.ndarray)).any():
            frame[column] = frame[column].map(lambda v: "; ".join(map(str, v)) if v is not None else None)
    tags = {"policy_version": str(policy["version"])}
    with night_run(SUSTAINABILITY_EXPERIMENT, ds, f"gate ds={ds}", tags) as run:
        mlflow.log_params({
            "ds": ds, "policy_name": policy["name"], "policy_version": policy["version"],
            "policy_updated": policy["updated"], "materials_version": gate["materials"]["version"],
            "default_ink_type": policy["default_ink_type"], **policy["limits"],
        })  # fmt: skip
        metrics = {k: float(v) for k, v in gate["counts"].items()}
        for seg in gate["segments"]:
            for name in ("pass_rate", "mean_co2e_kg", "mean_board_kg", "shipped_co2e_kg", "shipped_board_kg",
                         "orders_over_esr_limit"):  # fmt: skip
                if seg[name] is not None:
                    metrics[f"segment_{seg['segment_id']}_{name}"] = float(seg[name])
        mlflow.log_metrics(metrics)
        mlflow.log_table(frame, artifact_file="sustainability_pairs.json")
        mlflow.log_dict(dict(gate), "gate.json")
        return run.info.run_id
