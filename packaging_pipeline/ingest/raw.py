"""Validated ingest: raw partition -> canonical accepted Parquet + quarantine, with reconciled counts.

For each source and night: every file of ``raw/<source>/ds=<ds>/`` (Parquet, JSON Lines, gzip'd
JSON Lines, from any number of producers) is read in chunks, validated against the contract,
de-duplicated by id, pseudonymised, and written to ``accepted/<source>/ds=<ds>/``; each rejected
row goes to ``quarantine/<source>/ds=<ds>/`` with its reasons. ``read = accepted + quarantined``
always holds. Reruns replace both outputs.
"""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import gzip
import hashlib
import io
import json
import logging
import tempfile
import zlib
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from packaging_pipeline.core import keys
from packaging_pipeline.core.config import CsvDialect, Settings
from packaging_pipeline.core.errors import InputError
from packaging_pipeline.core.formats import dumps, iter_lines, write_json
from packaging_pipeline.core.schemas import CONTRACTS, SourceContract
from packaging_pipeline.core.storage import Lake, ObjectInfo, open_lake
from packaging_pipeline.ingest.mappings import load_mapping, name_delivered_columns
from packaging_pipeline.ingest.privacy import pseudonymise
from packaging_pipeline.ingest.validation import MALFORMED_COLUMN, primary_reason, validate_chunk

log = logging.getLogger(__name__)

CHUNK_ROWS = 100_000
JSONL_SUFFIXES = (".jsonl", ".json", ".ndjson", ".jsonl.gz", ".json.gz", ".ndjson.gz")
PARQUET_SUFFIXES = (".parquet",)
CSV_SUFFIXES = (".csv", ".csv.gz", ".tsv", ".tsv.gz")
QUARANTINE_SCHEMA = pa.schema(
    [
        ("source_file", pa.string()),
        ("line", pa.int64()),
        ("reason", pa.string()),
        ("reasons", pa.string()),
        ("record", pa.string()),
        ("raw_sha256", pa.string()),
    ]
)


@dataclasses.dataclass
class SourceResult:
    source: str
    ds: str
    read: int = 0
    accepted: int = 0
    quarantined: int = 0
    reasons: dict[str, int] = dataclasses.field(default_factory=dict)
    files: list[str] = dataclasses.field(default_factory=list)
    empty_files: list[str] = dataclasses.field(default_factory=list)
    skipped: list[dict[str, str]] = dataclasses.field(default_factory=list)  # {"file", "reason"}, never read
    # Delivered columns the contract does not have, each with the contract field it only differs from in case
    # (a producer's "Price" is not "price": its values are not read, and the report says so).
    unknown_columns: dict[str, str | None] = dataclasses.field(default_factory=dict)
    partition_found: bool = False
    # The producer said the night has no rows: a ``_SUCCESS`` marker, or a zero-row Parquet file with columns.
    declared_empty: bool = False
    accepted_key: str | None = None
    quarantine_key: str | None = None
    mapping: dict[str, Any] | None = None  # the source mapping applied: name, version, where it came from
    delivered_columns: list[str] = dataclasses.field(default_factory=list)
    column_types: dict[str, str] = dataclasses.field(default_factory=dict)  # Parquet deliveries only
    # Against the last earlier night with a delivery of this source: {"since", "new", "missing", "type_changed"}
    schema_drift: dict[str, Any] | None = None

    @property
    def bad_share(self) -> float:
        return self.quarantined / self.read if self.read else 0.0

    def top_reasons(self, n: int = 3) -> str:
        top = sorted(self.reasons.items(), key=lambda kv: (-kv[1], kv[0]))[:n]
        return ", ".join(f"{reason} ({count})" for reason, count in top) or "none"

    def as_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["bad_share"] = round(self.bad_share, 6)
        return out


@dataclasses.dataclass
class _RawChunk:
    frame: pd.DataFrame
    source_file: str
    lines: np.ndarray
    raw_sha256: list[str | None]
    delivered_columns: frozenset[str] = frozenset()  # the names the producer used, before projection
    column_types: tuple[tuple[str, str], ...] = ()  # a typed format's (Parquet) delivered column types


