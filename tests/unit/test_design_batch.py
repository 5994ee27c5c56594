"""The night's bulk design stage on a small lake: plan, files, order assignment, reruns, privacy."""

from __future__ import annotations

import hashlib
import json

import pyarrow.parquet as pq
import pytest

from packaging_pipeline.core.errors import InputError
from packaging_pipeline.core.keys import segment_staging_prefix, staging_prefix
from packaging_pipeline.core.storage import LocalLake
from packaging_pipeline.design.batch import (
    DEFAULT_SEGMENT,
    collect_night_designs,
    compose_segment_designs,
    generate_night_designs,
    plan_night_designs,
)
from tests.support.nights import DS


def _hashes(lake: LocalLake) -> dict[str, str]:
    return {
        o.key: hashlib.sha256(lake.read_bytes(o.key)).hexdigest()
        for o in lake.list(staging_prefix(DS))
        if not o.key.endswith("plan.json")  # it carries timings
    }


def test_every_fitted_order_gets_a_design_of_its_segment_on_its_box(night):
    lake, settings = night
    plan = generate_night_designs(settings, DS, designs_per_segment=2, use_model=False, workers=1)
    assert plan["artwork_source"]["kind"] == "procedural"
    assert plan["designs"] == 2 + 2 + 1  # two per segment, one default design for the unsegmented and guests
    orders = pq.read_table(lake.root / staging_prefix(DS) / "order_designs.parquet").to_pandas()
    assert len(orders) == plan["orders_with_design"] == plan["right_sizing"]["fitted"] > 0
    assert "customer_key" not in orders and "customer_id" not in orders  # nothing personal leaves
    assert DEFAULT_SEGMENT in set(orders["segment_id"])
    for row in orders.itertuples():
        assert f"-s{row.segment_id}-" in row.design_id or (
            row.segment_id == DEFAULT_SEGMENT and "-sx-" in row.design_id
        )
        inner = f"{row.inner_length_mm:g}x{row.inner_width_mm:g}x{row.inner_height_mm:g}"
        assert row.print_file.endswith(f"dieline-{row.box_code}-{inner}.pdf") and lake.exists(row.print_file)
    specs = [json.loads(lake.read_bytes(o.key)) for o in lake.list(staging_prefix(DS)) if o.key.endswith("spec.json")]
    assert len(specs) == plan["designs"] and sum(s["orders"] for s in specs) == len(orders)
    by_segment = {s["segment_id"]: s for s in specs}
    assert [i["name"] for i in by_segment[0]["inks"]] == ["yellow", "navy"]  # lightest ink on slot 1
    assert by_segment[1]["message"] == "Open for play" and by_segment[0]["dpi"] >= 150
    for spec in specs:
        for pf in spec["print_files"]:
            assert lake.exists(pf["pdf"]) and lake.exists(pf["svg"]) and pf["layout"]["contrast"] >= 4.5
        prefix = pf["pdf"].rsplit("/", 1)[0] + "/"
        assert all(lake.exists(prefix + f) for f in ("artwork.png", "preview.png", "mockup.png"))


def test_the_designs_of_a_segment_have_different_artwork(night):
    lake, settings = night
    # Nine designs over eight motifs: each segment paints one motif twice, from two latents.
    generate_night_designs(settings, DS, designs_per_segment=9, use_model=False, workers=2)
    specs = [json.loads(lake.read_bytes(o.key)) for o in lake.list(staging_prefix(DS)) if o.key.endswith("spec.json")]
    by_segment: dict[int, list[str]] = {}
    for spec in specs:
        by_segment.setdefault(spec["segment_id"], []).append(spec["pattern_sha256"])
    repeated = [s for s in specs if s["variant"] > 0]
    assert repeated and max(len(p) for p in by_segment.values()) == 9
    for segment, patterns in by_segment.items():
        assert len(set(patterns)) == len(patterns), (segment, patterns)


def test_a_rerun_replaces_the_staging_with_identical_files(night):
    lake, settings = night
    generate_night_designs(settings, DS, designs_per_segment=2, use_model=False, workers=1)
    first = _hashes(lake)
    lake.write_bytes(staging_prefix(DS) + "segment=9/stale/spec.json", b"{}")  # left by an older run
    generate_night_designs(settings, DS, designs_per_segment=2, use_model=False, workers=2)
    assert _hashes(lake) == first  # byte-identical, whether composed in one process or two


