"""Experiment routes (mounted under /api/v1/). The seed's paths stay exactly as they were."""

from django.urls import path
from rest_framework.routers import SimpleRouter

from experiments.views import ExperimentCreateView, ExperimentResultsView, ExperimentViewSet

router = SimpleRouter(trailing_slash=False)
router.register("experiments", ExperimentViewSet, basename="experiment")

urlpatterns = [
    path("run-experiment", ExperimentCreateView.as_view(), name="run-experiment"),
    path("experiment-results/<str:experiment_id>", ExperimentResultsView.as_view(), name="experiment-results"),
    *router.urls,
]
