"""Gunicorn settings for the `web` process, from the environment.

The entry point passes --workers (WEB_CONCURRENCY), --bind, --access-logfile and
--forwarded-allow-ips (FORWARDED_ALLOW_IPS) on the command line; everything else is here.
GUNICORN_CMD_ARGS still works for anything not covered.
"""

import os


def _env_int(name: str, default: int, minimum: int = 0) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SystemExit(f"gunicorn: {name}={raw!r} is not an integer") from None
    if value < minimum:
        raise SystemExit(f"gunicorn: {name}={value} must be at least {minimum}")
    return value


# Sync workers; GUNICORN_THREADS > 1 switches to the gthread worker.
threads = _env_int("GUNICORN_THREADS", 1, minimum=1)
# The same workers, except that the requests gunicorn refuses itself (below) are answered with the
# API's JSON error envelope instead of gunicorn's HTML page.
worker_class = (
    "llmops.gunicorn_workers.JsonErrorThreadWorker" if threads > 1 else "llmops.gunicorn_workers.JsonErrorSyncWorker"
)
# Refused before Django runs, with 414 and 431 (gunicorn's defaults, stated so the README can quote
# them): a request line (method, path, query) over 4094 bytes, a header line over 8190 bytes,
# more than 100 headers. They bound the memory a request can take before the application sees it.
limit_request_line = 4094
limit_request_field_size = 8190
limit_request_fields = 100
# A request running longer than this is killed and its worker restarted. Model calls go through
# the queue, so web requests are short.
timeout = _env_int("GUNICORN_TIMEOUT", 60, minimum=1)
# Time a worker gets to finish its requests after SIGTERM (docker stop): keep it below the
# container's stop_grace_period (30 s for `web` in docker-compose.yml).
graceful_timeout = _env_int("GUNICORN_GRACEFUL_TIMEOUT", 25, minimum=1)
keepalive = _env_int("GUNICORN_KEEPALIVE", 5, minimum=0)
# Recycle each worker after this many requests (0 disables), staggered by the jitter.
max_requests = _env_int("GUNICORN_MAX_REQUESTS", 1000, minimum=0)
max_requests_jitter = _env_int("GUNICORN_MAX_REQUESTS_JITTER", 100, minimum=0)

# The heartbeat file on tmpfs: on an overlay filesystem its updates can stall and get healthy
# workers killed. Gunicorn creates it with mkstemp (unique name, mode 0600).
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") else None  # noqa: S108
# Logs go to stdout/stderr; Docker collects them.
errorlog = "-"
loglevel = os.environ.get("LOG_LEVEL", "info").lower()
