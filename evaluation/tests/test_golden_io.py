"""Golden-example fields, variable checks and the JSONL/CSV formats (pure functions, no database)."""

import csv
import io
import json
from types import SimpleNamespace

import pytest

from evaluation import golden_io
from evaluation.golden_io import VariableChecker
from llmops.core.errors import ValidationFailed


def _error(callable_, *args, **kwargs) -> ValidationFailed:
    with pytest.raises(ValidationFailed) as caught:
        callable_(*args, **kwargs)
    return caught.value


# --- Fields ---------------------------------------------------------------------------------------


def test_input_data_is_accepted_as_an_object_or_as_the_seeds_json_string():
    assert golden_io.parse_input_data({"input": "I love this!"}) == {"input": "I love this!"}
    assert golden_io.parse_input_data('{"input": "I love this!"}') == {"input": "I love this!"}


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        ("I love this!", "not valid JSON"),
        ("[1, 2]", "holding an array"),
        ('"text"', "holding a string"),
        ("NaN", "not valid JSON"),
        (["a"], "not an array"),
        (None, "not null"),
    ],
)
def test_input_data_that_is_not_an_object_names_input_data(value, fragment):
    error = _error(golden_io.parse_input_data, value)
    assert error.param == "input_data"
    assert error.message.startswith("input_data ")
    assert fragment in error.message