def unknown_columns(columns: set[str], contract: SourceContract) -> dict[str, str | None]:
    """Columns outside the contract, each mapped to the field it matches but for case (else None)."""
    by_fold = {name.casefold(): name for name in contract.field_names}
    known = set(contract.field_names)
    return {c: by_fold.get(c.casefold()) for c in sorted(columns - known)}


SUCCESS_MARKER = "_SUCCESS"
"""The Hadoop convention: the producer finished the partition. Alone in it, it declares an empty night."""


def skip_reason(obj: ObjectInfo, partition: str) -> str | None:
    """Why a file in a raw partition is not read, or None: only the partition's own visible files are data."""
    name = obj.key.removeprefix(partition)
    if "/" in name:
        return "in_subfolder"
    if obj.symlink:
        return "symlink"
    if name.startswith("."):
        return "hidden_file"
    if name.startswith("_"):
        return "marker"
    return None


def file_kind(key: str) -> str | None:
    """``parquet``, ``jsonl`` or ``csv`` by the file name's ending; None for a format ingest does not read."""
    name = key.rsplit("/", 1)[-1]
    if name.endswith(PARQUET_SUFFIXES):
        return "parquet"
    if name.endswith(JSONL_SUFFIXES):
        return "jsonl"
    if name.endswith(CSV_SUFFIXES):
        return "csv"
    return None


def _printable(name: str) -> str:
    """A field name fit for a reason code, whatever it holds (lone surrogates escaped)."""
    return name.encode("utf-8", "backslashreplace").decode("ascii", "replace")


def _not_unicode(record: dict[str, Any]) -> str | None:
    """The first field whose name or text is not valid Unicode (a lone UTF-16 surrogate), else None."""
    for name, value in record.items():
        for text in (name, value):
            if isinstance(text, str):
                try:
                    text.encode("utf-8")
                except UnicodeEncodeError:
                    return _printable(name)
    return None


class _DuplicateKey(ValueError):
    """A JSON object naming one key twice: which value the producer meant is unknown, so the line is bad."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    record = dict(pairs)
    if len(record) != len(pairs):
        names = [name for name, _ in pairs]
        raise _DuplicateKey(next(name for i, name in enumerate(names) if name in names[:i]))
    return record


class _Chunks:
    """A file's records gathered into chunks of CHUNK_ROWS, each record with its line and, when it is
    malformed, the sha256 of its raw bytes."""

    def __init__(self, key: str, columns: tuple[str, ...]):
        self.key, self.columns = key, columns
        self.records: list[dict[str, Any]] = []
        self.lines: list[int] = []
        self.hashes: list[str | None] = []

    def add(self, record: dict[str, Any], line: int, raw_sha256: str | None) -> bool:
        """Keep one record; True when a chunk is full and should be taken."""
        self.records.append(record)
        self.lines.append(line)
        self.hashes.append(raw_sha256)
        return len(self.records) >= CHUNK_ROWS

    def take(self, delivered: frozenset[str]) -> _RawChunk:
        frame = pd.DataFrame.from_records(self.records, columns=[*self.columns, MALFORMED_COLUMN])
        chunk = _RawChunk(frame, self.key, np.asarray(self.lines, dtype=np.int64), self.hashes, delivered)
        self.records, self.lines, self.hashes = [], [], []
        return chunk


def _read_jsonl(lake: Lake, key: str, columns: tuple[str, ...]) -> Iterator[_RawChunk]:
    """Parse line by line so one malformed line costs one row, not the file."""
    chunks = _Chunks(key, columns)
    delivered: set[str] = set()
    for number, line in enumerate(iter_lines(lake, key), start=1):
        if not line.strip():
            continue
        raw_sha256: str | None = hashlib.sha256(line).hexdigest()
        try:
            parsed = json.loads(line, object_pairs_hook=_unique_keys)
            if not isinstance(parsed, dict):
                parsed = {MALFORMED_COLUMN: "malformed_record"}
            elif (broken := _not_unicode(parsed)) is not None:
                parsed = {MALFORMED_COLUMN: f"invalid_unicode:{broken}"}
            else:
                parsed.pop(MALFORMED_COLUMN, None)
                delivered.update(map(str, parsed))
                raw_sha256 = None  # a good row is quarantined, if at all, with its parsed record
        except _DuplicateKey as dup:
            parsed = {MALFORMED_COLUMN: f"duplicate_key:{_printable(dup.name)}"}
        except (ValueError, RecursionError):  # RecursionError: nested deeper than the parser's stack
            parsed = {MALFORMED_COLUMN: "malformed_json"}
        if chunks.add(parsed, number, raw_sha256):
            yield chunks.take(frozenset(delivered))
    if chunks.records:
        yield chunks.take(frozenset(delivered))


def _unreadable_rows(
    key: str, columns: tuple[str, ...], rows: int, reason: str, delivered: frozenset[str]
) -> Iterator[_RawChunk]:
    """A file's rows as malformed records with one reason, in chunks: counted and quarantined, not read."""
    for start in range(0, rows, CHUNK_ROWS):
        n = min(CHUNK_ROWS, rows - start)
        frame = pd.DataFrame({**{name: [None] * n for name in columns}, MALFORMED_COLUMN: [reason] * n})
        yield _RawChunk(frame, key, np.arange(start + 1, start + n + 1, dtype=np.int64), [None] * n, delivered)


