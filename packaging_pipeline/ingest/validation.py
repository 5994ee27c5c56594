"""Row validation against a source contract: pure functions, DataFrame in, typed columns and reasons out.

Every rejected row carries machine-readable reasons such as ``missing_field:customer_id``,
``bad_type:price``, ``bad_enum:event_type``, ``out_of_range:unit_price``, ``bad_format:warehouse_id``,
``future_timestamp:event_time``, ``excess_decimals:unit_price``, ``duplicate_id`` or ``malformed_json``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import decimal
import math
import re
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
from pandas.api import types as ptypes

from packaging_pipeline.core import keys
from packaging_pipeline.core.schemas import MAX_TEXT_CHARS, Field, Kind, SourceContract

MALFORMED_COLUMN = "_malformed"
_BAD = object()  # sentinel: value present but of the wrong type


@dataclasses.dataclass
class ValidatedChunk:
    """Typed values for every contract field, and the reasons (``;``-joined, "" = valid) per row."""

    values: pd.DataFrame
    reasons: pd.Series

    @property
    def valid(self) -> pd.Series:
        return self.reasons == ""


def _to_str(v: Any) -> Any:
    if isinstance(v, str):
        return v
    if isinstance(v, bool):
        return _BAD
    if isinstance(v, int):
        return str(v)
    return _BAD


INT64_RANGE = (-(2**63), 2**63 - 1)
"""What an integer field holds (Parquet and Spark ``long``); a larger value is bad_type, not an overflow."""


def _in_int64(n: int) -> Any:
    return n if INT64_RANGE[0] <= n <= INT64_RANGE[1] else _BAD


def _to_int(v: Any) -> Any:
    if isinstance(v, bool | np.bool_):
        return _BAD
    if isinstance(v, int | np.integer):
        return _in_int64(int(v))
    if isinstance(v, float | np.floating | decimal.Decimal) and math.isfinite(v) and v == int(v):
        return _in_int64(int(v))
    if isinstance(v, str):
        try:
            return _in_int64(int(v.strip()))
        except ValueError:
            return _BAD
    return _BAD


def _to_float(v: Any) -> Any:
    if isinstance(v, bool | np.bool_):
        return _BAD
    if isinstance(v, decimal.Decimal):  # Parquet DECIMAL, how warehouses and Spark export money
        return float(v) if v.is_finite() else _BAD
    if isinstance(v, int | float | np.integer | np.floating):
        return float(v)
    if isinstance(v, str):
        try:
            return float(v.strip())
        except ValueError:
            return _BAD
    return _BAD


def _to_bool(v: Any) -> Any:
    if isinstance(v, bool | np.bool_):
        return bool(v)
    if isinstance(v, str) and v.strip().lower() in ("true", "false", "1", "0", "yes", "no"):
        return v.strip().lower() in ("true", "1", "yes")
    if isinstance(v, int) and v in (0, 1):
        return bool(v)
    return _BAD


def _to_str_list(v: Any) -> Any:
    if isinstance(v, str):
        return [p.strip() for p in v.split(",") if p.strip()]
    if isinstance(v, list | tuple | np.ndarray) and all(isinstance(x, str) for x in v):
        return [str(x) for x in v]
    return _BAD


_SCALAR: dict[Kind, Callable[[Any], Any]] = {
    Kind.STRING: _to_str,
    Kind.INT: _to_int,
    Kind.FLOAT: _to_float,
    Kind.BOOL: _to_bool,
    Kind.STRING_LIST: _to_str_list,
}


def _is_missing(v: Any) -> bool:
    if v is None:
        return True
    if isinstance(v, float) and math.isnan(v):
        return True
    if isinstance(v, str) and not v.strip():
        return True
    return v is pd.NA or v is pd.NaT


def _present_mask(raw: pd.Series) -> pd.Series:
    if ptypes.is_numeric_dtype(raw) or ptypes.is_datetime64_any_dtype(raw) or ptypes.is_bool_dtype(raw):
        return raw.notna()
    return ~raw.map(_is_missing).astype(bool)


_DATE_TEXT = re.compile(r"\d{4}-\d{2}-\d{2}")


def _is_plain_date(v: Any) -> bool:
    """A calendar date, not a moment: ``YYYY-MM-DD``, a date, or a naive midnight timestamp."""
    if isinstance(v, str):
        return _DATE_TEXT.fullmatch(v.strip()) is not None
    if isinstance(v, dt.datetime):  # pd.Timestamp too
        return v.tzinfo is None and v.time() == dt.time(0)
    return isinstance(v, dt.date)


def _parse_dates(raw: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Dates as delivered. A timestamp in a date field is bad_type, never shifted to a UTC day: an order
    shipping on 21 November in New York (``2026-11-21T23:30:00-05:00``) is not a 22 November order."""
    plain = raw.map(lambda v: v is None or _is_plain_date(v)).astype(bool)
    values, _ = _parse_times(raw.where(plain, None), Kind.DATE)
    return values.where(plain, None), ~plain | (values.isna() & raw.notna())


