from django.urls import path
from rest_framework.routers import SimpleRouter

from evaluation.scorer_views import ScorerCatalogueView
from evaluation.views import GoldenExampleViewSet

# No trailing slash: the seed's path is exactly /api/v1/golden-examples.
router = SimpleRouter(trailing_slash=False)
router.register("golden-examples", GoldenExampleViewSet, basename="golden-example")

urlpatterns = [
    *router.urls,
    path("scorers", ScorerCatalogueView.as_view(), name="scorer-list"),
]