def _read_parquet(lake: Lake, key: str, columns: tuple[str, ...]) -> Iterator[_RawChunk]:
    with tempfile.TemporaryDirectory(prefix="ingest-") as tmp:
        local = Path(tmp) / "part.parquet"
        with lake.open_read(key) as src, open(local, "wb") as dst:
            while block := src.read(8 * 1024 * 1024):
                dst.write(block)
        parquet = pq.ParquetFile(local)
        names = parquet.schema_arrow.names
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:  # which column is the field is unknowable: every row of the file is quarantined
            yield from _unreadable_rows(key, columns, parquet.metadata.num_rows, f"duplicate_column:{twice[0]}",
                                        frozenset(names))  # fmt: skip
            return
        present = [name for name in columns if name in names]
        offset = 0
        for batch in parquet.iter_batches(batch_size=CHUNK_ROWS, columns=present):
            frame = batch.to_pandas(types_mapper={pa.string(): pd.StringDtype()}.get)
            for name in columns:
                if name not in frame:
                    frame[name] = None
            lines = np.arange(offset + 1, offset + len(frame) + 1, dtype=np.int64)
            offset += len(frame)
            types = tuple((f.name, str(f.type)) for f in parquet.schema_arrow)
            yield _RawChunk(frame, key, lines, [None] * len(frame), frozenset(parquet.schema_arrow.names), types)


def _csv_records(lake: Lake, key: str, dialect: CsvDialect) -> Iterator[tuple[int, list[str] | str]]:
    """(line where the record starts, its fields, or why it cannot be read), after the header (line 1).

    Bytes that are not text in ``dialect.encoding`` come through as lone surrogates (``surrogateescape``),
    so one such record is quarantined and the file goes on; a quoting error costs its record only.
    """
    with lake.open_read(key) as raw:
        stream = gzip.GzipFile(fileobj=raw) if key.endswith(".gz") else raw
        text = io.TextIOWrapper(stream, encoding=dialect.encoding, errors="surrogateescape", newline="")
        reader = csv.reader(text, delimiter=dialect.delimiter, quotechar=dialect.quote, strict=True)
        while True:
            start = reader.line_num + 1
            try:
                row = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                yield start, f"malformed_csv ({exc})"
                continue
            yield start, row


