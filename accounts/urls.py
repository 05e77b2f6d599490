from django.urls import path

from accounts.views import CurrentProjectView

urlpatterns = [
    path("project", CurrentProjectView.as_view(), name="current-project"),
]
