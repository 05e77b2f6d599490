"""The envelope's error types are declared once (llmops.core.errors.ERROR_TYPES): the exception
handler's statuses, the type of a DRF error and the OpenAPI document all come from that table."""

from __future__ import annotations

from rest_framework import exceptions

from llmops.core.api import errors, schema
from llmops.core.errors import ERROR_TYPES, DomainError


def _subclasses(cls: type) -> set[type]:
    found = set(cls.__subclasses__())
    for sub in list(found):
        found |= _subclasses(sub)
    return found


def test_every_domain_error_type_has_a_status_and_is_documented():
    import django.apps

    for config in django.apps.apps.get_app_configs():  # import every app's errors
        __import__(config.name)
    from runs import budgets  # noqa: F401 - BudgetExceeded

    for error_class in {DomainError, *_subclasses(DomainError)}:
        assert error_class.error_type in ERROR_TYPES, error_class
    enum = schema.ERROR_ENVELOPE["properties"]["error"]["properties"]["type"]["enum"]
    assert enum == list(ERROR_TYPES)


def test_statuses_follow_the_table():
    assert {name: error_type.status for name, error_type in ERROR_TYPES.items()} == errors.STATUS_BY_TYPE
    assert errors.STATUS_BY_TYPE["budget_exceeded"] == 402 and errors.STATUS_BY_TYPE["unavailable"] == 503
    # A DRF error is typed by its status; 402 and 500 never come from DRF.
    assert errors._TYPE_BY_STATUS[exceptions.NotAuthenticated.status_code] == "authentication_error"
    assert errors._TYPE_BY_STATUS[exceptions.Throttled.status_code] == "rate_limit"
    assert 402 not in errors._TYPE_BY_STATUS and 500 not in errors._TYPE_BY_STATUS


def test_openapi_descriptions_come_from_the_table():
    descriptions = schema._DESCRIPTIONS
    assert descriptions["402"] == ERROR_TYPES["budget_exceeded"].description
    assert descriptions["503"] == ERROR_TYPES["unavailable"].description
    assert set(schema._ERRORS) == {"400", "401", "403", "404", "405", "406", "409", "413", "415", "429"}
