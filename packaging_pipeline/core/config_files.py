"""The one way a YAML config file is read: packaged default or a user's copy, checked by a pydantic model.

Every config file of the product (gate policy, materials library, box catalog, feedback policy,
segment messages) has a pydantic model next to the code that uses it; :func:`load_config` reads the
file, validates it and turns every problem into one :class:`InputError` that names the file, the
field path and the fix, one line per problem::

    gate policy my_policy.yaml: 2 problems
      limits.max_esr: expected a number <= 1, got 1.5
      limits.colour: unknown field 'colour'; known fields: max_esr, max_inks, ...

Models subclass :class:`ConfigModel` (unknown fields are errors) and name their file kind in
``model_config["title"]``. Cross-field checks raise :func:`problems` (a pydantic ``ValidationError``)
so the message names the field to change, and :func:`problem` gives a field validator's own words.
Field types that match the project's rules (a number is never a bool, finite; text is a str) are the
``Number``, ``Whole``, ``Text``, ``Flag`` and ``TextList`` aliases below.
"""

from __future__ import annotations

import datetime as dt
import io
import os
import types
import typing
from collections.abc import Iterable, Mapping, Sequence
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, Field, Strict, StrictBool, StrictStr, ValidationError
from pydantic_core import InitErrorDetails, PydanticCustomError

from packaging_pipeline.core.errors import InputError

PACKAGE = "packaging_pipeline"
MAX_LINES = 25
"""Problems listed per file; the rest are counted."""

M = TypeVar("M", bound=BaseModel)

Number = Annotated[float, Strict(), Field(allow_inf_nan=False)]
"""A finite number: an int or a float, never a bool or a quoted string; validated as a float."""

Whole = Annotated[int, Strict()]
"""A whole number, never a bool, a float or a quoted string."""

Text = StrictStr
Flag = StrictBool
TextList = Annotated[list[StrictStr], Strict()]
"""A YAML list of strings (not a single string, not a set)."""


class ConfigModel(BaseModel):
    """Base of the config file models: unknown fields are errors, so a misspelt key never falls back silently."""

    model_config = ConfigDict(extra="forbid")


def problems(found: Iterable[tuple[Sequence[str | int], str, Any]], title: str = "config") -> ValidationError:
    """A ValidationError of ``(loc, fix, input)`` problems, ``loc`` relative to the model being validated.

    Raise it from a model validator to report a cross-field check at the field that must change (a
    pydantic validator can raise a ValidationError; its locations are kept, prefixed by the model's).
    """
    details = [
        InitErrorDetails(type=PydanticCustomError("config", "{fix}", {"fix": fix}), loc=tuple(loc), input=value)
        for loc, fix, value in found
    ]
    return ValidationError.from_exception_data(title, details)


def problem(fix: str) -> PydanticCustomError:
    """A field validator's error whose message is ``fix`` as written (no pydantic prefix)."""
    return PydanticCustomError("config", "{fix}", {"fix": fix})


def packaged_source(packaged: str) -> str:
    """How messages and recorded configs name a shipped file: ``packaging_pipeline/data/<packaged>``."""
    return f"{PACKAGE}/data/{packaged}"


def kind_of(model: type[BaseModel]) -> str:
    """The file kind a model reads (``"gate policy"``), from ``model_config["title"]``."""
    return str(model.model_config.get("title") or "config file")


def read_text(kind: str, packaged: str, path: str | os.PathLike[str] | None, source: str | None = None) -> str:
    """The text of the user's file at ``path``, else of the shipped ``packaging_pipeline/data/<packaged>``.

    Raises:
        InputError: the file cannot be read (missing, not a file, not UTF-8), naming it.
    """
    where = source or (packaged_source(packaged) if path is None else str(path))
    try:
        if path is None:
            return resources.files(PACKAGE).joinpath("data", packaged).read_text(encoding="utf-8")
        return Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise InputError(f"cannot read {kind} {where}: {exc.strerror or exc}. Check the path.") from None
    except UnicodeDecodeError as exc:
        what = f"it is not UTF-8 text ({exc.reason} at byte {exc.start})"
        raise InputError(f"cannot read {kind} {where}: {what}. Save it as UTF-8.") from None


def parse_yaml(kind: str, text: str, source: str) -> Any:
    """The YAML document in ``text`` (``yaml.safe_load``), or an InputError naming ``source`` and the line."""
    stream = io.StringIO(text)
    stream.name = source  # type: ignore[attr-defined]  # YAML's error marks name the stream: 'in "<source>", line 3'
    try:
        return yaml.safe_load(stream)
    except yaml.YAMLError as exc:
        raise InputError(f"{kind} {source} is not valid YAML: {exc}") from None


def load_config(
    model: type[M],
    packaged: str,
    path: str | os.PathLike[str] | None = None,
    *,
    text: str | None = None,
    source: str | None = None,
    context: Mapping[str, Any] | None = None,
) -> M:
    """Read, parse and validate one config file: ``text`` if given, else the user's ``path``, else the shipped file.

    ``source`` names the file in messages (default: ``path``, or ``packaging_pipeline/data/<packaged>``);
    ``context`` reaches the model's validators as ``info.context`` (e.g. the materials library).

    Raises:
        InputError: unreadable file, invalid YAML, or a document the model rejects; the message names
            the file, and each problem's field path and fix, one per line.
    """
    kind = kind_of(model)
    if source is None:
        source = packaged_source(packaged) if path is None else str(path)
    if text is None:
        text = read_text(kind, packaged, path, source)
    return validate_config(model, parse_yaml(kind, text, source), source, context=context)


