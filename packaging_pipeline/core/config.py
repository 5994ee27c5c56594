"""Settings: one frozen object per run, built from environment, Airflow Params and Connections.

Nothing here runs at DAG-parse time; tasks call :func:`packaging_pipeline.airflow_support.task_settings`
which layers Params and Connections over :meth:`Settings.from_env`.
"""

from __future__ import annotations

import codecs
import dataclasses
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from packaging_pipeline.core.errors import ConfigError
from packaging_pipeline.core.keys import RAW_SOURCES

DEFAULT_REQUIRED_SOURCES = ("clickstream", "orders")


def default_home() -> Path:
    """Where the embedded defaults live: ``$PACKAGING_HOME``, else ``~/.packaging-pipeline``."""
    return Path(os.environ.get("PACKAGING_HOME") or Path.home() / ".packaging-pipeline").resolve()


def default_lake_uri() -> str:
    return (default_home() / "lake").as_uri()


S3_RETRY_MODES = ("legacy", "standard", "adaptive")


@dataclasses.dataclass(frozen=True)
class S3Options:
    """How to reach an S3-compatible store; unset fields fall back to the standard AWS chain."""

    endpoint_url: str | None = None
    region_name: str | None = None
    aws_access_key_id: str | None = dataclasses.field(default=None, repr=False)
    aws_secret_access_key: str | None = dataclasses.field(default=None, repr=False)
    aws_session_token: str | None = dataclasses.field(default=None, repr=False)
    max_concurrency: int = 16
    # A stalled endpoint fails in about max_attempts x (timeout + backoff): 3 x 15 s + a few seconds here.
    connect_timeout_s: float = 5.0
    read_timeout_s: float = 15.0
    retry_mode: str = "standard"  # botocore's legacy, standard or adaptive
    max_attempts: int = 3  # including the first

    def __post_init__(self) -> None:
        if self.endpoint_url is not None:
            parsed = urlparse(self.endpoint_url)
            if parsed.scheme not in ("http", "https") or not parsed.hostname:
                raise ConfigError(
                    f"S3 endpoint {self.endpoint_url!r} (AWS_ENDPOINT_URL, or the AWS connection's endpoint_url) is "
                    f"not a URL like http://127.0.0.1:9000 or https://s3.eu-west-1.amazonaws.com"
                )
        if self.retry_mode not in S3_RETRY_MODES:
            raise ConfigError(f"S3 retry mode {self.retry_mode!r} (AWS_RETRY_MODE) is not one of {S3_RETRY_MODES}")
        if not 1 <= self.max_attempts <= 20:
            raise ConfigError(f"S3 max_attempts={self.max_attempts} (AWS_MAX_ATTEMPTS) must lie between 1 and 20")
        for name in ("connect_timeout_s", "read_timeout_s"):
            value = getattr(self, name)
            if not 0 < value <= 3600:  # also false for NaN
                raise ConfigError(f"S3 {name}={value} must be a number of seconds in (0, 3600]")


