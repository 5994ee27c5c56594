"""The seam between Airflow and the library: shared task defaults, settings from Params and Connections, the run's ds.

DAG files import this module at parse time, so it imports nothing but the standard library and
the light core modules (settings, errors, keys); stages are imported inside the tasks.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import json
from collections.abc import Iterator, Mapping
from typing import Any

from packaging_pipeline.core.config import S3Options, Settings, parse_mappings
from packaging_pipeline.core.errors import ConfigError, PipelineError
from packaging_pipeline.core.keys import parse_ds

DEFAULT_ARGS = {
    "owner": "data-engineering",
    "retries": 2,
    "retry_delay": dt.timedelta(minutes=5),
    "retry_exponential_backoff": True,
    "max_retry_delay": dt.timedelta(minutes=30),
}
"""Every packaging DAG's task defaults: retries with backoff; bad input fails at once (``night_stage``)."""

AWS_CONN_ID = "aws_default"
PSEUDONYM_CONN_ID = "packaging_pseudonym"


def _connection(conn_id: str) -> Any | None:
    from airflow.sdk import BaseHook
    from airflow.sdk.exceptions import AirflowNotFoundException

    try:
        return BaseHook.get_connection(conn_id)
    except AirflowNotFoundException:
        return None


def _s3_options(conn: Any, base: S3Options) -> S3Options:
    """The AWS connection's endpoint, region and keys; timeouts and retries from its ``config_kwargs`` extra
    (the Amazon provider's convention: ``connect_timeout``, ``read_timeout``, ``retries``), else ``base``'s."""
    extra = conn.extra_dejson if hasattr(conn, "extra_dejson") else json.loads(conn.extra or "{}")
    config = extra.get("config_kwargs") or {}
    retries = config.get("retries") or {}
    return dataclasses.replace(
        base,
        endpoint_url=extra.get("endpoint_url") or base.endpoint_url,
        region_name=extra.get("region_name") or base.region_name,
        aws_access_key_id=conn.login or None,
        aws_secret_access_key=conn.password or None,
        aws_session_token=extra.get("aws_session_token"),
        connect_timeout_s=float(config.get("connect_timeout", base.connect_timeout_s)),
        read_timeout_s=float(config.get("read_timeout", base.read_timeout_s)),
        retry_mode=str(retries.get("mode", base.retry_mode)),
        max_attempts=int(retries.get("max_attempts", base.max_attempts)),
    )


def task_settings(params: Mapping[str, Any] | None = None) -> Settings:
    """Settings for a task: environment first, then the run's Params, then Connections.

    Params: ``lake_uri``, ``max_bad_row_share``, ``source_mappings`` (``{"orders": "shopify-orders"}``:
    a shipped mapping's name or a YAML path per source; over ``PACKAGING_SOURCE_MAPPINGS``),
    ``aws_conn_id``. Connections: the AWS connection
    (its ``endpoint_url`` extra, region and keys) when the lake is on S3, and ``packaging_pseudonym``
    (password = pseudonym key) when ``PACKAGING_PSEUDONYM_KEY`` is not set.
    """
    params = dict(params or {})
    overrides: dict[str, Any] = {}
    if params.get("lake_uri"):
        overrides["lake_uri"] = params["lake_uri"]
    if params.get("max_bad_row_share") is not None:
        overrides["max_bad_row_share"] = float(params["max_bad_row_share"])
    settings = Settings.from_env(**overrides)
    if params.get("source_mappings"):
        given = [f"{source}={mapping}" for source, mapping in dict(params["source_mappings"]).items()]
        mappings = {**dict(settings.mappings), **dict(parse_mappings(given, "Param source_mappings"))}
        settings = settings.replace(mappings=tuple(mappings.items()))
    if settings.lake_uri.startswith("s3://"):
        conn = _connection(params.get("aws_conn_id") or AWS_CONN_ID)
        if conn is not None:
            settings = settings.replace(s3=_s3_options(conn, settings.s3))
    if not settings.pseudonym_key:
        conn = _connection(PSEUDONYM_CONN_ID)
        if conn is not None and conn.password:
            settings = settings.replace(pseudonym_key=conn.password)
    return settings


def run_ds(context: Mapping[str, Any]) -> str:
    """The night a run processes: the ``ds`` Param if given, else the start of the data interval."""
    params = context.get("params") or {}
    if params.get("ds"):
        return parse_ds(str(params["ds"])).isoformat()
    for key in ("data_interval_start", "logical_date"):
        value = context.get(key)
        if value is not None:
            return value.date().isoformat()
    raise ConfigError("this run has no logical date: trigger it with a logical date or set the 'ds' Param")


@contextlib.contextmanager
def failing_fast_on_bad_input() -> Iterator[None]:
    """Turn input/config errors into a task failure without retries: retrying bad data changes nothing."""
    try:
        yield
    except PipelineError as exc:
        from airflow.sdk.exceptions import AirflowFailException

        raise AirflowFailException(str(exc)) from exc


@contextlib.contextmanager
def night_stage(context: Mapping[str, Any]) -> Iterator[Settings]:
    """The preamble of every task: the run's settings, and bad input failing the task without retries.

    Usage inside a task: ``with night_stage(context) as settings: return stage(settings, night)``.
    """
    with failing_fast_on_bad_input():
        yield task_settings(context.get("params"))


def triggered_ds(context: Mapping[str, Any]) -> str:
    """The night an asset-triggered run processes: the newest ``ds`` in its triggering events' extras.

    Falls back to :func:`run_ds` (a scheduled or manual run), then to the newest event's date.
    """
    events = [e for evs in (context.get("triggering_asset_events") or {}).values() for e in evs]
    named = [str(e.extra["ds"]) for e in events if isinstance(getattr(e, "extra", None), dict) and e.extra.get("ds")]
    if named:
        return max(parse_ds(d) for d in named).isoformat()
    try:
        return run_ds(context)
    except ConfigError:
        stamps = [e.timestamp for e in events if getattr(e, "timestamp", None) is not None]
        if not stamps:
            raise
        return max(stamps).date().isoformat()