def validate_config(model: type[M], doc: Any, source: str, *, context: Mapping[str, Any] | None = None) -> M:
    """Validate a parsed document; every pydantic error becomes one line of an InputError naming ``source``."""
    try:
        return model.model_validate(doc, context=dict(context or {}))
    except ValidationError as exc:
        raise InputError(describe(exc, model, doc, source)) from None


def describe(exc: ValidationError, model: type[BaseModel], doc: Any, source: str) -> str:
    """``<kind> <source>: <field>: <fix>``, or a count then one indented ``<field>: <fix>`` line per problem."""
    lines = list(dict.fromkeys(f"{field_path(e['loc'], doc)}: {fix(e, model)}" for e in exc.errors()))
    head = f"{kind_of(model)} {source}"
    if len(lines) == 1:
        return f"{head}: {lines[0]}"
    shown = lines[:MAX_LINES]
    if len(lines) > MAX_LINES:
        shown.append(f"... and {len(lines) - MAX_LINES} more")
    return f"{head}: {len(lines)} problems\n" + "\n".join(f"  {line}" for line in shown)


def field_path(loc: Sequence[str | int], doc: Any = None) -> str:
    """``limits.max_esr``, ``boxes[3].inner_mm[1]``; a list entry with a ``code`` shows it: ``boxes[3] ('M3')``."""
    out = ""
    node = doc
    for part in loc:
        if isinstance(part, int) and isinstance(node, list):
            out += f"[{part}]"
            node = node[part] if -len(node) <= part < len(node) else None
            if isinstance(node, dict) and isinstance(node.get("code"), str):
                out += f" ({node['code']!r})"
            continue
        out += f".{part}" if out else str(part)
        node = node.get(part) if isinstance(node, dict) else None
    return out or "top level"


def got(value: Any) -> str:
    """The offending value as the user wrote it, or the kind of thing it is."""
    if value is None:
        return "nothing (null)"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list | tuple | set | frozenset):
        return f"a list {list(value)!r}" if len(repr(value)) <= 60 else "a list"
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _limit(value: Any) -> str:
    return f"{value:g}" if isinstance(value, int | float) and not isinstance(value, bool) else repr(value)


def fix(error: Mapping[str, Any], model: type[BaseModel]) -> str:
    """What the user should write instead, for one pydantic error."""
    kind, ctx, value = error["type"], error.get("ctx") or {}, error.get("input")
    simple = {
        "int_type": "a whole number", "int_parsing": "a whole number", "int_from_float": "a whole number",
        "float_type": "a number", "float_parsing": "a number", "finite_number": "a finite number",
        "bool_type": "true or false", "bool_parsing": "true or false",
        "string_type": "text (a string)", "list_type": "a list", "tuple_type": "a list",
        "dict_type": "a mapping (key: value lines)", "model_type": "a mapping (key: value lines)",
        "model_attributes_type": "a mapping (key: value lines)", "date_type": "a date YYYY-MM-DD",
        "date_parsing": "a date YYYY-MM-DD", "date_from_datetime_parsing": "a date YYYY-MM-DD",
    }  # fmt: skip
    bounds = {"greater_than": ("gt", ">"), "greater_than_equal": ("ge", ">="), "less_than": ("lt", "<"),
              "less_than_equal": ("le", "<=")}  # fmt: skip
    if kind in simple:
        return f"expected {simple[kind]}, got {got(value)}"
    if kind in bounds:
        key, sign = bounds[kind]
        return f"expected a number {sign} {_limit(ctx.get(key))}, got {got(value)}"
    if kind == "missing":
        return "missing; add it"
    if kind == "extra_forbidden":
        known = known_fields(model, error["loc"][:-1])
        listed = f"; known fields: {', '.join(known)}" if known else ""
        return f"unknown field {error['loc'][-1]!r}{listed}"
    if kind in ("too_short", "too_long"):
        short = kind == "too_short"
        bound, limit = ("at least", ctx.get("min_length")) if short else ("at most", ctx.get("max_length"))
        return f"expected {bound} {limit} {'entry' if limit == 1 else 'entries'}, got {ctx.get('actual_length')}"
    if kind == "literal_error":
        return f"expected {ctx.get('expected')}, got {got(value)}"
    if kind == "value_error" and "error" in ctx:
        return str(ctx["error"])
    return str(error.get("msg", kind))


def known_fields(model: type[BaseModel], loc: Sequence[str | int]) -> list[str]:
    """The field names of the model found at ``loc`` inside ``model`` (empty when it is not a model)."""
    target: Any = model
    for part in loc:
        target = _unwrap(target)
        if isinstance(target, type) and issubclass(target, BaseModel):
            info = target.model_fields.get(str(part))
            if info is None:
                return []
            target = info.annotation
            continue
        origin, args = typing.get_origin(target), typing.get_args(target)
        if origin in (list, set, frozenset) and args:
            target = args[0]
        elif origin is tuple and args:
            target = args[0] if args[-1] is Ellipsis or not isinstance(part, int) else args[min(part, len(args) - 1)]
        elif origin is dict and len(args) == 2:
            target = args[1]
        else:
            return []
    target = _unwrap(target)
    if isinstance(target, type) and issubclass(target, BaseModel):
        return list(target.model_fields)
    return []


def _unwrap(annotation: Any) -> Any:
    """Strip ``Annotated[...]`` and ``X | None`` down to ``X``."""
    while True:
        origin = typing.get_origin(annotation)
        if origin is Annotated:
            annotation = typing.get_args(annotation)[0]
        elif origin in (typing.Union, types.UnionType):
            members = [a for a in typing.get_args(annotation) if a is not type(None)]
            if len(members) != 1:
                return annotation
            annotation = members[0]
        else:
            return annotation
