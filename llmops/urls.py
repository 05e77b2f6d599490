from django.contrib import admin
from django.http import HttpRequest, HttpResponse
from django.urls import include, path
from django.views import defaults
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularJSONAPIView, SpectacularSwaggerView

from llmops.api import errors
from llmops.views import MetricsView

admin.site.site_header = "LLMOps console"
admin.site.site_title = "LLMOps"
admin.site.index_title = "Prompts, runs and experiments"

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/v1/", include("llmops.api.urls")),
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
    return errors.server_error(request) if _is_api(request) else defaults.server_error(request)


def handler400(request: HttpRequest, exception: Exception) -> HttpResponse:
    return errors.bad_request(request, exception) if _is_api(request) else defaults.bad_request(request, exception)