@dataclasses.dataclass(frozen=True)
class CsvDialect:
    """How the raw partitions' CSV files are written: a header row, then one record per row (quoted fields
    may hold the delimiter and newlines). A UTF-8 byte-order mark is dropped; an empty field is null."""

    delimiter: str = ","
    quote: str = '"'
    encoding: str = "utf-8"

    def __post_init__(self) -> None:
        for name, value, env in (("delimiter", self.delimiter, "PACKAGING_CSV_DELIMITER"),
                                 ("quote", self.quote, "PACKAGING_CSV_QUOTE")):  # fmt: skip
            if len(value) != 1 or value in "\r\n":
                raise ConfigError(f"CSV {name} {value!r} ({env}) must be one character, not a line break; "
                                  f"write a tab as 'tab'")  # fmt: skip
        if self.delimiter == self.quote:
            raise ConfigError(f"CSV delimiter and quote are both {self.delimiter!r}; they must differ")
        try:
            codecs.lookup(self.encoding)
        except LookupError:
            raise ConfigError(f"CSV encoding {self.encoding!r} (PACKAGING_CSV_ENCODING) is not a known text "
                              f"encoding; use e.g. utf-8, cp1252 or latin-1") from None  # fmt: skip

    @staticmethod
    def delimiter_named(text: str) -> str:
        """``tab``, ``comma``, ``semicolon`` or ``pipe`` as the character; anything else as given."""
        return {"tab": "\t", "comma": ",", "semicolon": ";", "pipe": "|"}.get(text.lower(), text)

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> CsvDialect:
        values = {}
        for field, name in (("delimiter", "PACKAGING_CSV_DELIMITER"), ("quote", "PACKAGING_CSV_QUOTE"),
                            ("encoding", "PACKAGING_CSV_ENCODING")):  # fmt: skip
            if env.get(name):
                values[field] = cls.delimiter_named(env[name]) if field == "delimiter" else env[name]
        return cls(**values)


@dataclasses.dataclass(frozen=True)
class Settings:
    """Everything a stage needs to know about where it runs. Secrets are excluded from repr."""

    lake_uri: str
    s3: S3Options = S3Options()
    pseudonym_key: str | None = dataclasses.field(default=None, repr=False)
    required_sources: tuple[str, ...] = DEFAULT_REQUIRED_SOURCES
    max_bad_row_share: float = 0.05
    future_tolerance_minutes: int = 5
    csv: CsvDialect = CsvDialect()
    mappings: tuple[tuple[str, str], ...] = ()  # (source, shipped mapping name or YAML path)

    def __post_init__(self) -> None:
        if any(ord(c) < 32 or ord(c) == 127 for c in self.lake_uri):
            raise ConfigError(f"lake URI {self.lake_uri!r} holds a control character (NUL, newline, ...); "
                              f"pass it as file:///absolute/path or s3://bucket/prefix")  # fmt: skip
        if self.lake_uri.startswith("s3://") and not urlparse(self.lake_uri).netloc:
            raise ConfigError(f"lake URI {self.lake_uri!r} has no bucket; use s3://bucket/prefix")
        if not (self.lake_uri.startswith("file:///") or self.lake_uri.startswith("s3://")):
            raise ConfigError(
                f"lake URI {self.lake_uri!r} is not supported: use file:///absolute/path or s3://bucket/prefix"
            )
        if not 0.0 <= self.max_bad_row_share <= 1.0:
            raise ConfigError(f"max_bad_row_share={self.max_bad_row_share} must lie between 0 and 1")

    def require_pseudonym_key(self) -> bytes:
        """The HMAC key for customer pseudonyms; never defaulted, because a guessable key is no pseudonym."""
        if not self.pseudonym_key:
            raise ConfigError(
                "no pseudonym key: set PACKAGING_PSEUDONYM_KEY (or the Airflow connection "
                "'packaging_pseudonym' password) to a long random secret; `make demo` generates one into .demo/"
            )
        return self.pseudonym_key.encode()

    def mapping_of(self, source: str) -> str | None:
        """The source mapping (a shipped name or a path) the source's raw files are read through, if any."""
        return dict(self.mappings).get(source)

    def replace(self, **changes: Any) -> Settings:
        return dataclasses.replace(self, **changes)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Build settings from ``PACKAGING_*`` and standard ``AWS_*`` variables, then apply overrides."""
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {
            "lake_uri": env.get("PACKAGING_LAKE_URI") or default_lake_uri(),
            "pseudonym_key": env.get("PACKAGING_PSEUDONYM_KEY") or None,
            "s3": S3Options(
                endpoint_url=env.get("AWS_ENDPOINT_URL_S3") or env.get("AWS_ENDPOINT_URL") or None,
                region_name=env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or None,
                **_s3_tuning(env),
            ),
            "csv": CsvDialect.from_env(env),
        }
        if env.get("PACKAGING_SOURCE_MAPPINGS"):  # clickstream=rees46,orders=/path/to/mapping.yaml
            pairs = [p.strip() for p in env["PACKAGING_SOURCE_MAPPINGS"].split(",") if p.strip()]
            values["mappings"] = parse_mappings(pairs, "PACKAGING_SOURCE_MAPPINGS")
        if env.get("PACKAGING_REQUIRED_SOURCES"):
            values["required_sources"] = _parse_sources(env["PACKAGING_REQUIRED_SOURCES"])
        if env.get("PACKAGING_MAX_BAD_ROW_SHARE"):
            values["max_bad_row_share"] = _parse_float(
                "PACKAGING_MAX_BAD_ROW_SHARE", env["PACKAGING_MAX_BAD_ROW_SHARE"]
            )
        values.update({k: v for k, v in overrides.items() if v is not None})
        if "lake_uri" in overrides and overrides["lake_uri"]:
            values["lake_uri"] = normalise_lake_uri(overrides["lake_uri"])
        else:
            values["lake_uri"] = normalise_lake_uri(values["lake_uri"])
        return cls(**values)


def normalise_lake_uri(uri: str) -> str:
    """Accept a plain absolute path as shorthand for ``file://``; strip trailing slashes."""
    uri = uri.strip()
    if uri.startswith("/"):
        uri = Path(uri).resolve().as_uri()
    return uri.rstrip("/") if uri not in ("file:///",) else uri


