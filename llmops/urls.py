import sys

from django.contrib import admin
from django.http import HttpRequest, HttpResponse
from django.urls import include, path, re_path
from django.views import defaults
from django.views.decorators.csrf import csrf_exempt
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularJSONAPIView, SpectacularSwaggerView

from llmops.core.api import errors
from llmops.views import MetricsView

admin.site.site_header = "LLMOps console"
admin.site.site_title = "LLMOps"
admin.site.index_title = "Prompts, runs and experiments"

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/v1/", include("llmops.api.urls")),
    # Any other path under /api answers the JSON envelope itself, never Django's HTML 404 (which
    # DEBUG's technical page would be, since handler404 is not used then). Matching everything
    # also keeps APPEND_SLASH from redirecting API calls.
    re_path(r"^api(?:/|$)", csrf_exempt(errors.not_found), name="api-not-found"),
    path("metrics", MetricsView.as_view(), name="metrics"),
    path("openapi.json", SpectacularJSONAPIView.as_view(), name="openapi-schema"),
    path("docs", SpectacularSwaggerView.as_view(url_name="openapi-schema"), name="docs"),
    path("", RedirectView.as_view(url="/docs", permanent=False)),
]


def _is_api(request: HttpRequest) -> bool:
    return request.path.startswith("/api/")


def handler404(request: HttpRequest, exception: Exception) -> HttpResponse:
    return errors.not_found(request, exception) if _is_api(request) else defaults.page_not_found(request, exception)


def handler500(request: HttpRequest) -> HttpResponse:
    if _is_api(request):
        return errors.server_error(request)
    # Called while the exception is handled: a database outage is a 503 on pages too.
    return errors.unavailable_response(request, sys.exc_info()[1]) or defaults.server_error(request)


def handler400(request: HttpRequest, exception: Exception) -> HttpResponse:
    return errors.bad_request(request, exception) if _is_api(request) else defaults.bad_request(request, exception)
