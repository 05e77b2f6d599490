"""Golden examples as data: field checks, checks against a prompt version's variables, and the
JSONL and CSV file formats (parsing for import, formatting for export).

Pure functions: no database access. Problems are ``ValidationFailed`` errors whose ``param``
names the offending field; parsing errors name the line (JSONL) or row (CSV) in the message.
"""

from __future__ import annotations

import copy
import csv
import io
import json
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError, UnknownType, best_match
from referencing.exceptions import Unresolvable

from llmops.core.api.parsers import loads_strict
from llmops.core.csv_cells import neutralise, restore
from llmops.core.errors import ValidationFailed

MAX_INPUT_DATA_BYTES = 64 * 1024
MAX_EXPECTED_OUTPUT_BYTES = 64 * 1024
MAX_METADATA_BYTES = 64 * 1024
MAX_TAGS = 32
MAX_TAG_CHARS = 64
MAX_IMPORT_ROWS = 10_000

JSONL = "jsonl"
CSV = "csv"
FORMATS = (JSONL, CSV)
CONTENT_TYPES = {JSONL: "application/x-ndjson", CSV: "text/csv"}
_FORMAT_BY_CONTENT_TYPE = {
    "application/x-ndjson": JSONL,
    "application/jsonl": JSONL,
    "application/jsonlines": JSONL,
    "text/csv": CSV,
}
_FORMAT_BY_EXTENSION = {".jsonl": JSONL, ".ndjson": JSONL, ".csv": CSV}

SPLITS = ("", "train", "validation", "test")
JSONL_KEYS = ("input_data", "expected_output", "tags", "split", "metadata")
CSV_RESERVED_COLUMNS = ("expected_output", "tags", "split")
CSV_INPUT_DATA_COLUMN = "input_data"
CSV_EXPORT_COLUMNS = ("input_data", "expected_output", "tags", "split")
_TAG_SEPARATORS = re.compile(r"[,|]")
_MAX_DETAIL_CHARS = 200


@dataclass(frozen=True)
class GoldenRow:
    """One golden example's content, checked field by field (not yet against a prompt)."""

    input_data: dict[str, Any]
    expected_output: str
    tags: list[str] = field(default_factory=list)
    split: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)
    location: str = ""  # "line 3" (JSONL) or "row 3" (CSV): prefixes error messages of an import


class GoldenLike(Protocol):
    input_data: dict[str, Any]
    expected_output: str
    tags: list[str]
    split: str
    metadata: dict[str, Any]


# --- Fields ----------------------------------------------------------------------------------------


def loads_json(text: str) -> Any:
    """The platform's strict JSON: no NaN/Infinity, bounded numbers and nesting, no NUL characters."""
    return loads_strict(text)


def parse_input_data(value: Any, *, param: str = "input_data") -> dict[str, Any]:
    """A JSON object, given as an object or as a string holding one (the seed's form)."""
    if isinstance(value, str):
        try:
            value = loads_json(value)
        except ValueError as error:
            raise ValidationFailed(
                f"{param} is a string but not valid JSON: {_clip(str(error))}", code="invalid_json", param=param
            ) from None
        if not isinstance(value, dict):
            raise ValidationFailed(
                f"{param} must be a JSON object or a string holding one, not a string holding {_json_type(value)}",
                code="invalid",
                param=param,
            )
        return value
    if not isinstance(value, Mapping):
        raise ValidationFailed(
            f"{param} must be a JSON object or a string holding one, not {_json_type(value)}", param=param
        )
    return dict(value)


def clean_tags(value: Any, *, param: str = "tags") -> list[str]:
    """Short labels, without the characters the CSV format uses to separate them; duplicates dropped."""
    if value is None:
        return []
    if not isinstance(value, list | tuple):
        raise ValidationFailed(f"{param} must be a list of strings", param=param)
    tags: list[str] = []
    for index, tag in enumerate(value):
        if not isinstance(tag, str):
            raise ValidationFailed(f"{param}[{index}] must be a string", param=f"{param}[{index}]")
        tag = tag.strip()
        if not tag:
            raise ValidationFailed(f"{param}[{index}] is empty", param=f"{param}[{index}]")
        if len(tag) > MAX_TAG_CHARS:
            raise ValidationFailed(
                f"{param}[{index}] is longer than {MAX_TAG_CHARS} characters",
                code="too_long",
                param=f"{param}[{index}]",
            )
        if _TAG_SEPARATORS.search(tag) or "\x00" in tag:
            raise ValidationFailed(
                f"{param}[{index}] {tag!r} contains ',' or '|', which separate tags in CSV files",
                param=f"{param}[{index}]",
            )
        if tag not in tags:
            tags.append(tag)
    if len(tags) > MAX_TAGS:
        raise ValidationFailed(f"{param} has more than {MAX_TAGS} tags", code="too_many", param=param)
    return tags