def test_size_limits_name_the_limit():
    big = "x" * (golden_io.MAX_INPUT_DATA_BYTES + 1)
    error = _error(golden_io.clean_row, input_data={"input": big}, expected_output="ok")
    assert (error.param, error.code) == ("input_data", "too_large")
    assert "64 KB" in error.message

    error = _error(
        golden_io.clean_row, input_data={}, expected_output="é" * (golden_io.MAX_EXPECTED_OUTPUT_BYTES // 2 + 1)
    )
    assert (error.param, error.code) == ("expected_output", "too_large")
    assert "64 KB" in error.message

    within = golden_io.clean_row(input_data={"input": "x" * 60_000}, expected_output="y" * 65_536)
    assert len(within.expected_output) == 65_536


def test_tags_are_trimmed_deduplicated_and_may_not_hold_csv_separators():
    assert golden_io.clean_tags([" smoke ", "smoke", "edge-case"]) == ["smoke", "edge-case"]
    assert _error(golden_io.clean_tags, ["a,b"]).param == "tags[0]"
    assert _error(golden_io.clean_tags, ["ok", ""]).param == "tags[1]"
    assert _error(golden_io.clean_tags, "smoke").param == "tags"
    assert _error(golden_io.clean_tags, [f"t{i}" for i in range(golden_io.MAX_TAGS + 1)]).code == "too_many"


def test_split_must_be_a_known_split():
    assert golden_io.clean_split("Test ") == "test"
    assert golden_io.clean_split("") == ""
    error = _error(golden_io.clean_split, "holdout")
    assert (error.param, error.code) == ("split", "invalid_choice")


def test_nul_characters_are_refused_before_postgresql_sees_them():
    assert _error(golden_io.clean_row, input_data={"input": "a\x00b"}, expected_output="").param == "input_data"
    assert _error(golden_io.clean_row, input_data={}, expected_output="a\x00").param == "expected_output"


# --- Variables -------------------------------------------------------------------------------------


def test_a_template_variable_missing_from_input_data_is_named():
    checker = VariableChecker(variables=["input"], schema=None)
    error = _error(checker.check, {"text": "hi"})
    assert error.message == "input_data is missing variable 'input'"
    assert (error.param, error.code) == ("input_data.input", "missing_variable")
    checker.check({"input": "hi", "extra": 1})


def test_schema_required_variables_count_unless_the_schema_gives_a_default():
    schema = {
        "type": "object",
        "properties": {"input": {"type": "string"}, "tone": {"type": "string", "default": "neutral"}},
        "required": ["input", "tone"],
    }
    checker = VariableChecker(variables=["tone"], schema=schema)
    checker.check({"input": "hi"})  # tone has a default
    assert _error(checker.check, {"tone": "warm"}).param == "input_data.input"


def test_schema_type_mismatch_names_the_variable_and_the_type():
    schema = {"type": "object", "properties": {"count": {"type": "integer"}}}
    checker = VariableChecker(variables=["count"], schema=schema)
    error = _error(checker.check, {"count": "three"})
    assert error.message == "input_data variable 'count' must be of type integer"
    assert (error.param, error.code) == ("input_data.count", "invalid_variable")
    checker.check({"count": 3})


# --- JSONL -------------------------------------------------------------------------------------------


def test_jsonl_reads_objects_and_seed_strings_and_skips_blank_lines():
    text = (
        '{"input_data": {"input": "I love this!"}, "expected_output": "positive", "tags": ["smoke"], "split": "test"}\n'
        "\n"
        '{"input_data": "{\\"input\\": \\"meh\\"}", "expected_output": "neutral"}\n'
    )
    rows = golden_io.parse_jsonl(text)
    assert [(r.input_data, r.expected_output, r.tags, r.split) for r in rows] == [
        ({"input": "I love this!"}, "positive", ["smoke"], "test"),
        ({"input": "meh"}, "neutral", [], ""),
    ]
    assert [r.location for r in rows] == ["line 1", "line 3"]


@pytest.mark.parametrize(
    ("bad_line", "fragment"),
    [
        ("{not json", "not valid JSON"),
        ('["a"]', "must be a JSON object"),
        ('{"input_data": {}, "expected_output": "x", "expected": "y"}', "unknown key 'expected'"),
        ('{"input_data": {}}', "expected_output is required"),
        ('{"input_data": {}, "expected_output": "x", "split": "dev"}', "split must be one of"),
    ],
)
def test_a_bad_jsonl_line_is_named_by_its_line_number(bad_line, fragment):
    good = '{"input_data": {"input": "a"}, "expected_output": "b"}'
    text = "\n".join([good, good, good, good, bad_line, good])
    error = _error(golden_io.parse_jsonl, text)
    assert error.message.startswith("line 5: ")
    assert fragment in error.message


def test_jsonl_keeps_line_separators_inside_strings():
    text = json.dumps({"input_data": {"input": "a\u2028b"}, "expected_output": "x"}, ensure_ascii=False)
    assert golden_io.parse_jsonl(text)[0].input_data == {"input": "a\u2028b"}


def test_row_cap_names_the_cap():
    line = '{"input_data": {}, "expected_output": ""}\n'
    assert len(golden_io.parse_jsonl(line * 3, max_rows=3)) == 3
    error = _error(golden_io.parse_jsonl, line * 4, max_rows=3)
    assert error.code == "too_many_rows"
    assert "more than 3 golden examples" in error.message


# --- CSV ---------------------------------------------------------------------------------------------


def test_csv_with_one_column_per_variable():
    text = (
        "input,language,expected_output,tags,split\r\nI love this!,en,positive,smoke|fast,test\r\nbof,fr,neutral,,\r\n"
    )
    rows = golden_io.parse_csv(text)
    assert [(r.input_data, r.expected_output, r.tags, r.split) for r in rows] == [
        ({"input": "I love this!", "language": "en"}, "positive", ["smoke", "fast"], "test"),
        ({"input": "bof", "language": "fr"}, "neutral", [], ""),
    ]


def test_csv_with_an_input_data_column_keeps_value_types_and_comma_separated_tags():
    text = 'input_data,expected_output,tags\n"{""count"": 3, ""items"": [1, 2]}",six,"a, b"\n'
    (row,) = golden_io.parse_csv(text)
    assert row.input_data == {"count": 3, "items": [1, 2]}
    assert row.tags == ["a", "b"]


def test_csv_from_a_spreadsheet_with_a_byte_order_mark():
    (row,) = golden_io.parse_csv("\ufeffinput,expected_output\nhello,world\n")
    assert row.input_data == {"input": "hello"}


@pytest.mark.parametrize(
    ("header", "fragment"),
    [
        ("input,output", "expected_output column is required"),
        ("input,input,expected_output", "'input' appears twice"),
        ("input_data,input,expected_output", "cannot be combined with an input_data column"),
        ("input,,expected_output", "column 2 has no name"),
    ],
)
def test_bad_csv_headers_are_explained(header, fragment):
    assert fragment in _error(golden_io.parse_csv, header + "\n").message


def test_a_bad_csv_row_is_named_by_its_row_number():
    rows = ["a,positive,test"] * 4 + ["b,positive,holdout"] + ["c,negative,train"]
    error = _error(golden_io.parse_csv, "input,expected_output,split\n" + "\n".join(rows))
    assert error.message.startswith("row 5: split must be one of")
    short = _error(golden_io.parse_csv, "input,expected_output\na,b\nc\n")
    assert short.message == "row 2: has 1 cells but the header has 2 columns"
    bad_json = _error(golden_io.parse_csv, 'input_data,expected_output\n"[1]",x\n')
    assert bad_json.message.startswith("row 1: input_data must be a JSON object")


# --- Formats and round trips ---------------------------------------------------------------------


def _golden(**fields):
    defaults = {"input_data": {}, "expected_output": "", "tags": [], "split": "", "metadata": {}}
    return SimpleNamespace(**{**defaults, **fields})


GOLDENS = [
    _golden(input_data={"input": "I love this!"}, expected_output="positive", tags=["smoke"], split="test"),
    _golden(
        input_data={"input": 'say "hi",\nthen leave', "n": 2, "nested": {"k": [1, None]}},
        expected_output='multi\nline, with "quotes"',
        tags=["a", "b"],
        metadata={"source": "support ticket 42"},
    ),
    _golden(input_data={"input": "ünïcödé ✓"}, expected_output="=1+1", split="validation"),
]


@pytest.mark.parametrize("file_format", golden_io.FORMATS)
def test_export_then_parse_gives_back_the_same_goldens(file_format):
    text = "".join(golden_io.export_iter(GOLDENS, format=file_format))
    rows = golden_io.parse(text, format=file_format)
    got = [(r.input_data, r.expected_output, r.tags, r.split) for r in rows]
    assert got == [(g.input_data, g.expected_output, g.tags, g.split) for g in GOLDENS]
    if file_format == golden_io.JSONL:  # JSONL also carries metadata
        assert [r.metadata for r in rows] == [g.metadata for g in GOLDENS]


def test_csv_export_header_and_tag_separator():
    lines = "".join(golden_io.iter_csv(GOLDENS[:1])).splitlines()
    assert lines == ["input_data,expected_output,tags,split", '"{""input"": ""I love this!""}",positive,smoke,test']


# --- Formula cells (CSV injection) ------------------------------------------------------------------

TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
# Text a spreadsheet would run, and text that already looks like an escaped cell.
TRICKY = [
    *(f'{trigger}HYPERLINK("http://x","y")' for trigger in TRIGGERS),
    *(f"'{trigger}1+1" for trigger in TRIGGERS),
    "''=1+1",
    "'",
    "''",
    "'tis",
    "it's =fine",
    "-",
]


def _csv_cells(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text, newline="")))


