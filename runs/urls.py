"""Run and model endpoint routes (mounted under /api/v1/). The seed's paths stay exactly as they were."""

from django.urls import path
from rest_framework.routers import SimpleRouter

from runs.views import ModelEndpointViewSet, RunCreateView, RunViewSet, TaskStatusView

router = SimpleRouter(trailing_slash=False)
router.register("runs", RunViewSet, basename="run")
router.register("models", ModelEndpointViewSet, basename="model-endpoint")

urlpatterns = [
    path("run", RunCreateView.as_view(), name="run-create"),
    path("task-status/<str:task_id>", TaskStatusView.as_view(), name="task-status"),
    *router.urls,
]