def test_one_task_per_segment_stages_the_same_files_and_a_retry_replaces_only_its_segment(night):
    lake, settings = night
    generate_night_designs(settings, DS, designs_per_segment=2, use_model=False, workers=1)
    whole = _hashes(lake)
    segments = plan_night_designs(settings, DS, designs_per_segment=2, use_model=False)
    assert segments == [DEFAULT_SEGMENT, 0, 1] and not lake.list(staging_prefix(DS))  # the plan clears staging
    composed = [compose_segment_designs(settings, DS, [s], workers=1) for s in segments]
    assert [c["segments"] for c in composed] == [[s] for s in segments] and sum(c["designs"] for c in composed) == 5
    with pytest.raises(InputError, match=r"segment\(s\) \[7\] have no designs in the plan of ds=2026-11-02"):
        compose_segment_designs(settings, DS, [7])
    # A retried segment replaces its own folder and nothing else.
    seg0, seg1 = segment_staging_prefix(DS, 0), segment_staging_prefix(DS, 1)
    lake.write_bytes(seg0 + "left-by-the-failed-try.pdf", b"%PDF-partial")
    other = {o.key: lake.read_bytes(o.key) for o in lake.list(seg1)}
    compose_segment_designs(settings, DS, [0], workers=1)
    assert not lake.exists(seg0 + "left-by-the-failed-try.pdf")
    assert {o.key: lake.read_bytes(o.key) for o in lake.list(seg1)} == other
    # The collect step refuses a night with a segment missing, naming it; then it finishes the night.
    lake.delete_prefix(seg1)
    with pytest.raises(InputError, match=r"planned design\(s\) of segment\(s\) \[1\] are not staged"):
        collect_night_designs(settings, DS, composed)
    assert not lake.exists(staging_prefix(DS) + "plan.json")
    compose_segment_designs(settings, DS, [1], workers=1)
    plan = collect_night_designs(settings, DS, composed)
    assert plan["design_tasks"] == 3 and plan["designs"] == 5
    assert _hashes(lake) == whole  # byte-identical to the stage in one process


def test_a_night_without_segments_is_a_clear_error(night):
    _, settings = night
    with pytest.raises(InputError, match="no segment profiles for ds=2026-11-01"):
        generate_night_designs(settings, "2026-11-01", use_model=False)


def _pool_in_a_daemonic_process(queue, script) -> None:  # noqa: ANN001 - a multiprocessing queue
    import concurrent.futures
    import multiprocessing
    import sys

    from billiard import process as billiard_process

    from packaging_pipeline.design.batch import child_processes_allowed

    # What a Celery prefork child is: billiard's daemonic Process object as multiprocessing's current
    # process, with billiard's auth key (which multiprocessing's spawn refuses to pickle).
    pool_child = billiard_process.Process()
    pool_child._config["daemon"] = True
    billiard_process._set_current_process(pool_child)
    assert multiprocessing.current_process() is pool_child
    # Launched by a script whose import fails in a task process (the airflow CLI without its database).
    main = sys.modules["__main__"]
    main.__spec__, main.__file__ = None, str(script)
    spawn = multiprocessing.get_context("spawn")
    try:
        with concurrent.futures.ProcessPoolExecutor(1, mp_context=spawn) as pool:
            pool.submit(abs, -1).result()
        queue.put("started without the guard")
    except AssertionError as exc:  # what a Celery prefork child sees without the guard
        queue.put(f"refused: {exc}")
    with child_processes_allowed(), concurrent.futures.ProcessPoolExecutor(1, mp_context=spawn) as pool:
        queue.put(pool.submit(abs, -7).result())
    assert main.__file__ == str(script)


def test_design_workers_start_inside_a_daemonic_process_like_a_celery_task(tmp_path):
    import multiprocessing

    script = tmp_path / "airflow"
    script.write_text("raise SystemExit('re-ran the launching script in a worker')\n")
    spawn = multiprocessing.get_context("spawn")
    queue = spawn.Queue()
    child = spawn.Process(target=_pool_in_a_daemonic_process, args=(queue, script), daemon=True)
    child.start()
    child.join(timeout=120)
    assert child.exitcode == 0
    assert queue.get(timeout=5) == "refused: daemonic processes are not allowed to have children"
    assert queue.get(timeout=5) == 7