def _read_csv(lake: Lake, key: str, columns: tuple[str, ...], dialect: CsvDialect) -> Iterator[_RawChunk]:
    """A CSV file with a header row: each record becomes a row of ``columns``, empty fields null."""
    records_in = _csv_records(lake, key, dialect)
    first = next(records_in, None)
    if first is None or isinstance(first[1], str) or not any(name.strip() for name in first[1]):
        raise InputError(f"{lake.uri_of(key)} has no readable header row ({first[1] if first else 'empty'}); a CSV "
                         f"file starts with the column names")  # fmt: skip
    header = [name.strip().lstrip("\ufeff") for name in first[1]]
    delivered = frozenset(header)
    twice = sorted({n for n in header if header.count(n) > 1})
    if twice:  # which column is the field is unknowable: every record of the file is quarantined
        yield from _unreadable_rows(key, columns, sum(1 for _ in records_in), f"duplicate_column:{twice[0]}",
                                    delivered)  # fmt: skip
        return
    where = {name: header.index(name) for name in columns if name in header}
    chunks = _Chunks(key, columns)
    for line, row in records_in:
        problem = None
        if isinstance(row, str):
            problem, fields = "malformed_csv", [row]
        else:
            fields = row
            if not any(field.strip() for field in row):
                continue  # a blank line is not a record
            if len(row) != len(header):
                problem = "field_count"
            elif (column := next((header[i] for i, f in enumerate(row) if _has_surrogate(f)), None)) is not None:
                problem = f"invalid_encoding:{_printable(column)}"
        if problem is None:
            full = chunks.add({name: (row[i] or None) for name, i in where.items()}, line, None)
        else:
            raw = "\x1f".join(fields).encode("utf-8", "surrogateescape")
            full = chunks.add({MALFORMED_COLUMN: problem}, line, hashlib.sha256(raw).hexdigest())
        if full:
            yield chunks.take(delivered)
    if chunks.records:
        yield chunks.take(delivered)


def _has_surrogate(text: str) -> bool:
    return any("\udc80" <= ch <= "\udcff" for ch in text)


def _read_file(lake: Lake, key: str, columns: tuple[str, ...], dialect: CsvDialect) -> Iterator[_RawChunk]:
    """The file's rows as ``columns`` (the contract's fields, or what a source mapping reads), in chunks."""
    kind = file_kind(key)
    try:
        if kind == "parquet":
            yield from _read_parquet(lake, key, columns)
        elif kind == "csv":
            yield from _read_csv(lake, key, columns, dialect)
        else:
            yield from _read_jsonl(lake, key, columns)
    except (OSError, EOFError, zlib.error, pa.ArrowException, UnicodeError) as exc:
        raise InputError(
            f"cannot read {lake.uri_of(key)}: {type(exc).__name__}: {exc}. The file is corrupt or not in the "
            f"format its name says ({kind}); replace it (or move it out of the partition) and rerun the ingest."
        ) from exc


class _DuplicateFilter:
    """Remembers 64-bit hashes of accepted ids so the first occurrence in a partition wins."""

    def __init__(self) -> None:
        self._seen = np.empty(0, dtype=np.uint64)

    def duplicates(self, ids: pd.DataFrame) -> pd.Series:
        hashes = pd.util.hash_pandas_object(ids, index=False).to_numpy(dtype=np.uint64)
        within = pd.Series(hashes, index=ids.index).duplicated(keep="first").to_numpy()
        earlier = np.isin(hashes, self._seen, assume_unique=False)
        return pd.Series(within | earlier, index=ids.index)

    def remember(self, ids: pd.DataFrame) -> None:
        hashes = pd.util.hash_pandas_object(ids, index=False).to_numpy(dtype=np.uint64)
        self._seen = np.union1d(self._seen, hashes)


def _record_json(frame: pd.DataFrame, contract: SourceContract, key: bytes) -> list[str | None]:
    """Raw field values as JSON, with the customer id replaced by its pseudonym (privacy)."""
    fields = [name for name in contract.field_names if name in frame]
    out = frame[fields].copy()
    if contract.customer_id_column and contract.customer_id_column in out:
        ids = out.pop(contract.customer_id_column)
        as_text = ids.map(lambda v: None if v is None or (isinstance(v, float) and np.isnan(v)) else str(v))
        out["customer_key"] = pseudonymise(key, as_text)
    malformed = frame[MALFORMED_COLUMN].notna() if MALFORMED_COLUMN in frame else pd.Series(False, index=frame.index)
    rows = out.astype(object).where(out.notna(), None).to_dict(orient="records")
    return [None if bad else dumps(row, sort_keys=True) for row, bad in zip(rows, malformed, strict=True)]


