"""Source mappings: a shop's export shape declared as data (YAML), mapped onto the contract before validation.

A data engineer with exports in another shape (other column names, codes, time formats, no ids)
declares how each contract field is made, the way dbt sources or Spark ``selectExpr`` projections are
declared, instead of writing a converter per shop. One YAML file per source::

    version: 1
    name: rees46
    source: clickstream
    fields:
      event_id: {hash: [user_session, event_time, product_id, event_type]}   # a stable id from columns
      event_time: {column: event_time, format: "%Y-%m-%d %H:%M:%S UTC", timezone: UTC}
      event_type: {column: event_type, values: {cart: add_to_cart}}        # value map, others kept
      category: {column: category_code, categories: {rules: [{prefix: appliances., category: home}]}}
      color: {colour_from: [brand]}                                        # palette words in free text
      device: {constant: unknown}

A field is made by exactly one of ``column``, ``constant``, ``hash`` or ``colour_from``; ``values``,
``format``/``timezone``, ``categories``, ``slug`` and ``default`` refine it. ``group`` fills order-level
columns that an export (Shopify's) writes on an order's first line only. Validation then runs on
the mapped rows as on any delivery, and each quarantine reason names the delivered column too:
``bad_type:order_time (Created at)``. Shipped mappings live in ``packaging_pipeline/data/mappings/``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import re
import zoneinfo
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal

import pandas as pd
from pydantic import ConfigDict, Field, Strict, field_validator, model_validator

from packaging_pipeline.core.config import CsvDialect
from packaging_pipeline.core.config_files import ConfigModel, Number, Text, TextList, load_config, problem, problems
from packaging_pipeline.core.errors import ConfigError, InputError
from packaging_pipeline.core.schemas import CONTRACTS, Kind, SourceContract
from packaging_pipeline.core.vocabulary import COLOR_HEX, OTHER

SHIPPED_DIR = "mappings"
Scalar = Text | Number | bool | None


class CategoryRule(ConfigModel):
    """``prefix`` (a dotted path's start, e.g. ``appliances.``) or ``regex`` (searched) -> ``category``."""

    prefix: Text | None = None
    regex: Text | None = None
    category: Text

    @model_validator(mode="after")
    def _one_test(self) -> CategoryRule:
        if (self.prefix is None) == (self.regex is None):
            raise problems([((), "give exactly one of prefix or regex", None)], "category rule")
        if self.regex is not None:
            try:
                re.compile(self.regex)
            except re.error as exc:
                raise problems([(("regex",), f"not a regular expression: {exc}", self.regex)]) from None
        return self


class Categories(ConfigModel):
    rules: Annotated[list[CategoryRule], Strict()]
    fallback: Text = OTHER


class FieldRule(ConfigModel):
    """How one contract field is made from a delivered row."""

    column: Text | None = None
    constant: Scalar = None
    hash: TextList | None = None
    colour_from: TextList | None = None
    values: Annotated[dict[Text, Text], Strict()] | None = None
    format: Text | None = None  # strptime format of a timestamp column
    timezone: Text | None = None  # the zone of naive timestamps (default UTC)
    add_days: Annotated[int, Strict(), Field(ge=-366, le=366)] = 0  # a date field: days after the parsed date
    categories: Categories | None = None
    slug: Annotated[bool, Strict()] = False  # free text to an id: other characters than A-Z a-z 0-9 . _ - become '-'
    default: Scalar = None  # for nulls after the rule

    @model_validator(mode="after")
    def _one_source(self) -> FieldRule:
        given = [name for name in ("column", "constant", "hash", "colour_from") if name in self.model_fields_set]
        if len(given) != 1:
            raise problems([((), f"give exactly one of column, constant, hash or colour_from (got {given or 'none'})",
                             None)], "field rule")  # fmt: skip
        return self

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                zoneinfo.ZoneInfo(value)
            except (zoneinfo.ZoneInfoNotFoundError, ValueError):
                raise problem(f"unknown time zone {value!r}; use an IANA name like UTC or Europe/Berlin") from None
        return value

    def inputs(self) -> list[str]:
        return [self.column] if self.column else list(self.hash or self.colour_from or [])


class Grouping(ConfigModel):
    """Rows of one ``by`` value are one order: ``fill`` columns are taken from its first row that has them."""

    by: Text
    fill: TextList


class CsvFormat(ConfigModel):
    """The export's CSV dialect, over the lake's (``PACKAGING_CSV_*``) for this source only."""

    delimiter: Text | None = None
    quote: Text | None = None
    encoding: Text | None = None

    @model_validator(mode="after")
    def _a_dialect(self) -> CsvFormat:
        try:
            self.over(CsvDialect())
        except ConfigError as exc:
            fix = re.sub(r" \(PACKAGING_[A-Z_]+\)", "", str(exc))  # the mapping, not the environment, said it
            raise problems([((), fix, None)], "csv") from None
        return self

    def over(self, base: CsvDialect) -> CsvDialect:
        delimiter = CsvDialect.delimiter_named(self.delimiter) if self.delimiter else base.delimiter
        return CsvDialect(delimiter, self.quote or base.quote, self.encoding or base.encoding)


class MappingFile(ConfigModel):
    """A source mapping: how a shop's export becomes the contract's rows."""

    model_config = ConfigDict(title="source mapping", extra="forbid")

    version: Annotated[int, Strict(), Field(ge=1)]
    name: Text
    source: Literal["clickstream", "orders", "catalog", "feedback"]
    description: Text = ""
    group: Grouping | None = None
    csv: CsvFormat | None = None
    fields: Annotated[dict[Text, FieldRule], Strict()]

    @model_validator(mode="after")
    def _fields_of_the_contract(self) -> MappingFile:
        contract = CONTRACTS[self.source]
        known = contract.field_names
        found = [(("fields", name), f"not a field of the {self.source} contract; its fields are {', '.join(known)}",
                  name) for name in self.fields if name not in known]
        found += [(("fields",), f"required field '{f.name}' of the {self.source} contract is not mapped; add it", None)
                  for f in contract.fields if f.required and f.name not in self.fields]  # fmt: skip
        if found:
            raise problems(found, "source mapping")
        return self


@dataclasses.dataclass(frozen=True)
class SourceMapping:
    """A loaded mapping: what it reads, and :meth:`apply` to a chunk of delivered rows."""

    doc: MappingFile
    origin: str  # the shipped name or the user's path, as the report records it

    @property
    def source(self) -> str:
        return self.doc.source

    @property
    def inputs(self) -> tuple[str, ...]:
        """The delivered columns the mapping reads: what the readers keep of a file."""
        names = [name for rule in self.doc.fields.values() for name in rule.inputs()]
        if self.doc.group:
            names += [self.doc.group.by, *self.doc.group.fill]
        return tuple(dict.fromkeys(names))

    def delivered_column(self, field: str) -> str | None:
        """The delivered column a contract field comes from, when it comes from exactly one."""
        rule = self.doc.fields.get(field)
        return rule.column if rule is not None else None

    def describe(self) -> dict[str, Any]:
        return {"name": self.doc.name, "version": self.doc.version, "from": self.origin}

    def check_columns(self, delivered: set[str], where: str) -> None:
        """A delivered file must hold every column the mapping reads for a required field."""
        contract = CONTRACTS[self.source]
        missing = sorted({name for f in contract.fields if f.required and f.name in self.doc.fields
                          for name in self.doc.fields[f.name].inputs() if name not in delivered})  # fmt: skip
        if missing:
            raise InputError(
                f"{where} lacks column(s) {missing} that mapping '{self.doc.name}' v{self.doc.version} "
                f"({self.origin}) reads for required {self.source} fields; fix the export or the mapping, then rerun"
            )

    def csv_dialect(self, lake_default: CsvDialect) -> CsvDialect:
        """How this source's CSV files are read: the mapping's ``csv`` over the lake's dialect."""
        return self.doc.csv.over(lake_default) if self.doc.csv else lake_default

    def grouper(self) -> _GroupFill | None:
        return _GroupFill(self.doc.group) if self.doc.group else None

    def apply(self, frame: pd.DataFrame, contract: SourceContract, passthrough: str,
              group: _GroupFill | None = None) -> pd.DataFrame:  # fmt: skip
        """Delivered columns -> the contract's fields (plus ``passthrough``, the reader's malformed marker)."""
        if group is not None:
            frame = group.fill(frame)
        out = pd.DataFrame(index=frame.index)
        for name in contract.field_names:
            rule = self.doc.fields.get(name)
            out[name] = _made(rule, frame, contract.field(name).kind) if rule is not None else None
        out[passthrough] = frame[passthrough] if passthrough in frame else None
        return out


class _GroupFill:
    """Carries an order's first-line values to its later lines, across the chunks of one file."""

    def __init__(self, group: Grouping):
        self.group = group
        self.last: tuple[Any, dict[str, Any]] = (None, {})

    def fill(self, frame: pd.DataFrame) -> pd.DataFrame:
        frame = frame.copy()
        by, cols = self.group.by, [c for c in self.group.fill if c in frame]
        key_now, seen = self.last
        rows = frame[[by, *cols]].to_dict("records")
        for i, row in zip(frame.index, rows, strict=True):
            if row[by] != key_now:
                key_now, seen = row[by], {}
            for c in cols:
                value = row[c]
                if _present(value):
                    seen.setdefault(c, value)
                elif c in seen:
                    frame.at[i, c] = seen[c]
        self.last = (key_now, seen)
        return frame


def _present(value: Any) -> bool:
    return value is not None and not (isinstance(value, float) and value != value) and value != ""


def _column(frame: pd.DataFrame, name: str) -> pd.Series:
    return frame[name] if name in frame else pd.Series([None] * len(frame), index=frame.index, dtype=object)


def _made(rule: FieldRule, frame: pd.DataFrame, kind: Kind) -> pd.Series:
    if rule.column is not None:
        values = _column(frame, rule.column).astype(object)
    elif rule.hash is not None:
        parts = [_column(frame, c).astype(object) for c in rule.hash]
        joined = ["\x1f".join("" if not _present(v) else str(v) for v in row) for row in zip(*parts, strict=True)]
        values = pd.Series([hashlib.sha256(j.encode("utf-8", "surrogatepass")).hexdigest()[:32] for j in joined],
                           index=frame.index, dtype=object)  # fmt: skip
    elif rule.colour_from is not None:
        texts = [" ".join(str(v) for v in row if _present(v)) for row in
                 zip(*(_column(frame, c) for c in rule.colour_from), strict=True)]  # fmt: skip
        values = pd.Series([_colour_in(t) for t in texts], index=frame.index, dtype=object)
    else:
        values = pd.Series([rule.constant] * len(frame), index=frame.index, dtype=object)
    if rule.values:
        table = {code.strip().lower(): value for code, value in rule.values.items()}
        values = values.map(lambda v: table.get(v.strip().lower(), v) if isinstance(v, str) else v)
    if rule.format is not None:
        zone = zoneinfo.ZoneInfo(rule.timezone or "UTC")
        as_date = kind == Kind.DATE
        values = values.map(lambda v: _parsed_time(v, rule.format, zone, as_date, rule.add_days))
    if rule.categories is not None:
        values = values.map(lambda v: _category(v, rule.categories))
    if rule.slug:
        values = values.map(lambda v: _slug(v) if isinstance(v, str) else v)
    if rule.default is not None:
        values = values.map(lambda v: v if _present(v) else rule.default)
    return values


_NOT_ID = re.compile(r"[^A-Za-z0-9._-]+")


def _slug(text: str) -> str | None:
    """``Main warehouse`` -> ``Main-warehouse``: a location's name as an id that can name a lake folder."""
    return re.sub(r"\.{2,}", ".", _NOT_ID.sub("-", text.strip())).strip("-._") or None


_COLOUR_WORD = re.compile(r"[a-z]+")


def _colour_in(text: str) -> str | None:
    """The first palette colour named in free text (``"Navy blue cotton"`` -> navy), else None."""
    for word in _COLOUR_WORD.findall(text.lower()):
        if word in COLOR_HEX:
            return word
        if word == "gray":
            return "grey"
    return None


def _parsed_time(value: Any, fmt: str, zone: zoneinfo.ZoneInfo, as_date: bool, add_days: int) -> Any:
    """A timestamp in the declared format as ISO-8601 UTC, or for a date field the calendar date where it
    happened (never shifted by a zone conversion) plus ``add_days``. Text in another format is marked so
    validation rejects it (``bad_type``) and the quarantined record shows what came and what was declared."""
    if not isinstance(value, str) or not value.strip():
        return value
    try:
        parsed = dt.datetime.strptime(value.strip(), fmt)
    except ValueError:
        return f"{value} (not in the mapping's format {fmt})"
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=zone)
    if as_date:
        return (parsed.date() + dt.timedelta(days=add_days)).isoformat()
    return parsed.astimezone(dt.UTC).isoformat()