def clean_split(value: Any, *, param: str = "split") -> str:
    if value is None:
        return ""
    if not isinstance(value, str) or value.strip().lower() not in SPLITS:
        raise ValidationFailed(
            f"{param} must be one of 'train', 'validation', 'test' or empty, not {_clip(repr(value), 60)}",
            code="invalid_choice",
            param=param,
        )
    return value.strip().lower()


def clean_expected_output(value: Any, *, param: str = "expected_output") -> str:
    if not isinstance(value, str):
        raise ValidationFailed(f"{param} must be a string, not {_json_type(value)}", param=param)
    if "\x00" in value:
        raise ValidationFailed(f"{param} contains a NUL character", param=param)
    if len(value.encode()) > MAX_EXPECTED_OUTPUT_BYTES:
        raise ValidationFailed(
            f"{param} is larger than the limit of {MAX_EXPECTED_OUTPUT_BYTES // 1024} KB per golden example",
            code="too_large",
            param=param,
        )
    return value


def clean_json_object(value: Any, *, param: str, limit: int) -> dict[str, Any]:
    """A JSON object that PostgreSQL can store (no NUL characters) and within ``limit`` bytes."""
    if not isinstance(value, Mapping):
        raise ValidationFailed(f"{param} must be a JSON object, not {_json_type(value)}", param=param)
    _check_storable(value, param=param)
    try:
        size = len(json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode())
    except (TypeError, ValueError) as error:
        raise ValidationFailed(f"{param} is not JSON: {_clip(str(error))}", param=param) from None
    if size > limit:
        raise ValidationFailed(
            f"{param} is larger than the limit of {limit // 1024} KB per golden example as JSON",
            code="too_large",
            param=param,
        )
    return dict(value)


def clean_row(
    *,
    input_data: Any,
    expected_output: Any,
    tags: Any = None,
    split: Any = "",
    metadata: Any = None,
    location: str = "",
) -> GoldenRow:
    """Every field checked; ``input_data`` may be a JSON-encoded string."""
    data = clean_json_object(parse_input_data(input_data), param="input_data", limit=MAX_INPUT_DATA_BYTES)
    return GoldenRow(
        input_data=data,
        expected_output=clean_expected_output(expected_output),
        tags=clean_tags(tags),
        split=clean_split(split),
        metadata=clean_json_object({} if metadata is None else metadata, param="metadata", limit=MAX_METADATA_BYTES),
        location=location,
    )


# --- Checks against a prompt version ------------------------------------------------------------------


class VariableChecker:
    """Checks ``input_data`` against a prompt version: every variable the template uses and every
    variable the schema requires must be present (unless the schema gives it a default), and with a
    schema the values (defaults filled in) must validate against it."""

    def __init__(self, *, variables: Sequence[str], schema: Mapping[str, Any] | None) -> None:
        self.schema = dict(schema) if isinstance(schema, Mapping) else None
        properties = (self.schema or {}).get("properties") or {}
        self.defaults = {
            name: spec["default"]
            for name, spec in properties.items()
            if isinstance(spec, Mapping) and "default" in spec
        }
        required = [*variables, *((self.schema or {}).get("required") or [])]
        self.required = [name for name in dict.fromkeys(required) if isinstance(name, str)]
        self.validator = Draft202012Validator(self.schema) if self.schema is not None else None

    def check(self, input_data: Mapping[str, Any]) -> None:
        for name in self.required:
            if name not in input_data and name not in self.defaults:
                raise ValidationFailed(
                    f"input_data is missing variable {name!r}", code="missing_variable", param=f"input_data.{name}"
                )
        if self.validator is None:
            return
        values = {**copy.deepcopy(self.defaults), **input_data}
        try:
            error = best_match(self.validator.iter_errors(values))
        except (SchemaError, UnknownType, Unresolvable) as problem:
            raise ValidationFailed(
                f"the prompt version's variables_schema cannot be used: {_clip(str(problem))}",
                code="invalid_schema",
                param="variables_schema",
            ) from None
        if error is None:
            return
        path = [str(step) for step in error.path]
        if not path:
            raise ValidationFailed(
                f"input_data does not match the prompt's variables_schema: {_clip(error.message)}",
                code="invalid_variable",
                param="input_data",
            )
        name = path[0]
        if error.validator == "type" and len(path) == 1:
            expected = error.validator_value
            expected_text = " or ".join(expected) if isinstance(expected, list) else str(expected)
            message = f"input_data variable {name!r} must be of type {expected_text}"
        else:
            location = "".join(f"[{step!r}]" for step in path[1:])
            message = f"input_data variable {name!r}{location} is invalid: {_clip(error.message)}"
        raise ValidationFailed(message, code="invalid_variable", param=f"input_data.{name}")