class _ParquetSink:
    """Streams chunks into one local Parquet file, created on the first write."""

    def __init__(self, path: Path, schema: pa.Schema):
        self.path, self.schema, self._writer = path, schema, None
        self.rows = 0

    def write(self, table: pa.Table) -> None:
        if self._writer is None:
            self._writer = pq.ParquetWriter(self.path, self.schema, compression="zstd")
        self._writer.write_table(table)
        self.rows += table.num_rows

    def close(self) -> bool:
        if self._writer is not None:
            self._writer.close()
        return self._writer is not None


def _accepted_table(values: pd.DataFrame, contract: SourceContract, key: bytes) -> pa.Table:
    schema = contract.accepted_schema
    columns = {}
    for field in schema:
        if field.name == "customer_key":
            col = pseudonymise(key, values[contract.customer_id_column])
        else:
            col = values[field.name]
        columns[field.name] = pa.array(col.astype(object).where(col.notna(), None).tolist(), type=field.type)
    return pa.table(columns, schema=schema)


PART_NAME = "part-00000.parquet"


def _replace_part(lake: Lake, prefix: str, path: Path | None) -> str | None:
    """Put the run's one part file in ``prefix`` (or none), then remove whatever else the folder held.

    The part is written over the previous run's in one object write (an S3 PUT, a local rename), never
    deleted first: a reader or a run that dies midway sees the old rows or the new ones, not an empty
    folder beside a report that counts rows.
    """
    key = prefix + PART_NAME if path is not None else None
    if path is not None:
        lake.upload_file(path, key)
    for obj in lake.list(prefix):
        if obj.key != key:
            lake.delete(obj.key)
    return key