EPOCH_MS_FROM = 1e11
"""Epoch numbers at or above this are milliseconds, below it seconds (1e11 s would be the year 5138)."""


def _epoch_times(raw: pd.Series) -> pd.Series:
    """Numbers as Unix epoch times in UTC (seconds, or milliseconds from EPOCH_MS_FROM); anything else NaT."""
    def number(v: Any) -> float | None:
        if not isinstance(v, int | float | np.integer | np.floating) or isinstance(v, bool | np.bool_):
            return None
        x = float(v)
        return x if math.isfinite(x) and 0 <= x < 1e14 else None

    numbers = raw.map(number).astype("float64")
    millis = numbers >= EPOCH_MS_FROM
    as_seconds = pd.to_datetime(numbers.where(~millis), unit="s", utc=True, errors="coerce")
    as_millis = pd.to_datetime(numbers.where(millis), unit="ms", utc=True, errors="coerce")
    return as_seconds.where(~millis, as_millis)


def _parse_times(raw: pd.Series, kind: Kind) -> tuple[pd.Series, pd.Series]:
    """Parse ISO-8601 strings or datetimes to UTC; naive values are taken as UTC per the contract."""
    if ptypes.is_datetime64_any_dtype(raw):
        values = raw.dt.tz_localize("UTC") if raw.dt.tz is None else raw.dt.tz_convert("UTC")
        bad = pd.Series(False, index=raw.index)
    else:
        is_text = raw.map(lambda v: isinstance(v, str | dt.date | pd.Timestamp)).astype(bool)
        text = raw.where(is_text, None)
        text = text.map(lambda v: v.isoformat() if isinstance(v, dt.date) else v)
        values = pd.to_datetime(text, utc=True, errors="coerce", format="ISO8601")
        if kind is Kind.TIMESTAMP:
            values = values.where(is_text, _epoch_times(raw))
        bad = values.isna()
    if kind is Kind.DATE:
        values = values.dt.date
    return values, bad


def convert_field(raw: pd.Series, field: Field) -> tuple[pd.Series, pd.Series]:
    """Convert one column to its contract type; returns (values, bad_type mask over present values)."""
    present = _present_mask(raw)
    if field.kind is Kind.DATE:
        values, bad = _parse_dates(raw.astype(object).where(present, None))
        return values, bad & present
    if field.kind is Kind.TIMESTAMP:
        values, bad = _parse_times(raw.where(present, None), field.kind)
        return values, bad & present
    if field.kind is Kind.FLOAT and ptypes.is_float_dtype(raw):
        return raw.astype("float64"), pd.Series(False, index=raw.index)
    if field.kind is Kind.INT and ptypes.is_signed_integer_dtype(raw) and not ptypes.is_bool_dtype(raw):
        return raw.astype("Int64"), pd.Series(False, index=raw.index)
    if field.kind is Kind.STRING and ptypes.is_string_dtype(raw) and not ptypes.is_object_dtype(raw):
        return raw.astype(object).where(present, None), pd.Series(False, index=raw.index)
    convert = _SCALAR[field.kind]
    converted = raw.astype(object).map(lambda v: None if _is_missing(v) else convert(v))
    bad = converted.map(lambda v: v is _BAD).astype(bool)
    converted = converted.where(~bad, None)
    if field.kind is Kind.FLOAT:
        converted = pd.to_numeric(converted, errors="coerce").astype("float64")
    elif field.kind is Kind.INT:
        converted = pd.array(converted.tolist(), dtype="Int64")
        converted = pd.Series(converted, index=raw.index)
    return converted, bad


