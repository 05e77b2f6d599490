from django.urls import include, path

from llmops.views import HealthView

urlpatterns = [
    path("health", HealthView.as_view(), name="health"),
    path("", include("accounts.urls")),
    path("", include("prompts.urls")),
    path("", include("runs.urls")),
    path("", include("evaluation.urls")),
    path("", include("experiments.urls")),
]
