"""
### Nightly packaging designs: `packaging_nightly`

One night (`ds`) from raw logs to a published, sustainability-gated batch of box designs that
warehouses pull:

```
wait_for_raw_inputs -> ingest_raw -> build_customer_features -> segment_customers -> log_segment_profiles
                     ingest_raw -> right_size_orders
                     ingest_raw -> train_pattern_gan (gpu) -> evaluate_and_promote_model
log_segment_profiles + right_size_orders + evaluate_and_promote_model -> plan_designs
    -> generate_designs (one mapped task per segment) -> collect_designs -> evaluate_sustainability -> publish_batch
```

- **ds**: the start of the run's data interval (the run at 03:00 UTC on 2026-11-02 processes
  `ds=2026-11-01`); override with the `ds` Param for a manual run.
- **wait_for_raw_inputs / ingest_raw**: wait for every required source's `raw/<source>/ds=<ds>/`, then
  validate it into `accepted/` (pseudonymised) and `quarantine/` (each rejected row with its reason);
  `reports/ingest/ds=<ds>/` reconciles read = accepted + quarantined.
- **Spark** (`build_customer_features`, `segment_customers`): `spark_jobs/*.py` through `spark-submit` on
  the `spark_default` connection (host `local[*]` for one machine, a cluster master when scaled out) write
  `features/daily/`, `features/customer/` and `segments/ds=<ds>/` (assignments, profiles.json) with segment
  ids matched to the previous night's; `log_segment_profiles` makes the `customer-segments` MLflow run.
- **Pattern GAN**: `train_pattern_gan` runs on the `gpu` queue in the one-slot `gpu` pool, warm-starts
  from the `champion` model (or trains from scratch), registers a `challenger`;
  `evaluate_and_promote_model` moves `champion` only when the challenger passes the gate.
- **Parcels**: `right_size_orders` puts every order shipping tomorrow into parcels (the leanest standard
  box, or the warehouse's box-on-demand cut; split when no box takes it whole; own packaging for a unit
  no box takes) and writes `parcels/ds=<ds>/` (no customer data), usable by warehouses even if artwork fails.
- **Designs**: `plan_designs` reads the night's parcels, spends each segment's designs on the
  customer-feedback posteriors, paints the tiles once with the `champion` (the procedural motifs until
  one is promoted) into `designs/work/ds=<ds>/`, and clears the night's staging. `generate_designs` is
  mapped over the segments: each map index composes one segment's designs into
  `designs/staging/ds=<ds>/segment=<id>/` (print files per box size, previews, mockup, spec.json) and a
  retry replaces only that segment. `collect_designs` checks every planned design is staged and writes
  `order_designs.parquet` (each order's box and design) and, last, `plan.json`.
- **Gate and publication**: `evaluate_sustainability` applies `data/gate_policy.yaml` (board, CO2e, inks,
  empty space, recyclability; optimise, reject or fall back); `publish_batch` writes `published/ds=<ds>/`
  (the warehouse contract, `docs/warehouse-contract.md`), `_SUCCESS` last, then `published/LATEST`, and
  emits the `packaging_published_batch` Asset.
- **Feedback**: the `packaging_feedback` DAG (02:30 UTC) turns customer reactions into the posteriors
  `plan_designs` reads.
- Every task reads and writes only its `ds` partition; reruns and backfills replace, never append.
  Bad input fails the task at once (no retries); anything else retries with backoff.

Logic lives in `packaging_pipeline`; this file is wiring only.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from airflow.providers.apache.spark.operators.spark_submit import SparkSubmitOperator
from airflow.sdk import Asset, CronDataIntervalTimetable, Param, PokeReturnValue, dag, task

# Light at parse time (standard library and settings only); every stage is imported inside its task.
from packaging_pipeline.airflow_support import DEFAULT_ARGS, night_stage

SPARK_JOBS = Path(__file__).resolve().parent.parent / "spark_jobs"
NIGHT = "{{ ti.xcom_pull(task_ids='wait_for_raw_inputs') }}"
LAKE = "{{ params.lake_uri or '' }}"
# Emitted when a night's batch is complete (its _SUCCESS written); the event's extra names the ds and prefix.
PUBLISHED_BATCH = Asset(name="packaging_published_batch")


@dag(
    dag_id="packaging_nightly",
    schedule=CronDataIntervalTimetable("0 3 * * *", timezone="UTC"),
    start_date=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    tags=["packaging", "nightly", "ingest"],
    doc_md=__doc__,
    params={
        "ds": Param(None, type=["null", "string"], description="Night to process (YYYY-MM-DD); default: the run's"),
        "lake_uri": Param(None, type=["null", "string"], description="Lake URI; default: PACKAGING_LAKE_URI"),
        "max_bad_row_share": Param(None, type=["null", "number"], minimum=0, maximum=1),
        "source_mappings": Param({}, type="object", description="Source mapping per raw source, e.g. "
                                 '{"clickstream": "rees46", "orders": "shopify-orders"} or a YAML path'),
        "aws_conn_id": Param("aws_default", type="string", description="AWS connection for an s3:// lake"),
        "window_days": Param(90, type="integer", minimum=1, description="Trailing window of customer features"),
        "rebuild_features": Param(False, type="boolean", description="Recompute the whole window from accepted"),
        "segment_k": Param(None, type=["null", "integer"], minimum=2, description="Segments; default: silhouette"),
        "segment_k_min": Param(3, type="integer", minimum=2),
        "segment_k_max": Param(10, type="integer", minimum=2),
        "min_segment_size": Param(25, type="integer", minimum=1, description="Smaller segments are merged"),
        "gan_profile": Param("cpu", enum=["cpu", "gpu"], description="Training profile (tile size, width, epochs)"),
        "gan_epochs": Param(None, type=["null", "integer"], minimum=1, description="Default: the profile's"),
        "gan_pretrain_epochs": Param(None, type=["null", "integer"], minimum=0,
                                     description="Discriminator motif pretraining (from scratch only); default: "
                                                 "the profile's"),
        "gan_from_scratch": Param(False, type="boolean", description="Do not warm-start from the champion"),
        "judge_epochs": Param(None, type=["null", "integer"], minimum=1,
                              description="Training epochs of the motif judge when the corpus has none registered "
                                          "yet; default 100 (fewer only for smoke runs)"),
        "corpus_uri": Param(None, type=["null", "string"], description="Image corpus; default: procedural motifs"),
        "on_demand": Param(False, type="boolean", description="Plan as if every warehouse had a box-on-demand machine"),
        "designs_per_segment": Param(4, type="integer", minimum=1, description="Designs composed per segment"),
        "tile_mm": Param(40.0, type="number", minimum=5, maximum=500, description="Size of one pattern repeat"),
    },
)
def packaging_nightly() -> None:
    @task.sensor(poke_interval=300, timeout=6 * 3600, mode="reschedule")
    def wait_for_raw_inputs(**context) -> PokeReturnValue:
        """Wait until every required source has delivered the night's partition."""
        from packaging_pipeline.airflow_support import run_ds
        from packaging_pipeline.ingest.checks import missing_required_inputs

        with night_stage(context) as settings:
            ds = run_ds(context)
            missing = missing_required_inputs(settings, ds)
        if missing:
            print(f"ds={ds}: waiting for {', '.join(missing)}")
        return PokeReturnValue(is_done=not missing, xcom_value=ds)

    @task
    def ingest_raw(night: str, **context) -> dict:
        """Validate the night's raw partitions; returns the counts and keys (not data) for XCom."""
        from packaging_pipeline.ingest.raw import ingest_partition

        with night_stage(context) as settings:
            return ingest_partition(settings, night).as_dict()

    build_customer_features = SparkSubmitOperator(
        task_id="build_customer_features",
        doc_md="Aggregate the night's accepted events and orders, then merge the trailing window (Spark).",
        application=str(SPARK_JOBS / "customer_features.py"),
        conn_id="spark_default",
        name="customer_features",
        application_args=[
            "--ds", NIGHT, "--lake", LAKE, "--window-days", "{{ params.window_days }}",
            "{{ '--rebuild' if params.rebuild_features else '--no-rebuild' }}",
        ],
    )  # fmt: skip
    segment_customers = SparkSubmitOperator(
        task_id="segment_customers",
        doc_md="KMeans segments with ids matched to the previous night's; writes assignments and profiles.",
        application=str(SPARK_JOBS / "segment_customers.py"),
        conn_id="spark_default",
        name="segment_customers",
        application_args=[
            "--ds", NIGHT, "--lake", LAKE, "--k", "{{ params.segment_k or 0 }}",
            "--k-min", "{{ params.segment_k_min }}", "--k-max", "{{ params.segment_k_max }}",
            "--min-segment-size", "{{ params.min_segment_size }}",
        ],
    )  # fmt: skip

    @task
    def log_segment_profiles(night: str, **context) -> str:
        """Log the night's segment profiles to MLflow for analysts; returns the run id."""
        from packaging_pipeline.customers.tracking import log_night_segments

        with night_stage(context) as settings:
            return log_night_segments(settings, night)

    @task
    def right_size_orders(night: str, **context) -> dict:
        """Parcel every order shipping tomorrow in its leanest box (or the warehouse's on-demand cut)."""
        from packaging_pipeline.design.right_size import right_size_stage

        with night_stage(context) as settings:
            _, summary = right_size_stage(settings, night, on_demand_everywhere=context["params"]["on_demand"])
        return {k: summary[k] for k in ("orders", "parcels", "own_packaging", "mean_esr", "share_esr_over_50pct",
                                        "board_m2_total", "parcels_key")}  # fmt: skip

    @task(queue="gpu", pool="gpu", execution_timeout=dt.timedelta(hours=4))
    def train_pattern_gan(night: str, **context) -> dict:
        """Fine-tune the pattern GAN from the champion (or train from scratch); registers a challenger."""
        import functools

        from packaging_pipeline.feedback.bandit import night_class_weights
        from packaging_pipeline.gan.night import gate_policy, train_for_night

        params = context["params"]
        with night_stage(context) as settings:
            result = train_for_night(
                settings, night, params["corpus_uri"], params["gan_profile"],
                epochs=params["gan_epochs"], from_scratch=params["gan_from_scratch"],
                pretrain_epochs=params["gan_pretrain_epochs"],
                class_weights_for=functools.partial(night_class_weights, settings, night),
                policy=gate_policy(params["judge_epochs"]),
            )  # fmt: skip
        return {k: result[k] for k in ("run_id", "model_version", "model_uri", "warm_started_from", "epochs_run")}

    @task
    def evaluate_and_promote_model(night: str, trained: dict, **context) -> dict:
        """Score the challenger against held-out motifs; move the champion alias only if it earns it."""
        from packaging_pipeline.gan.night import evaluate_for_night, gate_policy

        params = context["params"]
        with night_stage(context) as settings:
            report = evaluate_for_night(settings, night, params["corpus_uri"], params["gan_profile"],
                                        policy=gate_policy(params["judge_epochs"]))  # fmt: skip
        return {k: report[k] for k in ("challenger_version", "champion_version_after", "promoted", "reasons")}

    @task
    def plan_designs(night: str, gate: dict, **context) -> list[int]:
        """Plan each segment's designs on the box sizes its orders need and paint the tiles once."""
        from packaging_pipeline.design.batch import plan_night_designs

        params = context["params"]
        with night_stage(context) as settings:
            return plan_night_designs(settings, night, designs_per_segment=params["designs_per_segment"],
                                      tile_mm=float(params["tile_mm"]))  # fmt: skip

    @task(execution_timeout=dt.timedelta(hours=2), map_index_template="segment {{ segment_id }}",
          doc_md="Compose one segment's designs into `designs/staging/ds=<ds>/segment=<id>/`; a retry "
                 "replaces only that segment.")  # fmt: skip
    def generate_designs(night: str, segment: int, **context) -> dict:
        """Compose one segment's designs (print files per box size, previews, spec) into the night's staging."""
        from airflow.sdk import get_current_context

        from packaging_pipeline.design.batch import compose_segment_designs

        get_current_context()["segment_id"] = segment  # names this map index in the UI
        with night_stage(context) as settings:
            return compose_segment_designs(settings, night, [segment])

    @task
    def collect_designs(night: str, composed: list[dict], **context) -> dict:
        """Check every planned design is staged; write the order-to-design table and plan.json."""
        from packaging_pipeline.design.batch import collect_night_designs

        with night_stage(context) as settings:
            plan = collect_night_designs(settings, night, composed)
        return {k: plan[k] for k in ("designs", "print_files", "orders_with_design", "orders_unfit", "artwork_source")}

    @task
    def evaluate_sustainability(night: str, designs: dict, **context) -> dict:
        """Score every design x box (board, CO2e, inks, ESR, grade); reject, optimise or fall back per policy."""
        from packaging_pipeline.gate.night import gate_night

        with night_stage(context) as settings:
            gate = gate_night(settings, night)
        return {"counts": gate["counts"], "policy": gate["policy"]}

    @task(outlets=[PUBLISHED_BATCH])
    def publish_batch(night: str, designs: dict, gate: dict, parcels: dict, **context) -> dict:
        """Publish the gated batch for warehouses: files, assignments, manifest, then _SUCCESS, then LATEST.

        Returns the night's summary (its XCom, and the Asset event's extra): designs, parcels, mean ESR,
        the published URI.
        """
        from packaging_pipeline.publication.publish import publish_night

        with night_stage(context) as settings:
            result = publish_night(settings, night,
                                   model_version=designs["artwork_source"].get("model_version"))  # fmt: skip
        summary = {
            **{k: result[k] for k in ("published_uri", "designs", "print_files", "orders", "latest")},
            **{k: parcels[k] for k in ("parcels", "own_packaging", "mean_esr", "share_esr_over_50pct")},
            "designs_rejected": gate["counts"].get("rejected", 0),
        }  # fmt: skip
        context["outlet_events"][PUBLISHED_BATCH].extra = {"ds": night, "prefix": result["published_uri"], **summary}
        return summary

    night = wait_for_raw_inputs()
    ingested = ingest_raw(night)
    profiles = ingested >> build_customer_features >> segment_customers >> log_segment_profiles(night)
    # Training needs the night, not the customers: the GPU worker runs it while Spark builds features.
    gate = evaluate_and_promote_model(night, train_pattern_gan(night))
    segments = plan_designs(night, gate)
    profiles >> segments
    parcels = right_size_orders(night)
    ingested >> parcels >> segments
    # One design task per segment, spread over the workers; a failed segment retries alone.
    designs = collect_designs(night, generate_designs.partial(night=night).expand(segment=segments))
    publish_batch(night, designs, evaluate_sustainability(night, designs), parcels)


packaging_nightly()