def ingest_source(lake: Lake, settings: Settings, source: str, ds: str) -> SourceResult:
    """Ingest one source's partition for one night; see the module docstring."""
    contract = CONTRACTS[source]
    result = SourceResult(source=source, ds=ds)
    raw_prefix = keys.raw_prefix(source, ds)
    objects = []
    for obj in lake.list(raw_prefix):
        reason = skip_reason(obj, raw_prefix)
        if reason is None:
            objects.append(obj)
        else:
            result.skipped.append({"file": obj.key, "reason": reason})
    unsupported = [o.key for o in objects if file_kind(o.key) is None]
    if unsupported:
        raise InputError(
            f"{source} partition {lake.uri_of(raw_prefix)} holds files in an unknown format: {unsupported[:5]}. "
            f"Deliver Parquet (.parquet), JSON Lines (.jsonl, .jsonl.gz) or CSV with a header row (.csv, .csv.gz, "
            f".tsv), or remove the files, then rerun."
        )
    data_files = [o for o in objects if file_kind(o.key) is not None]
    completed = any(s["file"] == raw_prefix + SUCCESS_MARKER for s in result.skipped)
    result.partition_found = bool(data_files) or completed
    result.files = [o.key for o in data_files]
    result.empty_files = [o.key for o in data_files if o.size == 0]
    if not data_files and not completed and source in settings.required_sources:
        raise InputError(
            f"no {source} data for ds={ds}: {lake.uri_of(raw_prefix)} is missing or empty. Check that the producer "
            f"delivered the night's files (a night with no rows is declared with a {SUCCESS_MARKER} marker alone), "
            f"or drop '{source}' from PACKAGING_REQUIRED_SOURCES if it is optional."
        )

    mapping = load_mapping(name, source) if (name := settings.mapping_of(source)) else None
    result.mapping = mapping.describe() if mapping else None
    columns = mapping.inputs if mapping else contract.field_names
    dialect = mapping.csv_dialect(settings.csv) if mapping else settings.csv
    pseudonym_key = settings.require_pseudonym_key() if contract.customer_id_column else b""
    reasons: Counter[str] = Counter()
    dupes = _DuplicateFilter()
    seen_columns: set[str] = set()
    seen_types: dict[str, str] = {}
    with tempfile.TemporaryDirectory(prefix=f"ingest-{source}-") as tmp:
        accepted = _ParquetSink(Path(tmp) / "accepted.parquet", contract.accepted_schema)
        quarantine = _ParquetSink(Path(tmp) / "quarantine.parquet", QUARANTINE_SCHEMA)
        for obj in data_files:
            if obj.size == 0:
                continue
            group = mapping.grouper() if mapping else None  # an order's lines are in one file
            for number, chunk in enumerate(_read_file(lake, obj.key, columns, dialect)):
                seen_columns.update(chunk.delivered_columns)
                seen_types.update(chunk.column_types)
                frame = chunk.frame
                if mapping is not None:
                    if number == 0:  # a file's columns are known from its first chunk
                        mapping.check_columns(set(chunk.delivered_columns), lake.uri_of(obj.key))
                    frame = mapping.apply(frame, contract, MALFORMED_COLUMN, group)
                checked = validate_chunk(frame, contract, ds, settings.future_tolerance_minutes)
                row_reasons = checked.reasons.copy()
                if mapping is not None:
                    row_reasons = name_delivered_columns(row_reasons, mapping)
                valid = checked.valid
                dup = dupes.duplicates(contract.identity_of(checked.values.loc[valid]))
                row_reasons.loc[dup.index[dup.to_numpy()]] = "duplicate_id"
                valid = row_reasons == ""
                dupes.remember(contract.identity_of(checked.values.loc[valid]))

                result.read += len(chunk.frame)
                if valid.any():
                    accepted.write(_accepted_table(checked.values.loc[valid], contract, pseudonym_key))
                bad = ~valid
                if bad.any():
                    bad_reasons = row_reasons[bad]
                    primary = primary_reason(bad_reasons)
                    reasons.update(primary.tolist())
                    quarantine.write(
                        pa.table(
                            {
                                "source_file": [chunk.source_file] * int(bad.sum()),
                                "line": chunk.lines[bad.to_numpy()],
                                "reason": primary.tolist(),
                                "reasons": bad_reasons.tolist(),
                                "record": _record_json(frame.loc[bad], contract, pseudonym_key),
                                "raw_sha256": [h for h, b in zip(chunk.raw_sha256, bad, strict=True) if b],
                            },
                            schema=QUARANTINE_SCHEMA,
                        )
                    )
        result.accepted, result.quarantined = accepted.rows, quarantine.rows
        result.unknown_columns = (unknown_columns(seen_columns, contract) if mapping is None
                                  else dict.fromkeys(sorted(seen_columns - set(columns))))  # fmt: skip
        result.reasons = dict(sorted(reasons.items()))
        has_accepted, has_quarantine = accepted.close(), quarantine.close()

        accepted_path = accepted.path if has_accepted else None
        quarantine_path = quarantine.path if has_quarantine else None
        result.accepted_key = _replace_part(lake, keys.accepted_prefix(source, ds), accepted_path)
        result.quarantine_key = _replace_part(lake, keys.quarantine_prefix(source, ds), quarantine_path)
    result.delivered_columns, result.column_types = sorted(seen_columns), dict(sorted(seen_types.items()))
    result.schema_drift = _schema_drift(lake, source, ds, result)
    # A zero-row Parquet file or a CSV header alone: the producer wrote the night's columns and no rows.
    with_columns = any(file_kind(o.key) in ("parquet", "csv") and o.size > 0 for o in data_files)
    result.declared_empty = result.read == 0 and (completed or with_columns)
    if result.read != result.accepted + result.quarantined:  # an invariant, not input validation
        raise AssertionError(f"{source} ds={ds}: read {result.read} != accepted + quarantined")
    return result


DRIFT_LOOKBACK_DAYS = 7
"""How many earlier nights' reports are searched for the last delivery to compare a source's columns with."""


