"""Landing a folder of a shop's exports as one night's raw partitions.

Someone trying the product on their own data has exports in a folder, not a lake partitioned by
night. The folder holds one sub-folder per raw source (``clickstream/``, ``orders/``, ``catalog/``,
``feedback/``); landing copies each one's files into ``raw/<source>/ds=<night>/``. What that
partition held before is replaced, so landing again replaces rather than duplicates. Ingest then
reads the files as delivered, through the night's source mappings; rows timed before the night are
late arrivals, which the feature window still counts by the day they happened.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from packaging_pipeline.core import keys
from packaging_pipeline.core.errors import InputError
from packaging_pipeline.core.schemas import CONTRACTS
from packaging_pipeline.core.storage import Lake
from packaging_pipeline.ingest.raw import file_kind

# What a night needs to reach designs: events for the features, orders to box, product dimensions.
NIGHT_SOURCES = ("clickstream", "orders", "catalog")


@dataclasses.dataclass(frozen=True)
class LandedSource:
    source: str
    partition: str  # the lake URI of raw/<source>/ds=<night>/
    files: tuple[str, ...]
    bytes: int
    replaced_files: int  # what the partition held before


def _export_files(folder: Path, source: str) -> list[Path]:
    files, problems = [], []
    for path in sorted(folder.iterdir()):
        if path.name.startswith((".", "_")):
            continue  # editor and OS droppings, markers: ingest skips them too
        if path.is_dir() or file_kind(path.name) is None:
            problems.append(path.name + ("/" if path.is_dir() else ""))
        else:
            files.append(path)
    if problems:
        raise InputError(
            f"exports {folder}: {problems[:5]} cannot be landed as {source} files. Put the {source} export's files "
            f"(.csv, .csv.gz, .tsv, .jsonl, .jsonl.gz, .parquet) directly in {folder}, and nothing else."
        )
    if not files:
        raise InputError(f"exports {folder}: no {source} files in it; add the {source} export or remove the folder")
    return files


def land_exports(
    lake: Lake, folder: str | Path, ds: str, required: tuple[str, ...] = NIGHT_SOURCES
) -> list[LandedSource]:
    """Copy ``folder/<source>/*`` into the night's raw partitions; returns what was landed, per source.

    Raises:
        InputError: the folder is missing, holds something other than source folders, a source folder
            holds a file ingest cannot read, or a ``required`` source is absent. Nothing is copied then.
    """
    root = Path(folder).expanduser()
    if not root.is_dir():
        raise InputError(f"exports {root}: not a folder. Give a folder with one sub-folder per source: "
                         f"{', '.join(CONTRACTS)}")  # fmt: skip
    entries = [p for p in sorted(root.iterdir()) if not p.name.startswith((".", "_"))]
    strays = [p.name for p in entries if not p.is_dir() or p.name not in CONTRACTS]
    if strays:
        raise InputError(
            f"exports {root}: {strays[:5]} is not a source folder. Put each export in the sub-folder of its source "
            f"({', '.join(f'{s}/' for s in CONTRACTS)}), e.g. {root}/orders/orders_export.csv."
        )
    missing = [s for s in required if not (root / s).is_dir()]
    if missing:
        raise InputError(
            f"exports {root}: no {', '.join(f'{s}/' for s in missing)} folder. A night needs "
            f"{', '.join(required)}; the catalog gives each product id its category and its packed dimensions "
            f"(length_mm, width_mm, height_mm, weight_g) for right-sizing."
        )
    planned = {p.name: _export_files(p, p.name) for p in entries}  # every check before the first copy
    landed = []
    for source, files in planned.items():
        prefix = keys.raw_prefix(source, ds)
        replaced = lake.delete_prefix(prefix)
        lake.upload_many((path, prefix + path.name) for path in files)
        landed.append(LandedSource(source, lake.uri_of(prefix), tuple(p.name for p in files),
                                   sum(p.stat().st_size for p in files), replaced))  # fmt: skip
    return landed