def _excess_decimals(values: pd.Series, places: int) -> pd.Series:
    """Numbers with more than ``places`` decimals (0.0000001 at 6 places), which no exact unit stores.

    A float is taken as the shortest decimal that reads back as it (0.1 is 0.1): rounding it to
    ``places`` gives the same float exactly when that decimal has at most ``places`` decimals.
    """
    numbers = values.to_numpy(dtype="float64", na_value=np.nan)
    finite = np.isfinite(numbers)
    excess = np.zeros(len(numbers), dtype=bool)
    excess[finite] = np.round(numbers[finite], places) != numbers[finite]
    return pd.Series(excess, index=values.index)


def validate_chunk(
    frame: pd.DataFrame, contract: SourceContract, ds: str, future_tolerance_minutes: int = 5
) -> ValidatedChunk:
    """Check every contract rule on a chunk of raw rows.

    Args:
        frame: raw rows, one column per contract field (missing columns read as null), plus an
            optional ``_malformed`` column naming rows that could not be parsed at all.
        contract: the source's contract.
        ds: the partition date; timestamps after its end (plus a tolerance) are in the run's future.
        future_tolerance_minutes: allowed producer clock skew.

    Returns:
        typed values and per-row reasons; duplicates are checked by the caller across chunks.
    """
    n = len(frame)
    reasons = pd.Series([""] * n, index=frame.index, dtype=object)
    malformed = frame[MALFORMED_COLUMN].notna() if MALFORMED_COLUMN in frame else pd.Series(False, index=frame.index)
    if malformed.any():
        reasons[malformed] = frame.loc[malformed, MALFORMED_COLUMN].astype(str) + ";"
    horizon = pd.Timestamp(ds, tz="UTC") + pd.Timedelta(days=1) + pd.Timedelta(minutes=future_tolerance_minutes)

    values: dict[str, pd.Series] = {}
    for field in contract.fields:
        raw = frame[field.name] if field.name in frame else pd.Series([None] * n, index=frame.index, dtype=object)
        present = _present_mask(raw) & ~malformed
        converted, bad = convert_field(raw, field)
        bad &= ~malformed
        checks: list[tuple[str, pd.Series]] = [(f"bad_type:{field.name}", bad)]
        if field.required:
            checks.append((f"missing_field:{field.name}", ~present & ~malformed))
        ok = present & ~bad
        if field.kind in (Kind.STRING, Kind.STRING_LIST):
            checks.append((f"too_large:{field.name}", ok & converted.map(_too_long).astype(bool)))
        if field.enum is not None:
            normalised = converted.where(ok, None).map(lambda v: v.strip().lower() if isinstance(v, str) else v)
            converted = normalised
            checks.append((f"bad_enum:{field.name}", ok & ~normalised.isin(field.enum)))
        ranged = field.minimum is not None or field.maximum is not None or field.nonzero
        if ranged or field.max_decimals is not None:
            numbers = pd.to_numeric(converted.where(ok, None), errors="coerce").astype("float64")
        if ranged:
            out = pd.Series(False, index=frame.index)
            if field.minimum is not None:
                out |= (numbers <= field.minimum) if field.exclusive_minimum else (numbers < field.minimum)
            if field.maximum is not None:
                out |= numbers > field.maximum
            if field.nonzero:
                out |= numbers == 0
            out |= np.isinf(numbers)
            checks.append((f"out_of_range:{field.name}", ok & out.fillna(False).astype(bool)))
        if field.names_key:
            safe = converted.where(ok, None).map(lambda v: isinstance(v, str) and keys.is_safe_part(v))
            checks.append((f"bad_format:{field.name}", ok & ~safe.astype(bool)))
        if field.max_decimals is not None:
            checks.append((f"excess_decimals:{field.name}", ok & _excess_decimals(numbers, field.max_decimals)))
        if field.not_in_future:
            checks.append((f"future_timestamp:{field.name}", ok & (converted > horizon).fillna(False).astype(bool)))
        for code, mask in checks:
            if mask.any():
                reasons[mask] = reasons[mask] + code + ";"
        values[field.name] = converted
    return ValidatedChunk(pd.DataFrame(values, index=frame.index), reasons.str.rstrip(";"))


def _too_long(value: Any) -> bool:
    if isinstance(value, str):
        return len(value) > MAX_TEXT_CHARS
    if isinstance(value, list):
        return any(len(item) > MAX_TEXT_CHARS for item in value)
    return False


def primary_reason(reasons: pd.Series) -> pd.Series:
    """The first reason of each row: the one counted in the ingest report."""
    return reasons.str.split(";").str[0]