@pytest.mark.parametrize("trigger", TRIGGERS)
def test_csv_export_neutralises_cells_a_spreadsheet_would_evaluate(trigger):
    payload = f"{trigger}cmd|' /C calc'!A0"
    golden = _golden(
        input_data={"input": payload, "nested": {"k": [payload]}},
        expected_output=payload,
        tags=[f"{trigger.strip() or '='}tag", "plain"],
        metadata={"note": f"{payload} in metadata"},
    )

    text = "".join(golden_io.iter_csv([golden]))

    header, row = _csv_cells(text)
    assert header == list(golden_io.CSV_EXPORT_COLUMNS)
    input_cell, expected_cell, tags_cell, split_cell = row
    assert split_cell == ""
    assert expected_cell == "'" + payload
    assert tags_cell == f"'{trigger.strip() or '='}tag|plain"
    # input_data is one JSON object: it starts with '{', so the values inside are safe as they are.
    assert input_cell.startswith("{") and json.loads(input_cell) == golden.input_data
    assert not any(cell.startswith(TRIGGERS) for cell in row)
    assert "in metadata" not in text  # CSV carries no metadata


def test_csv_export_then_import_gives_back_exactly_the_same_goldens():
    tags = ["=tag", "+tag", "-tag", "@tag", "'=tag", "''-tag", "'tag", "'"]
    goldens = [
        _golden(
            input_data={"input": text, "list": [text], "n": -1},
            expected_output=text,
            tags=[tags[index % len(tags)], "x"] if index % 3 else ["x", tags[index % len(tags)]],
            split="test",
        )
        for index, text in enumerate(TRICKY)
    ]

    text = "".join(golden_io.iter_csv(goldens))
    rows = golden_io.parse_csv(text)

    assert [(r.input_data, r.expected_output, r.tags, r.split) for r in rows] == [
        (g.input_data, g.expected_output, g.tags, g.split) for g in goldens
    ]
    assert not any(cell.startswith(TRIGGERS) for line in _csv_cells(text) for cell in line)
    # Exported again, the imported goldens give the same file byte for byte.
    assert "".join(golden_io.iter_csv(rows)) == text


