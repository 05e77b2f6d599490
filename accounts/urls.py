from django.urls import path
from rest_framework.routers import SimpleRouter

from accounts.views import APIKeyViewSet, CurrentProjectView

router = SimpleRouter(trailing_slash=False)
router.register("api-keys", APIKeyViewSet, basename="api-key")

urlpatterns = [
    path("project", CurrentProjectView.as_view(), name="current-project"),
    *router.urls,
]