def _schema_drift(lake: Lake, source: str, ds: str, result: SourceResult) -> dict[str, Any] | None:
    """Columns gained, lost or retyped since the last earlier night that delivered this source (None when
    there is nothing to compare): a producer's export changing shape shows in the report, not in the data."""
    if not result.delivered_columns:
        return None
    night = keys.parse_ds(ds)
    for back in range(1, DRIFT_LOOKBACK_DAYS + 1):
        earlier = (night - dt.timedelta(days=back)).isoformat()
        key = keys.ingest_report_key(earlier)
        if not lake.exists(key):
            continue
        before = json.loads(lake.read_bytes(key)).get("sources", {}).get(source) or {}
        if not before.get("delivered_columns"):
            continue
        was, now = set(before["delivered_columns"]), set(result.delivered_columns)
        types = before.get("column_types") or {}
        retyped = {c: [types[c], t] for c, t in result.column_types.items() if c in types and types[c] != t}
        return {"since": earlier, "new": sorted(now - was), "missing": sorted(was - now), "type_changed": retyped}
    return None


@dataclasses.dataclass
class IngestReport:
    ds: str
    lake_uri: str
    sources: dict[str, SourceResult]

    def as_dict(self) -> dict[str, Any]:
        return {
            "ds": self.ds,
            "lake": self.lake_uri,
            "report_key": keys.ingest_report_key(self.ds),
            "sources": {name: r.as_dict() for name, r in self.sources.items()},
        }


def ingest_partition(settings: Settings, ds: str, lake: Lake | None = None) -> IngestReport:
    """Ingest every raw source for one night, write the report, then enforce the bad-row limit.

    Outputs and the report are written before the limit is checked, so a failing night still
    leaves its quarantine for people to inspect.

    Raises:
        InputError: a required source is missing, a file is unreadable, or a source's share of
            quarantined rows exceeds ``settings.max_bad_row_share``.
    """
    keys.parse_ds(ds)
    lake = lake or open_lake(settings)
    results = {source: ingest_source(lake, settings, source, ds) for source in keys.RAW_SOURCES}
    report = IngestReport(ds=ds, lake_uri=lake.uri, sources=results)
    write_json(lake, keys.ingest_report_key(ds), report.as_dict())
    for r in results.values():
        log.info("ingest %s ds=%s read=%d accepted=%d quarantined=%d", r.source, ds, r.read, r.accepted, r.quarantined)

    too_bad = [r for r in results.values() if r.read and r.bad_share > settings.max_bad_row_share]
    if too_bad:
        details = "; ".join(
            f"{r.source} partition {lake.uri_of(keys.raw_prefix(r.source, ds))}: {r.quarantined} of {r.read} rows "
            f"({r.bad_share:.1%}) quarantined, top reasons {r.top_reasons()}"
            for r in too_bad
        )
        raise InputError(
            f"too many bad rows for ds={ds} (limit {settings.max_bad_row_share:.1%}): {details}. The rejected rows "
            f"are in {lake.uri_of('quarantine/')}; fix the producer and rerun, or raise PACKAGING_MAX_BAD_ROW_SHARE."
        )
    for r in results.values():
        if r.partition_found and r.read == 0 and not r.declared_empty and r.source in settings.required_sources:
            raise InputError(
                f"{r.source} partition {lake.uri_of(keys.raw_prefix(r.source, ds))} holds only empty files "
                f"({len(r.empty_files)}); the producer delivered no rows. Redeliver the night's data and rerun; "
                f"a night that truly has no rows is declared with a {SUCCESS_MARKER} marker or a zero-row Parquet file."
            )
    return report


def ingest_range(settings: Settings, start: str, end: str) -> list[IngestReport]:
    """Ingest every night from ``start`` to ``end`` inclusive, in order, in one job."""
    first, last = keys.parse_ds(start), keys.parse_ds(end)
    if last < first:
        raise InputError(f"--end {end} is before --start {start}")
    lake = open_lake(settings)
    days = pd.date_range(first, last, freq="D")
    return [ingest_partition(settings, day.date().isoformat(), lake) for day in days]
