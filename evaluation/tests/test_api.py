"""The golden-examples API as a client sees it: the seed contract, checks, tenancy, import/export."""

import csv
import io
import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from rest_framework.test import APIClient

from accounts.tests.factories import issue_key
from evaluation.models import GoldenExample
from evaluation.tests.factories import GoldenExampleFactory
from prompts.tests.factories import PromptFactory, PromptVersionFactory

pytestmark = pytest.mark.django_db

URL = "/api/v1/golden-examples"
SEED_BODY = {"prompt_id": None, "input_data": '{"input": "I love this!"}', "expected_output": "positive"}


def make_prompt(project, *, template="Analyze the sentiment of this text: {input}", variables=("input",), schema=None):
    prompt = PromptFactory(project=project)
    PromptVersionFactory(prompt=prompt, template=template, variables=list(variables), variables_schema=schema)
    return prompt


@pytest.fixture
def prompt(project):
    return make_prompt(project)


def _error(response, status=400):
    assert response.status_code == status, response.content
    body = response.json()
    assert body["request_id"] == response["X-Request-ID"]
    return body["error"]


def _body(response) -> str:
    return b"".join(response.streaming_content).decode()


# --- Create ----------------------------------------------------------------------------------------


def test_seed_body_with_string_input_data_creates_a_golden(api, prompt):
    response = api.post(URL, {**SEED_BODY, "prompt_id": str(prompt.pk)}, format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["input_data"] == {"input": "I love this!"}
    assert body["prompt_id"] == str(prompt.pk)
    assert (body["expected_output"], body["tags"], body["split"], body["metadata"]) == ("positive", [], "", {})
    assert {"id", "created_at", "updated_at"} <= body.keys()
    assert api.get(f"{URL}/{body['id']}").json() == body


def test_object_input_data_and_optional_fields(api, prompt):
    response = api.post(
        URL,
        {
            "prompt_id": str(prompt.pk),
            "input_data": {"input": "I love this!"},
            "expected_output": "positive",
            "tags": ["smoke", "en"],
            "split": "test",
            "metadata": {"source": "ticket 42"},
        },
        format="json",
    )
    assert response.status_code == 201, response.content
    golden = GoldenExample.objects.get(pk=response.json()["id"])
    assert (golden.input_data, golden.tags, golden.split, golden.metadata) == (
        {"input": "I love this!"},
        ["smoke", "en"],
        "test",
        {"source": "ticket 42"},
    )


def test_a_string_that_is_not_a_json_object_is_a_400_naming_input_data(api, prompt):
    for value in ("I love this!", "[1, 2]"):
        error = _error(api.post(URL, {**SEED_BODY, "prompt_id": str(prompt.pk), "input_data": value}, format="json"))
        assert error["param"] == "input_data"
        assert "input_data must be a JSON object" in error["message"] or "not valid JSON" in error["message"]
    assert not GoldenExample.objects.exists()


def test_missing_variable_is_a_400_naming_it(api, prompt):
    body = {"prompt_id": str(prompt.pk), "input_data": {"text": "I love this!"}, "expected_output": "positive"}
    error = _error(api.post(URL, body, format="json"))
    assert error == {
        "type": "validation_error",
        "message": "input_data is missing variable 'input'",
        "param": "input_data.input",
        "code": "missing_variable",
    }


def test_schema_type_mismatch_is_a_400(api, project):
    schema = {"type": "object", "properties": {"input": {"type": "string"}, "max_words": {"type": "integer"}}}
    prompt = make_prompt(
        project, template="Summarise {input} in {max_words} words", variables=("input", "max_words"), schema=schema
    )
    body = {"prompt_id": str(prompt.pk), "input_data": {"input": "text", "max_words": "ten"}, "expected_output": "x"}
    error = _error(api.post(URL, body, format="json"))
    assert error["param"] == "input_data.max_words"
    assert error["message"] == "input_data variable 'max_words' must be of type integer"
    body["input_data"]["max_words"] = 10
    assert api.post(URL, body, format="json").status_code == 201


def test_size_limits_are_400s_naming_the_limit(api, prompt):
    body = {"prompt_id": str(prompt.pk), "input_data": {"input": "x" * 70_000}, "expected_output": "ok"}
    error = _error(api.post(URL, body, format="json"))
    assert (error["param"], error["code"]) == ("input_data", "too_large")
    assert "64 KB" in error["message"]
    body = {"prompt_id": str(prompt.pk), "input_data": {"input": "x"}, "expected_output": "y" * 70_000}
    assert _error(api.post(URL, body, format="json"))["param"] == "expected_output"


def test_bad_split_and_missing_fields_are_field_errors(api, prompt):
    error = _error(api.post(URL, {**SEED_BODY, "prompt_id": str(prompt.pk), "split": "holdout"}, format="json"))
    assert error["param"] == "split"
    error = _error(api.post(URL, {"prompt_id": str(prompt.pk)}, format="json"))
    assert {"input_data", "expected_output"} <= error["fields"].keys()


def test_unknown_prompt_is_a_404(api):
    body = {**SEED_BODY, "prompt_id": "00000000-0000-0000-0000-000000000000"}
    assert _error(api.post(URL, body, format="json"), status=404)["type"] == "not_found"


def test_a_read_only_key_can_list_but_not_write(project, prompt):
    reader = APIClient()
    reader.credentials(HTTP_AUTHORIZATION=f"Bearer {issue_key(project=project, scopes=('read',))}")
    assert reader.get(URL).status_code == 200
    response = reader.post(URL, {**SEED_BODY, "prompt_id": str(prompt.pk)}, format="json")
    assert _error(response, status=403)["type"] == "permission_error"
    assert not GoldenExample.objects.exists()


# --- Read, update, delete --------------------------------------------------------------------------


def test_patch_put_and_delete(api, prompt):
    golden = GoldenExampleFactory(prompt=prompt, tags=["old"], split="train", metadata={"a": 1})
    patched = api.patch(f"{URL}/{golden.pk}", {"expected_output": "negative"}, format="json")
    assert patched.status_code == 200, patched.content
    assert (patched.json()["expected_output"], patched.json()["tags"]) == ("negative", ["old"])

    error = _error(api.patch(f"{URL}/{golden.pk}", {"input_data": {"nope": 1}}, format="json"))
    assert error["param"] == "input_data.input"

    put = api.put(
        f"{URL}/{golden.pk}",
        {"prompt_id": str(prompt.pk), "input_data": '{"input": "meh"}', "expected_output": "neutral"},
        format="json",
    )
    assert put.status_code == 200, put.content
    assert (put.json()["input_data"], put.json()["tags"], put.json()["split"], put.json()["metadata"]) == (
        {"input": "meh"},
        [],
        "",
        {},
    )

    assert api.delete(f"{URL}/{golden.pk}").status_code == 204
    assert api.get(f"{URL}/{golden.pk}").status_code == 404


def test_malformed_ids_are_404s_not_errors(api):
    assert _error(api.get(f"{URL}/not-a-uuid"), status=404)["type"] == "not_found"


def test_list_filters_by_prompt_split_and_tag(api, project, prompt):
    other_prompt = make_prompt(project)
    a = GoldenExampleFactory(prompt=prompt, split="test", tags=["smoke", "en"])
    b = GoldenExampleFactory(prompt=prompt, split="train", tags=["en"])
    c = GoldenExampleFactory(prompt=prompt, tags=["smokey"])
    d = GoldenExampleFactory(prompt=other_prompt, split="test", tags=["smoke"])

    def ids(query):
        response = api.get(URL + query)
        assert response.status_code == 200, response.content
        return [row["id"] for row in response.json()["results"]]

    assert ids("") == [str(g.pk) for g in (a, b, c, d)]
    assert ids(f"?prompt={prompt.pk}") == [str(a.pk), str(b.pk), str(c.pk)]
    assert ids("?split=test") == [str(a.pk), str(d.pk)]
    assert ids("?split=none") == [str(c.pk)]
    assert ids(f"?prompt={prompt.pk}&tag=smoke") == [str(a.pk)]
    assert ids("?tag=en&split=train") == [str(b.pk)]
    assert _error(api.get(URL + "?prompt=nope"))["param"] == "prompt"
    assert _error(api.get(URL + "?split=holdout"))["param"] == "split"


def test_pagination_is_capped(api, prompt):
    GoldenExampleFactory.create_batch(3, prompt=prompt)
    page = api.get(URL + "?limit=2").json()
    assert (page["count"], len(page["results"])) == (3, 2)
    assert "offset=2" in page["next"]
    error = _error(api.get(URL + "?limit=500"))
    assert error["param"] == "limit"
    assert "200" in error["message"]


# --- Tenancy ---------------------------------------------------------------------------------------


def test_another_projects_key_sees_none_of_it(tenant, other_tenant, prompt):
    golden = GoldenExampleFactory(prompt=prompt, expected_output="positive", tags=["mine"])
    before = GoldenExample.objects.values().get(pk=golden.pk)
    intruder = other_tenant.client
    detail = f"{URL}/{golden.pk}"

    assert _error(intruder.get(detail), status=404)["type"] == "not_found"
    assert intruder.patch(detail, {"expected_output": "hacked"}, format="json").status_code == 404
    put_body = {"prompt_id": str(prompt.pk), "input_data": {"input": "x"}, "expected_output": "hacked"}
    assert intruder.put(detail, put_body, format="json").status_code == 404
    assert intruder.delete(detail).status_code == 404
    assert intruder.get(URL).json()["count"] == 0
    assert intruder.get(f"{URL}?prompt={prompt.pk}").json()["count"] == 0
    assert intruder.get(f"{URL}/export?prompt={prompt.pk}").status_code == 404

    create = intruder.post(URL, {**SEED_BODY, "prompt_id": str(prompt.pk)}, format="json")
    assert _error(create, status=404)["param"] == "prompt_id"
    imported = intruder.post(
        f"{URL}/import?prompt_id={prompt.pk}",
        data='{"input_data": {"input": "x"}, "expected_output": "y"}\n',
        content_type="application/x-ndjson",
    )
    assert imported.status_code == 404

    # Moving one's own golden onto the other project's prompt is refused the same way.
    own = make_prompt(other_tenant.project)
    own_golden = GoldenExampleFactory(prompt=own)
    move = intruder.patch(f"{URL}/{own_golden.pk}", {"prompt_id": str(prompt.pk)}, format="json")
    assert move.status_code == 404

    assert GoldenExample.objects.filter(prompt=prompt).count() == 1
    assert GoldenExample.objects.values().get(pk=golden.pk) == before
    assert tenant.client.get(detail).json()["expected_output"] == "positive"


# --- Import ----------------------------------------------------------------------------------------

JSONL = (
    '{"input_data": {"input": "I love this!"}, "expected_output": "positive", "tags": ["smoke"], "split": "test"}\n'
    '{"input_data": "{\\"input\\": \\"awful\\"}", "expected_output": "negative"}\n'
)
CSV = "input,expected_output,tags,split\r\nI love this!,positive,smoke|en,test\r\nawful,negative,,train\r\n"


def test_import_jsonl_body(api, prompt):
    response = api.post(f"{URL}/import?prompt_id={prompt.pk}", data=JSONL, content_type="application/x-ndjson")
    assert response.status_code == 201, response.content
    assert response.json() == {"created": 2}
    goldens = list(GoldenExample.objects.filter(prompt=prompt).order_by("expected_output"))
    assert [(g.input_data, g.tags, g.split) for g in goldens] == [
        ({"input": "awful"}, [], ""),
        ({"input": "I love this!"}, ["smoke"], "test"),
    ]


def test_import_csv_body_and_multipart_file(api, prompt):
    raw = api.post(f"{URL}/import?prompt_id={prompt.pk}", data=CSV, content_type="text/csv; charset=utf-8")
    assert raw.status_code == 201, raw.content
    upload = SimpleUploadedFile("goldens.csv", CSV.encode(), content_type="application/octet-stream")
    form = api.post(f"{URL}/import", {"prompt_id": str(prompt.pk), "file": upload}, format="multipart")
    assert form.status_code == 201, form.content
    assert form.json() == {"created": 2}
    assert GoldenExample.objects.filter(prompt=prompt, tags=["smoke", "en"], split="test").count() == 2


def test_import_multipart_with_explicit_format(api, prompt):
    upload = SimpleUploadedFile("export.txt", JSONL.encode(), content_type="text/plain")
    response = api.post(f"{URL}/import?format=jsonl", {"prompt_id": str(prompt.pk), "file": upload}, format="multipart")
    assert response.status_code == 201, response.content
    unknown = SimpleUploadedFile("export.txt", JSONL.encode(), content_type="text/plain")
    error = _error(api.post(f"{URL}/import", {"prompt_id": str(prompt.pk), "file": unknown}, format="multipart"))
    assert error["param"] == "format"


@pytest.mark.parametrize("file_format", ["jsonl", "csv"])
def test_a_bad_row_5_is_a_400_naming_it_and_nothing_is_written(api, prompt, file_format):
    if file_format == "jsonl":
        good = '{"input_data": {"input": "fine"}, "expected_output": "ok"}'
        body = "\n".join([good] * 4 + ['{"input_data": {"text": "oops"}, "expected_output": "ok"}', good])
        expected_start = "line 5: "
    else:
        body = "input_data,expected_output\n" + "\n".join(
            ['"{""input"": ""fine""}",ok'] * 4 + ['"{""text"": ""oops""}",ok', '"{""input"": ""fine""}",ok']
        )
        expected_start = "row 5: "
    response = api.post(
        f"{URL}/import?prompt_id={prompt.pk}&format={file_format}", data=body, content_type="text/plain"
    )
    assert response.status_code == 415  # a raw body must say what it is
    content_type = "application/x-ndjson" if file_format == "jsonl" else "text/csv"
    error = _error(api.post(f"{URL}/import?prompt_id={prompt.pk}", data=body, content_type=content_type))
    assert error["message"] == f"{expected_start}input_data is missing variable 'input'"
    assert error["code"] == "missing_variable"
    assert not GoldenExample.objects.exists()


def test_import_errors_name_the_problem(api, prompt):
    post = lambda body, query=f"?prompt_id={prompt.pk}": api.post(  # noqa: E731
        f"{URL}/import{query}", data=body, content_type="application/x-ndjson"
    )
    assert _error(post(JSONL, query=""))["param"] == "prompt_id"
    assert _error(post("{broken\n"))["message"].startswith("line 1: not valid JSON")
    assert "unknown key 'expected'" in _error(post('{"input_data": {}, "expected": "x"}'))["message"]
    missing_file = api.post(f"{URL}/import", {"prompt_id": str(prompt.pk)}, format="multipart")
    assert _error(missing_file)["param"] == "file"
    assert not GoldenExample.objects.exists()


def test_import_larger_than_the_body_limit_is_a_413(api, prompt, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1024
    body = '{"input_data": {"input": "x"}, "expected_output": "y"}\n' * 40
    error = _error(
        api.post(f"{URL}/import?prompt_id={prompt.pk}", data=body, content_type="application/x-ndjson"), status=413
    )
    assert "1024 bytes" in error["message"]
    upload = SimpleUploadedFile("g.jsonl", body.encode())
    response = api.post(f"{URL}/import", {"prompt_id": str(prompt.pk), "file": upload}, format="multipart")
    assert _error(response, status=413)["type"] == "payload_too_large"
    assert not GoldenExample.objects.exists()


def test_import_of_more_than_10000_rows_is_a_400_naming_the_cap(api, prompt):
    line = '{"input_data": {"input": "x"}, "expected_output": "y"}\n'
    error = _error(
        api.post(f"{URL}/import?prompt_id={prompt.pk}", data=line * 10_001, content_type="application/x-ndjson")
    )
    assert error["code"] == "too_many_rows"
    assert "more than 10000 golden examples" in error["message"]
    assert not GoldenExample.objects.exists()


# --- Export ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("file_format", ["jsonl", "csv"])
def test_export_then_import_round_trips(api, project, prompt, file_format):
    GoldenExampleFactory(prompt=prompt, input_data={"input": "I love this!"}, expected_output="positive", tags=["a"])
    GoldenExampleFactory(
        prompt=prompt,
        input_data={"input": 'comma, "quote"\nnewline', "n": 3},
        expected_output="multi\nline",
        split="test",
    )
    GoldenExampleFactory(prompt=make_prompt(project), expected_output="other prompt")

    response = api.get(f"{URL}/export?prompt={prompt.pk}&format={file_format}")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/x-ndjson" if file_format == "jsonl" else "text/csv")
    assert response["Content-Disposition"] == f'attachment; filename="{prompt.name}-goldens.{file_format}"'
    exported = _body(response)
    assert "other prompt" not in exported

    copy = make_prompt(project)
    content_type = "application/x-ndjson" if file_format == "jsonl" else "text/csv"
    imported = api.post(f"{URL}/import?prompt_id={copy.pk}", data=exported, content_type=content_type)
    assert imported.json() == {"created": 2}

    def contents(p):
        return sorted(
            (json.dumps(g.input_data, sort_keys=True), g.expected_output, g.tags, g.split)
            for g in GoldenExample.objects.filter(prompt=p)
        )

    assert contents(copy) == contents(prompt)


def test_csv_export_neutralises_formulas_and_imports_back_unchanged(api, project, prompt):
    texts = ['=HYPERLINK("http://evil","x")', "+1", "-1", "@SUM(A1)", "\t=1", "\r=1", "'=1", "'tis"]
    for text in texts:
        GoldenExampleFactory(prompt=prompt, input_data={"input": text}, expected_output=text, tags=["=t", "u"])

    exported = _body(api.get(f"{URL}/export?prompt={prompt.pk}&format=csv"))

    cells = [cell for row in csv.reader(io.StringIO(exported, newline="")) for cell in row]
    assert not any(cell.startswith(("=", "+", "-", "@", "\t", "\r")) for cell in cells)
    assert {"'" + text for text in texts if text != "'tis"} | {"'tis", "'=t|u"} <= set(cells)
    copy = make_prompt(project)
    imported = api.post(f"{URL}/import?prompt_id={copy.pk}", data=exported, content_type="text/csv")
    assert imported.json() == {"created": len(texts)}
    rows = GoldenExample.objects.filter(prompt=copy).values_list("input_data", "expected_output", "tags")
    assert sorted(rows, key=lambda row: row[1]) == [({"input": text}, text, ["=t", "u"]) for text in sorted(texts)]


def test_export_defaults_to_jsonl_and_filters_by_split(api, prompt):
    GoldenExampleFactory(prompt=prompt, split="test", expected_output="kept")
    GoldenExampleFactory(prompt=prompt, split="train", expected_output="dropped")
    lines = _body(api.get(f"{URL}/export?prompt={prompt.pk}&split=test")).splitlines()
    assert [json.loads(line)["expected_output"] for line in lines] == ["kept"]


def test_export_needs_a_prompt_and_a_known_format(api, prompt):
    assert _error(api.get(f"{URL}/export"))["param"] == "prompt"
    assert _error(api.get(f"{URL}/export?prompt={prompt.pk}&format=xlsx"))["param"] == "format"
    # Asking for CSV in Accept does not turn errors into a 406.
    assert _error(api.get(f"{URL}/export", HTTP_ACCEPT="text/csv"))["param"] == "prompt"
