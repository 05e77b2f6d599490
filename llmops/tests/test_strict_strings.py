"""String fields of the API take JSON strings only, through the serializers namespace of the core
(no global patch of DRF: its own CharField is left as DRF ships it)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from rest_framework import serializers as drf

from accounts.models import Project
from llmops.core.api import serializers

ROOT = Path(__file__).resolve().parents[2]
APPS = ("accounts", "prompts", "runs", "evaluation", "experiments", "llmops")


@pytest.mark.parametrize(
    ("field", "value"),
    [
        (serializers.CharField(), 0),
        (serializers.CharField(), 1.5),
        (serializers.CharField(), True),
        (serializers.SlugField(), 12),
        (serializers.EmailField(), ["a@b.c"]),
        (serializers.URLField(), {"url": "https://example.com"}),
        (serializers.RegexField(r"^\d+$"), 12),
        (serializers.ListField(child=serializers.CharField()), ["a", 1]),
    ],
)
def test_a_non_string_is_refused(field, value):
    with pytest.raises(drf.ValidationError) as raised:
        field.run_validation(value)
    detail = raised.value.detail
    first = detail[1][0] if isinstance(detail, dict) else detail[0]  # a list reports the item's index
    assert first.code == "invalid"


def test_strings_still_pass_and_drf_itself_is_not_patched():
    assert serializers.CharField().run_validation("0") == "0"
    assert serializers.SlugField().run_validation("a-b") == "a-b"
    assert drf.CharField().run_validation(0) == "0"  # DRF's own class keeps its behaviour


def test_model_serializer_fields_are_strict(db):
    class ProjectSerializer(serializers.ModelSerializer):
        class Meta:
            model = Project
            fields = ("name", "slug")

    serializer = ProjectSerializer(data={"name": 7, "slug": 8})
    assert not serializer.is_valid()
    assert {name: errors[0].code for name, errors in serializer.errors.items()} == {
        "name": "invalid",
        "slug": "invalid",
    }
    assert ProjectSerializer(data={"name": "seven", "slug": "eight"}).is_valid()


def test_api_modules_use_the_strict_namespace():
    offenders = []
    for app in APPS:
        for path in (ROOT / app).rglob("*.py"):
            relative = path.relative_to(ROOT)
            if "tests" in relative.parts or relative.parts[:2] == ("llmops", "core"):
                continue
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.ImportFrom) and (
                    node.module in ("rest_framework.serializers", "rest_framework.fields")
                    or (
                        node.module == "rest_framework"
                        and any(alias.name in ("serializers", "fields") for alias in node.names)
                    )
                ):
                    offenders.append(f"{relative}:{node.lineno}")
    assert offenders == [], "import serializers from llmops.core.api instead"
