"""A night's folder never reaches a sibling whose name starts the same, on a local lake and on S3.

An operator backs up a night with ``mv ds=2026-11-20 ds=2026-11-20.bak``; the next run of that night
must neither read the backup as the night nor delete it.
"""

from __future__ import annotations

import datetime as dt

import pytest

from packaging_pipeline.core import keys
from packaging_pipeline.core.errors import InputError
from packaging_pipeline.ingest.checks import missing_required_inputs
from packaging_pipeline.ingest.raw import ingest_partition
from packaging_pipeline.sample_data.generate import generate_sample_data

NIGHT = "2026-11-20"


def _backed_up_night(lake) -> str:
    """The night's raw orders exist only as a backup folder beside where the night would be."""
    backup = f"raw/orders/ds={NIGHT}.bak/part-00000.parquet"
    lake.write_bytes(backup, b"PAR1 backup of the night")
    lake.write_bytes(f"accepted/orders/ds={NIGHT}.bak/part-00000.parquet", b"PAR1 accepted backup")
    return backup


def _move(lake, src: str, dst: str) -> dict[str, bytes]:
    """``mv src dst`` of a night's folder, as an operator does it (copy then delete on S3); returns what moved."""
    moved = {o.key[len(src):]: lake.read_bytes(o.key) for o in lake.list(src)}
    assert moved, f"nothing under {src}"
    lake.upload_many((data, dst + rel) for rel, data in moved.items())
    lake.delete_prefix(src)
    return moved


def _untouched(lake, dst: str, moved: dict[str, bytes]) -> None:
    assert {o.key[len(dst):]: lake.read_bytes(o.key) for o in lake.list(dst)} == moved, f"{dst} was touched"


def test_a_missing_night_lists_nothing_and_deletes_nothing_of_its_backup(lake):
    backup = _backed_up_night(lake)
    assert lake.list(keys.raw_prefix("orders", NIGHT)) == []
    assert lake.delete_prefix(keys.raw_prefix("orders", NIGHT)) == 0
    assert lake.delete_prefix(keys.accepted_prefix("orders", NIGHT)) == 0
    assert lake.exists(backup) and lake.exists(f"accepted/orders/ds={NIGHT}.bak/part-00000.parquet")
    # A name prefix without '/' still lists like S3 does (siblings included) ...
    assert [o.key for o in lake.list(f"raw/orders/ds={NIGHT}")] == [backup]


def test_a_present_night_is_replaced_without_touching_its_backup(lake):
    backup = _backed_up_night(lake)
    lake.write_bytes(f"raw/orders/ds={NIGHT}/part-00000.parquet", b"PAR1 the night")
    night_file = f"raw/orders/ds={NIGHT}/part-00000.parquet"
    assert [o.key for o in lake.list(keys.raw_prefix("orders", NIGHT))] == [night_file]
    assert lake.delete_prefix(keys.raw_prefix("orders", NIGHT)) == 1
    assert lake.exists(backup)


@pytest.mark.parametrize("prefix", ["", f"raw/orders/ds={NIGHT}", "raw"])
def test_deleting_by_a_bare_name_prefix_is_refused(lake, prefix):
    """... which is why deleting needs a folder: a bare name prefix would take the backup with it."""
    backup = _backed_up_night(lake)
    with pytest.raises(ValueError, match="name a folder ending in '/'"):
        lake.delete_prefix(prefix)
    assert lake.exists(backup)


def test_ingest_of_a_night_beside_its_backup_neither_reads_nor_deletes_the_backup(lake, settings_for):
    generate_sample_data(lake, start=dt.date(2026, 11, 20), days=1, customers=30, seed=3)
    night, backup = keys.raw_prefix("orders", NIGHT), f"raw/orders/ds={NIGHT}.bak/"
    moved = _move(lake, night, backup)
    settings = settings_for(lake)
    assert missing_required_inputs(settings, NIGHT, lake) == [f"orders ({lake.uri_of(night)})"]
    with pytest.raises(InputError, match=f"no orders data for ds={NIGHT}"):
        ingest_partition(settings, NIGHT, lake)
    _untouched(lake, backup, moved)


@pytest.mark.parametrize("stage", ["ingest", "designs", "publish"])
def test_a_night_moved_to_a_backup_then_rerun_leaves_the_backup_untouched(lake, settings_for, staged, stage):
    """``mv ds=X ds=X.bak`` of the folder a stage writes, then that stage's rerun, on file and S3."""
    from packaging_pipeline.core.storage import LocalLake
    from packaging_pipeline.design.batch import generate_night_designs
    from packaging_pipeline.publication.publish import publish_batch
    from tests.support.nights import DS

    source = LocalLake(staged)
    lake.upload_many((source.read_bytes(o.key), o.key) for o in source.list(""))
    settings = settings_for(lake)
    publish_batch(lake, DS)
    folder = {
        "ingest": keys.accepted_prefix("orders", DS),
        "designs": keys.staging_prefix(DS),
        "publish": keys.published_prefix(DS),
    }[stage]
    backup = folder.rstrip("/") + ".bak/"
    moved = _move(lake, folder, backup)
    if stage == "ingest":
        ingest_partition(settings, DS, lake)
    elif stage == "designs":
        generate_night_designs(settings, DS, designs_per_segment=1, use_model=False, workers=1)
    else:
        publish_batch(lake, DS)
    assert lake.list(folder), f"the rerun of {stage} wrote nothing to {folder}"
    _untouched(lake, backup, moved)
