"""Run and model endpoint routes (mounted under /api/v1/). The seed's paths stay exactly as they were."""

from django.urls import path
from rest_framework.routers import SimpleRouter

from runs.usage_views import CostLogListView, UsageView
from runs.views import ModelEndpointViewSet, RunCreateView, RunViewSet, TaskStatusView

router = SimpleRouter(trailing_slash=False)
router.register("runs", RunViewSet, basename="run")
router.register("models", ModelEndpointViewSet, basename="model-endpoint")

urlpatterns = [
    path("run", RunCreateView.as_view(), name="run-create"),
    path("task-status/<str:task_id>", TaskStatusView.as_view(), name="task-status"),
    path("cost-logs", CostLogListView.as_view(), name="cost-log-list"),
    path("usage", UsageView.as_view(), name="usage"),
    *router.urls,
]
