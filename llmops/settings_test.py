"""Test settings: PostgreSQL and Redis on 127.0.0.1, as in CI (``.ci/run`` starts them)."""

import os

os.environ.setdefault("DEBUG", "false")
os.environ.setdefault("SECRET_KEY", "test-secret-key-not-for-production-use-0123456789")
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/llmops")
os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/9")
os.environ.setdefault("REDIS_CACHE_URL", "redis://127.0.0.1:6379/10")
os.environ.setdefault("ALLOWED_HOSTS", "testserver,localhost,127.0.0.1")
os.environ.setdefault("SECURE_SSL_REDIRECT", "false")

# Runs: fast backoff so retry tests take milliseconds; Retry-After (tested with 1 s) stays honoured.
os.environ.setdefault("RUN_RETRY_BASE_SECONDS", "0.05")
os.environ.setdefault("RUN_RETRY_MAX_SECONDS", "5")

from llmops.settings import *  # noqa: F403

# Only the suite's own fake model server, which listens on 127.0.0.1.
MODEL_BASE_URL_ALLOWLIST = ["127.0.0.1"]
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
DATABASES["default"]["CONN_MAX_AGE"] = 0  # noqa: F405 - worker threads must not keep test connections open

# Test processes running at once (pytest-xdist workers, or two checkouts) share PostgreSQL and
# Redis: each process gets its own test database, Celery queue and cache key prefix, or one
# process's worker would run another's tasks against the wrong database.
_RUN_ID = f"{os.getpid()}"
DATABASES["default"]["TEST"] = {"NAME": f"test_llmops_{_RUN_ID}"}  # noqa: F405
CELERY_TASK_DEFAULT_QUEUE = f"llmops-test-{_RUN_ID}"
CACHES["default"]["KEY_PREFIX"] = f"test-{_RUN_ID}"  # noqa: F405