def test_jsonl_export_keeps_formula_looking_text_as_it_is():
    goldens = [_golden(input_data={"input": text}, expected_output=text, metadata={"m": text}) for text in TRICKY]

    text = "".join(golden_io.iter_jsonl(goldens))

    records = [json.loads(line) for line in text.splitlines()]
    assert [(r["input_data"]["input"], r["expected_output"], r["metadata"]["m"]) for r in records] == [
        (t, t, t) for t in TRICKY
    ]
    assert [(r.expected_output, r.metadata) for r in golden_io.parse_jsonl(text)] == [
        (g.expected_output, g.metadata) for g in goldens
    ]


def test_csv_written_by_hand_drops_exactly_one_escaping_quote():
    text = (
        "input,expected_output,tags\r\n"
        "'=1+1,'@SUM(A1:A2),'=a|b\r\n"  # escaped formulas: the quote is dropped
        "''=1+1,'-2,'+x\r\n"  # one quote dropped, the rest is the text
        "'tis,it's,=raw\r\n"  # a quote before anything else is text; unescaped formulas are taken as written
        '"\'\t=1","\'\r",\'\r\n'
    )

    rows = golden_io.parse_csv(text)

    assert [(r.input_data, r.expected_output, r.tags) for r in rows] == [
        ({"input": "=1+1"}, "@SUM(A1:A2)", ["=a", "b"]),
        ({"input": "'=1+1"}, "-2", ["+x"]),
        ({"input": "'tis"}, "it's", ["=raw"]),
        ({"input": "\t=1"}, "\r", ["'"]),
    ]


def test_format_detection():
    assert golden_io.detect_format(explicit="CSV") == "csv"
    assert golden_io.detect_format(content_type="application/x-ndjson; charset=utf-8") == "jsonl"
    assert golden_io.detect_format(content_type="application/octet-stream", filename="goldens.CSV") == "csv"
    assert golden_io.detect_format(filename="goldens.ndjson") == "jsonl"
    assert golden_io.detect_format(filename="goldens.txt") is None
    assert _error(golden_io.detect_format, explicit="xlsx").param == "format"


def test_decode_refuses_non_utf8():
    assert golden_io.decode("\ufeffa,b".encode()) == "a,b"
    error = _error(golden_io.decode, "café".encode("latin-1"))
    assert (error.param, error.code) == ("file", "invalid_encoding")