def _s3_tuning(env: Mapping[str, str]) -> dict[str, Any]:
    """Timeouts and retries from ``PACKAGING_S3_*_TIMEOUT`` and the standard ``AWS_RETRY_MODE``/``AWS_MAX_ATTEMPTS``."""
    tuning: dict[str, Any] = {}
    for name, field in (("PACKAGING_S3_CONNECT_TIMEOUT", "connect_timeout_s"),
                        ("PACKAGING_S3_READ_TIMEOUT", "read_timeout_s")):  # fmt: skip
        if env.get(name):
            tuning[field] = _parse_float(name, env[name])
    if env.get("AWS_RETRY_MODE"):
        tuning["retry_mode"] = env["AWS_RETRY_MODE"].strip()
    if env.get("AWS_MAX_ATTEMPTS"):
        try:
            tuning["max_attempts"] = int(env["AWS_MAX_ATTEMPTS"])
        except ValueError:
            raise ConfigError(f"AWS_MAX_ATTEMPTS={env['AWS_MAX_ATTEMPTS']!r} is not a whole number") from None
    return tuning


def parse_mappings(pairs: Sequence[str], where: str = "--mapping") -> tuple[tuple[str, str], ...]:
    """``["clickstream=rees46", "orders=./my.yaml"]`` -> ((source, mapping), ...); bad pairs name the fix."""
    out: dict[str, str] = {}
    for pair in pairs:
        source, sep, mapping = (part.strip() for part in pair.partition("="))
        if not sep or not mapping or source not in RAW_SOURCES:
            raise ConfigError(f"{where} {pair!r} is not SOURCE=MAPPING with SOURCE one of {', '.join(RAW_SOURCES)} "
                              f"(e.g. clickstream=rees46, or orders=path/to/mapping.yaml)")  # fmt: skip
        if source in out:
            raise ConfigError(f"{where} gives two mappings for {source}: {out[source]!r} and {mapping!r}; give one")
        out[source] = mapping
    return tuple(out.items())


def _parse_sources(text: str) -> tuple[str, ...]:

    sources = tuple(s.strip() for s in text.split(",") if s.strip())
    unknown = sorted(set(sources) - set(RAW_SOURCES))
    if unknown:
        raise ConfigError(f"PACKAGING_REQUIRED_SOURCES names unknown sources {unknown}; known: {list(RAW_SOURCES)}")
    return sources


def _parse_float(name: str, text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise ConfigError(f"{name}={text!r} is not a number") from None
