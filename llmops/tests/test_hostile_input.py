"""Hostile JSON never reaches a 500: each case is a 400 (or 413) in the error envelope."""

import pytest
from django.test import override_settings

from llmops.core.api.parsers import HostileJSON, loads_strict

pytestmark = pytest.mark.django_db

URL = "/api/v1/api-keys"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ('{"name": "a\\u0000b"}', "NUL character"),
        ('{"name": NaN}', "NaN"),
        ('{"name": Infinity}', "Infinity"),
        ('{"name": -Infinity}', "Infinity"),
        ('{"requests_per_minute": 1e309}', "out of range"),
        ('{"requests_per_minute": 18446744073709551616}', "out of range"),
        ("[" * 5000 + "]" * 5000, "nested deeper"),
        ('{"a": ' * 40 + "1" + "}" * 40, "nested deeper"),
        ("{not json", "JSON parse error"),
        (b'{"name": "\xff"}', "not valid utf-8"),
    ],
)
def test_hostile_json_is_a_400(api, body, message):
    response = api.generic("POST", URL, body, content_type="application/json")
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["type"] == "validation_error" and error["code"] == "parse_error"
    assert message in error["message"]


def test_integer_beyond_64_bits_is_rejected_in_range_is_not():
    assert loads_strict('{"n": 9223372036854775807}') == {"n": 9223372036854775807}
    with pytest.raises(HostileJSON):
        loads_strict('{"n": 99999999999999999999}')


@override_settings(DATA_UPLOAD_MAX_MEMORY_SIZE=2048)
def test_body_over_the_cap_is_a_413_json_error(api):
    response = api.post(URL, {"name": "x" * 5000}, format="json")
    assert response.status_code == 413
    assert response.json()["error"]["type"] == "payload_too_large"
    assert "2048" in response.json()["error"]["message"]


def test_numbers_are_not_accepted_as_strings(api):
    response = api.post(URL, {"name": 123}, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["param"] == "name"
