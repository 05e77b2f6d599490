"""The yardstick for the request path: one Django JSON view and nothing else, served by the same
gunicorn configuration as the platform (bench/requests.py)."""

from django.conf import settings

settings.configure(
    DEBUG=False,
    SECRET_KEY="bench-only-not-a-secret",  # noqa: S106
    ALLOWED_HOSTS=["*"],
    ROOT_URLCONF=__name__,
    MIDDLEWARE=[],
    INSTALLED_APPS=[],
)

from django.core.wsgi import get_wsgi_application  # noqa: E402
from django.http import JsonResponse  # noqa: E402
from django.urls import path  # noqa: E402


def hello(request):
    return JsonResponse(
        {"name": "bench-prompt", "version": 1, "template": "Analyze the sentiment of this text: {input}"}
    )


urlpatterns = [path("hello", hello)]
application = get_wsgi_application()
