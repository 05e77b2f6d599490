"""Settings for the processes bench/requests.py starts (gunicorn, the Celery worker): the test
settings, pointed at the benchmark's database, queue and cache prefix, which the test settings
would otherwise derive from each process's own pid."""

import os

from llmops.settings_test import *  # noqa: F403

DATABASES["default"]["NAME"] = os.environ["BENCH_DATABASE_NAME"]  # noqa: F405
CELERY_TASK_DEFAULT_QUEUE = os.environ["BENCH_QUEUE"]
CACHES["default"]["KEY_PREFIX"] = os.environ["BENCH_CACHE_PREFIX"]  # noqa: F405
