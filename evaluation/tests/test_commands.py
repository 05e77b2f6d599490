"""goldens_import / goldens_export: the command-line face of the golden-example services."""

import csv
import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from evaluation.models import GoldenExample
from evaluation.tests.factories import GoldenExampleFactory
from prompts.tests.factories import PromptFactory, PromptVersionFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def prompt(project):
    prompt = PromptFactory(project=project, name="sentiment")
    PromptVersionFactory(prompt=prompt, template="Analyze the sentiment of this text: {input}", variables=["input"])
    return prompt


def _run(*args) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command(*args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_import_a_csv_file_with_the_format_from_its_extension(tmp_path, project, prompt):
    path = tmp_path / "goldens.csv"
    path.write_text("input,expected_output,split\nI love this!,positive,test\nawful,negative,\n", encoding="utf-8")
    out, _ = _run("goldens_import", str(path), "--project", project.slug, "--prompt", "sentiment")
    assert out.strip() == f"Imported 2 golden examples into prompt 'sentiment' of project '{project.slug}'."
    assert sorted(GoldenExample.objects.filter(prompt=prompt).values_list("expected_output", "split")) == [
        ("negative", ""),
        ("positive", "test"),
    ]


def test_import_stops_at_a_bad_row_and_writes_nothing(tmp_path, project, prompt):
    path = tmp_path / "goldens.txt"
    path.write_text(
        '{"input_data": {"input": "ok"}, "expected_output": "x"}\n{"input_data": {}, "expected_output": "y"}\n'
    )
    with pytest.raises(CommandError, match="cannot tell the format"):
        _run("goldens_import", str(path), "--project", project.slug, "--prompt", "sentiment")
    with pytest.raises(CommandError, match=r"^line 2: input_data is missing variable 'input'$"):
        _run("goldens_import", str(path), "--project", project.slug, "--prompt", "sentiment", "--format", "jsonl")
    assert not GoldenExample.objects.exists()


def test_unknown_project_prompt_or_file_are_explained(tmp_path, project, prompt):
    path = tmp_path / "g.jsonl"
    path.write_text("")
    with pytest.raises(CommandError, match="no project 'nope'"):
        _run("goldens_import", str(path), "--project", "nope", "--prompt", "sentiment")
    with pytest.raises(CommandError, match="prompt 'other' not found"):
        _run("goldens_import", str(path), "--project", project.slug, "--prompt", "other")
    with pytest.raises(CommandError, match="cannot read"):
        _run("goldens_import", str(tmp_path / "missing.jsonl"), "--project", project.slug, "--prompt", "sentiment")


def test_export_to_stdout_and_to_a_file_then_import_round_trips(tmp_path, project, prompt):
    GoldenExampleFactory(prompt=prompt, input_data={"input": "I love this!"}, expected_output="positive", tags=["a"])
    GoldenExampleFactory(prompt=prompt, input_data={"input": "meh", "n": 2}, expected_output="neutral", split="test")

    out, _ = _run("goldens_export", "--project", project.slug, "--prompt", "sentiment")
    assert [json.loads(line)["expected_output"] for line in out.splitlines()] == ["positive", "neutral"]

    path = tmp_path / "goldens.csv"
    _, err = _run("goldens_export", "--project", project.slug, "--prompt", "sentiment", "--output", str(path))
    assert "Exported 2 golden examples" in err
    assert path.read_text(encoding="utf-8").startswith("input_data,expected_output,tags,split")

    copy = PromptFactory(project=project, name="sentiment-copy")
    PromptVersionFactory(prompt=copy, template="{input}", variables=["input"])
    _run("goldens_import", str(path), "--project", project.slug, "--prompt", "sentiment-copy")
    fields = ("input_data", "expected_output", "tags", "split")
    original = sorted(map(str, GoldenExample.objects.filter(prompt=prompt).values_list(*fields)))
    assert sorted(map(str, GoldenExample.objects.filter(prompt=copy).values_list(*fields))) == original


def test_csv_export_file_neutralises_formulas_and_imports_back_unchanged(tmp_path, project, prompt):
    texts = ["=cmd|' /C calc'!A0", "+1", "-1", "@SUM(A1)", "\t=1", "\r=1", "'=1", "''+1"]
    for text in texts:
        GoldenExampleFactory(prompt=prompt, input_data={"input": text}, expected_output=text, tags=["@t"])

    path = tmp_path / "goldens.csv"
    _run("goldens_export", "--project", project.slug, "--prompt", "sentiment", "--output", str(path))

    with path.open(encoding="utf-8", newline="") as file:
        cells = [cell for row in csv.reader(file) for cell in row]
    assert not any(cell.startswith(("=", "+", "-", "@", "\t", "\r")) for cell in cells)
    assert {"'" + text for text in texts} | {"'@t"} <= set(cells)
    copy = PromptFactory(project=project, name="sentiment-copy")
    PromptVersionFactory(prompt=copy, template="{input}", variables=["input"])
    _run("goldens_import", str(path), "--project", project.slug, "--prompt", "sentiment-copy")

    def contents(p):
        rows = GoldenExample.objects.filter(prompt=p).values_list("input_data", "expected_output", "tags")
        return sorted(rows, key=lambda row: row[1])

    assert contents(copy) == contents(prompt)
    assert [row[1] for row in contents(copy)] == sorted(texts)


def test_export_of_another_projects_prompt_is_not_found(project, prompt):
    other = PromptFactory(name="private")
    with pytest.raises(CommandError, match="prompt 'private' not found"):
        _run("goldens_export", "--project", project.slug, "--prompt", other.name)
