"""spark-submit entry point: one night's daily aggregates, then rolling customer features.

spark-submit spark_jobs/customer_features.py --ds 2026-11-07 [--window-days 90] [--rebuild] [--lake URI]
"""

from __future__ import annotations

import argparse
import sys

from packaging_pipeline.customers.features import DEFAULT_WINDOW_DAYS, run_customer_features
from packaging_pipeline.customers.spark_io import spark_job_main


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ds", required=True, help="night to process, YYYY-MM-DD")
    parser.add_argument("--window-days", type=int, default=DEFAULT_WINDOW_DAYS)
    parser.add_argument(
        "--rebuild",
        action=argparse.BooleanOptionalAction,
        default=False,
        help="recompute every day of the window from accepted data",
    )
    parser.add_argument("--lake", default="", help="lake URI (default: $PACKAGING_LAKE_URI)")
    args = parser.parse_args(argv)
    return spark_job_main(
        f"customer_features ds={args.ds}",
        args.lake,
        lambda io: run_customer_features(io, args.ds, args.window_days, rebuild=args.rebuild).as_dict(),
    )


if __name__ == "__main__":
    sys.exit(main())