# --- Formats ---------------------------------------------------------------------------------------


def detect_format(
    *, explicit: str | None = None, content_type: str | None = None, filename: str | None = None
) -> str | None:
    """``jsonl`` or ``csv``: the explicit choice, else from the content type, else the file extension."""
    if explicit:
        choice = explicit.strip().lower()
        if choice not in FORMATS:
            raise ValidationFailed(f"format must be 'jsonl' or 'csv', not {_clip(repr(explicit), 40)}", param="format")
        return choice
    if content_type:
        media_type = content_type.split(";", 1)[0].strip().lower()
        if media_type in _FORMAT_BY_CONTENT_TYPE:
            return _FORMAT_BY_CONTENT_TYPE[media_type]
    if filename:
        lowered = filename.lower()
        for extension, found in _FORMAT_BY_EXTENSION.items():
            if lowered.endswith(extension):
                return found
    return None


def decode(data: bytes) -> str:
    """UTF-8 text (a leading byte-order mark, as spreadsheet programs write, is dropped)."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise ValidationFailed(
            f"the file is not UTF-8 text (byte {error.start} cannot be decoded)", code="invalid_encoding", param="file"
        ) from None


def parse(text: str, *, format: str, max_rows: int = MAX_IMPORT_ROWS) -> list[GoldenRow]:
    if format == JSONL:
        return parse_jsonl(text, max_rows=max_rows)
    if format == CSV:
        return parse_csv(text, max_rows=max_rows)
    raise ValidationFailed(f"format must be 'jsonl' or 'csv', not {format!r}", param="format")


def parse_jsonl(text: str, *, max_rows: int = MAX_IMPORT_ROWS) -> list[GoldenRow]:
    """One JSON object per line: ``input_data`` (object or JSON string), ``expected_output``, and
    optionally ``tags``, ``split``, ``metadata``. Blank lines are skipped; lines count from 1."""
    rows: list[GoldenRow] = []
    # Split on newlines only: str.splitlines() would also cut at U+2028, which JSON strings may hold.
    for number, line in enumerate(text.lstrip("\ufeff").split("\n"), start=1):
        if not line.strip():
            continue
        location = f"line {number}"
        if len(rows) >= max_rows:
            raise _too_many_rows(max_rows)
        try:
            record = loads_json(line)
        except ValueError as error:
            raise ValidationFailed(f"{location}: not valid JSON: {_clip(str(error))}", code="invalid_json") from None
        if not isinstance(record, dict):
            raise ValidationFailed(f"{location}: must be a JSON object, not {_json_type(record)}")
        unknown = [key for key in record if key not in JSONL_KEYS]
        if unknown:
            raise ValidationFailed(
                f"{location}: unknown key {_clip(unknown[0], 60)!r} (known: {', '.join(JSONL_KEYS)})",
                param=str(unknown[0])[:100],
            )
        for required in ("input_data", "expected_output"):
            if required not in record:
                raise ValidationFailed(f"{location}: {required} is required", code="required", param=required)
        rows.append(
            _located(
                location,
                input_data=record["input_data"],
                expected_output=record["expected_output"],
                tags=record.get("tags"),
                split=record.get("split", ""),
                metadata=record.get("metadata"),
            )
        )
    return rows


def parse_csv(text: str, *, max_rows: int = MAX_IMPORT_ROWS) -> list[GoldenRow]:
    """A header, then one golden per row. Either an ``input_data`` column holding a JSON object, or
    one column per variable (every column but ``expected_output``, ``tags`` and ``split``).
    ``tags`` are separated by ',' or '|'. Rows count from 1 after the header; blank rows are skipped.

    Every cell (header included) is read through ``llmops.core.csv_cells.restore``, the inverse of the
    formula escape ``iter_csv`` writes: one leading ``'`` is removed from a cell made of ``'``
    characters followed by ``=``, ``+``, ``-``, ``@``, a tab or a carriage return (``'=1+1`` is the
    text ``=1+1``, ``''=1+1`` is ``'=1+1``); any other cell is taken as it is (``'tis``, ``=1+1``)."""
    reader = csv.reader(io.StringIO(text.lstrip("\ufeff"), newline=""), strict=True)
    try:
        header = next(reader, None)
        if header is None:
            return []
        columns = [restore(name.strip()) for name in header]
        _check_header(columns)
        json_mode = CSV_INPUT_DATA_COLUMN in columns
        rows: list[GoldenRow] = []
        number = 0
        for cells in reader:
            if not any(cell.strip() for cell in cells):
                continue
            number += 1
            location = f"row {number}"
            if len(rows) >= max_rows:
                raise _too_many_rows(max_rows)
            if len(cells) != len(columns):
                raise ValidationFailed(f"{location}: has {len(cells)} cells but the header has {len(columns)} columns")
            values = dict(zip(columns, map(restore, cells), strict=True))
            if json_mode:
                input_data: Any = values[CSV_INPUT_DATA_COLUMN]
            else:
                input_data = {name: value for name, value in values.items() if name not in CSV_RESERVED_COLUMNS}
            rows.append(
                _located(
                    location,
                    input_data=input_data,
                    expected_output=values["expected_output"],
                    tags=[tag for tag in _TAG_SEPARATORS.split(values.get("tags", "")) if tag.strip()],
                    split=values.get("split", ""),
                )
            )
    except csv.Error as error:
        raise ValidationFailed(
            f"line {reader.line_num}: not valid CSV: {_clip(str(error))}", code="invalid_csv", param="file"
        ) from None
    return rows


def _check_header(columns: list[str]) -> None:
    seen: set[str] = set()
    for index, name in enumerate(columns, start=1):
        if not name:
            raise ValidationFailed(f"header: column {index} has no name", code="invalid_csv", param="file")
        if name in seen:
            raise ValidationFailed(f"header: column {name!r} appears twice", code="invalid_csv", param="file")
        seen.add(name)
    if "expected_output" not in seen:
        raise ValidationFailed("header: an expected_output column is required", code="required", param="file")
    if CSV_INPUT_DATA_COLUMN in seen:
        extra = [name for name in columns if name not in (CSV_INPUT_DATA_COLUMN, *CSV_RESERVED_COLUMNS)]
        if extra:
            raise ValidationFailed(
                f"header: column {extra[0]!r} cannot be combined with an input_data column "
                "(use either input_data or one column per variable)",
                code="invalid_csv",
                param="file",
            )


def _located(location: str, **fields: Any) -> GoldenRow:
    try:
        return clean_row(location=location, **fields)
    except ValidationFailed as error:
        raise ValidationFailed(f"{location}: {error.message}", code=error.code, param=error.param) from None


def _too_many_rows(max_rows: int) -> ValidationFailed:
    return ValidationFailed(
        f"the file has more than {max_rows} golden examples, the limit per import; split it into several files",
        code="too_many_rows",
        param="file",
    )


def iter_jsonl(goldens: Iterable[GoldenLike]) -> Iterator[str]:
    """One line per golden, in the format ``parse_jsonl`` reads."""
    for golden in goldens:
        record = {
            "input_data": golden.input_data,
            "expected_output": golden.expected_output,
            "tags": list(golden.tags or []),
            "split": golden.split,
        }
        if golden.metadata:
            record["metadata"] = golden.metadata
        yield json.dumps(record, ensure_ascii=False) + "\n"


def iter_csv(goldens: Iterable[GoldenLike]) -> Iterator[str]:
    """A header, then one row per golden with ``input_data`` as a JSON object (which keeps value types
    and nested data); tags joined with '|'. CSV carries no metadata: use JSONL to keep it.

    Cells are user text opened in spreadsheets, so each goes through ``llmops.core.csv_cells.neutralise``:
    a cell that would start with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return (or with
    ``'`` characters and then one of those) gets a leading ``'``. ``parse_csv`` removes it again,
    so an export imports back to the same goldens."""
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, lineterminator="\r\n")

    def flush() -> str:
        text = buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        return text

    writer.writerow(CSV_EXPORT_COLUMNS)
    yield flush()
    for golden in goldens:
        cells = (
            json.dumps(golden.input_data, ensure_ascii=False),
            golden.expected_output,
            "|".join(golden.tags or []),
            golden.split,
        )
        writer.writerow([neutralise(cell) for cell in cells])
        yield flush()


def export_iter(goldens: Iterable[GoldenLike], *, format: str) -> Iterator[str]:
    return iter_csv(goldens) if format == CSV else iter_jsonl(goldens)


# --- Helpers ---------------------------------------------------------------------------------------


def _check_storable(value: Any, *, param: str) -> None:
    """PostgreSQL's text and jsonb types cannot hold NUL characters."""
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            if "\x00" in item:
                raise ValidationFailed(f"{param} contains a NUL character", param=param)
        elif isinstance(item, Mapping):
            for key, child in item.items():
                if not isinstance(key, str) or "\x00" in key:
                    raise ValidationFailed(f"{param} keys must be strings without NUL characters", param=param)
                pending.append(child)
        elif isinstance(item, list | tuple):
            pending.extend(item)


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list | tuple):
        return "an array"
    if isinstance(value, Mapping):
        return "an object"
    return type(value).__name__


def _clip(text: str, limit: int = _MAX_DETAIL_CHARS) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