def _category(value: Any, categories: Categories) -> str:
    if isinstance(value, str) and value.strip():
        text = value.strip().lower()
        for rule in categories.rules:
            if (rule.prefix is not None and text.startswith(rule.prefix.lower())) or (
                rule.regex is not None and re.search(rule.regex, text)
            ):
                return rule.category
    return categories.fallback


def shipped_mappings() -> list[str]:
    """Names of the mappings shipped with the package (``rees46``, ``shopify-orders``, ...)."""
    folder = resources.files("packaging_pipeline").joinpath("data", SHIPPED_DIR)
    return sorted(p.name.removesuffix(".yaml") for p in folder.iterdir() if p.name.endswith(".yaml"))


def load_mapping(name_or_path: str, source: str | None = None) -> SourceMapping:
    """A shipped mapping by name, or a user's YAML file by path; ``source`` must match when given.

    Raises:
        InputError: unknown name, unreadable or invalid file, or a mapping of another source.
    """
    looks_like_path = name_or_path.endswith((".yaml", ".yml")) or "/" in name_or_path
    if looks_like_path:
        doc = load_config(MappingFile, "", Path(name_or_path))
    elif name_or_path in shipped_mappings():
        doc = load_config(MappingFile, f"{SHIPPED_DIR}/{name_or_path}.yaml")
    else:
        raise InputError(f"no shipped source mapping named {name_or_path!r}; shipped: {', '.join(shipped_mappings())}. "
                         f"Pass a path to your own YAML file to use it instead")  # fmt: skip
    if source is not None and doc.source != source:
        raise InputError(f"mapping {name_or_path!r} maps the {doc.source} source, not {source}; "
                         f"pass it as {doc.source}={name_or_path}")  # fmt: skip
    return SourceMapping(doc, name_or_path)


def name_delivered_columns(reasons: pd.Series, mapping: SourceMapping) -> pd.Series:
    """``bad_type:order_time`` -> ``bad_type:order_time (Created at)`` where the field comes from one column."""
    names = {f: c for f in mapping.doc.fields if (c := mapping.delivered_column(f)) and c != f}
    if not names:
        return reasons

    def named(text: str) -> str:
        parts = []
        for part in text.split(";") if text else []:
            kind, _, field = part.partition(":")
            parts.append(f"{part} ({names[field]})" if field in names else part)
        return ";".join(parts)

    return reasons.map(named)
