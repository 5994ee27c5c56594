"""spark-submit entry point: segment one night's customers, with ids stable across nights.

spark-submit spark_jobs/segment_customers.py --ds 2026-11-07 [--k 6 | --k-min 3 --k-max 10]
    [--min-segment-size 25] [--seed 42] [--lake URI]
"""

from __future__ import annotations

import argparse
import sys

from packaging_pipeline.customers.segments import add_segmentation_arguments, run_segmentation, segmentation_config
from packaging_pipeline.customers.spark_io import spark_job_main


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ds", required=True, help="night to process, YYYY-MM-DD")
    parser.add_argument("--lake", default="", help="lake URI (default: $PACKAGING_LAKE_URI)")
    add_segmentation_arguments(parser)
    args = parser.parse_args(argv)
    config = segmentation_config(args)
    return spark_job_main(
        f"segment_customers ds={args.ds}", args.lake, lambda io: run_segmentation(io, args.ds, config)
    )


if __name__ == "__main__":
    sys.exit(main())
