"""A night's folder never reaches a sibling whose name starts the same, on a local lake and on S3.

An operator backs up a night with ``mv ds=2026-11-20 ds=2026-11-20.bak``; the next run of that night
must neither read the backup as the night nor delete it.
"""

from __future__ import annotations

import datetime as dt

import pytest

from packaging_pipeline.core import keys
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


def test_ingest_of_a_night_beside_its_backup_neither_reads_nor_deletes_the_backup(local_lake, settings_for):
    generate_sample_data(local_lake, start=dt.date(2026, 11, 20), days=1, customers=30, seed=3)
    root = local_lake.root / "raw" / "orders"
    (root / f"ds={NIGHT}").rename(root / f"ds={NIGHT}.bak")
    settings = settings_for(local_lake)
    night_uri = local_lake.uri_of(keys.raw_prefix("orders", NIGHT))
    assert missing_required_inputs(settings, NIGHT) == [f"orders ({night_uri})"]
    backed_up = sorted(p.name for p in (root / f"ds={NIGHT}.bak").iterdir())
    with pytest.raises(Exception, match="orders"):
        ingest_partition(settings, NIGHT)
    assert sorted(p.name for p in (root / f"ds={NIGHT}.bak").iterdir()) == backed_up
