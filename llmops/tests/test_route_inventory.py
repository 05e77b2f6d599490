"""Every API route requires a key, unless it is on a short, explicit allow-list.

Two views of the same promise: statically, every DRF view under /api/v1 authenticates with API
keys and checks scopes; dynamically, every path and method in the OpenAPI document answers 401
without a key.
"""

import re
import uuid

import pytest
from django.urls import URLPattern, URLResolver, get_resolver
from rest_framework.test import APIClient

from accounts.authentication import APIKeyAuthentication
from accounts.permissions import HasScope

PUBLIC_VIEWS = {"HealthView", "MetricsView", "SpectacularJSONAPIView", "SpectacularSwaggerView"}
PUBLIC_PATHS = {"/api/v1/health"}


def _walk(patterns, prefix=""):
    for entry in patterns:
        if isinstance(entry, URLResolver):
            yield from _walk(entry.url_patterns, prefix + str(entry.pattern))
        elif isinstance(entry, URLPattern):
            yield prefix + str(entry.pattern), entry.callback


def _api_views():
    for route, callback in _walk(get_resolver().url_patterns):
        view_class = getattr(callback, "cls", None) or getattr(callback, "view_class", None)
        if route.startswith("api/v1/") and view_class is not None:
            yield route, view_class


def test_inventory_finds_the_api():
    routes = [route for route, _ in _api_views()]
    assert len(routes) >= 5, routes


@pytest.mark.parametrize(("route", "view_class"), list(_api_views()), ids=lambda value: str(value))
def test_every_api_view_authenticates_with_keys_and_checks_scopes(route, view_class):
    if view_class.__name__ in PUBLIC_VIEWS:
        return
    assert hasattr(view_class, "authentication_classes"), f"{route}: not a DRF view"
    assert APIKeyAuthentication in view_class.authentication_classes, route
    assert any(issubclass(permission, HasScope) for permission in view_class.permission_classes), route


def _value(name: str, integers: set[str]) -> str:
    return "1" if name in integers else str(uuid.uuid4())


def _schema_operations():
    from drf_spectacular.generators import SchemaGenerator

    schema = SchemaGenerator().get_schema(request=None, public=True)
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            if method in ("get", "post", "put", "patch", "delete"):
                integers = {
                    parameter["name"]
                    for parameter in operation.get("parameters", [])
                    if parameter["in"] == "path" and parameter.get("schema", {}).get("type") == "integer"
                }
                concrete = re.sub(r"\{([^}]+)\}", lambda match, ints=integers: _value(match.group(1), ints), path)
                yield path, concrete, method


OPERATIONS = list(_schema_operations())


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("path", "concrete", "method"), OPERATIONS, ids=[f"{method} {path}" for path, _, method in OPERATIONS]
)
def test_every_documented_operation_refuses_a_request_without_key(path, concrete, method):
    response = getattr(APIClient(), method)(concrete, {}, format="json")
    if path in PUBLIC_PATHS:
        assert response.status_code != 401
        return
    assert response.status_code == 401, f"{method.upper()} {concrete}: {response.status_code}"
    assert response["WWW-Authenticate"].startswith("Bearer")
