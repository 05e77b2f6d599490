"""Test settings: PostgreSQL and Redis on 127.0.0.1, as in CI (``.ci/run`` starts them)."""

import os

os.environ.setdefault("DEBUG", "false")
os.environ.setdefault("SECRET_KEY", "test-secret-key-not-for-production-use-0123456789")
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/llmops")
# Parallel test processes (pytest-xdist) share one Redis: each gets its own cache database (tests
# clear it) and its own queue, or a worker of one process would run another process's tasks.
_TEST_WORKER = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
_WORKER_INDEX = int(_TEST_WORKER.removeprefix("gw") or 0) if _TEST_WORKER.startswith("gw") else 0
os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/9")
os.environ.setdefault("REDIS_CACHE_URL", f"redis://127.0.0.1:6379/{10 + _WORKER_INDEX % 6}")
os.environ.setdefault("ALLOWED_HOSTS", "testserver,localhost,127.0.0.1")
os.environ.setdefault("SECURE_SSL_REDIRECT", "false")

from llmops.settings import *  # noqa: E402,F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
DATABASES["default"]["CONN_MAX_AGE"] = 0  # noqa: F405 - worker threads must not keep test connections open
CELERY_TASK_DEFAULT_QUEUE = f"llmops-test-{_TEST_WORKER}"
