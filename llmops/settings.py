"""Settings, read from the environment (see .env.example for every variable).

Defaults are the zero-setup quickstart: SQLite and a filesystem broker under ./var. Production
and the tests use PostgreSQL and Redis through DATABASE_URL and REDIS_URL.
"""

from __future__ import annotations

import base64
import os
from datetime import timedelta
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from llmops.core.env import env_bool, env_float, env_int, env_list, env_str, env_url

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("LLMOPS_VAR_DIR", str(BASE_DIR / "var")))
QUICKSTART_ENV_FILE = VAR_DIR / "quickstart.env"


def _load_quickstart_env(path: Path) -> None:
    """The quickstart (bin/quickstart) writes DEBUG, SECRET_KEY and DATABASE_URL here, so
    `manage.py` works from the checkout without exports. The environment always wins."""
    if not path.is_file():
        return
    for line in path.read_text().splitlines():
        name, sep, value = line.partition("=")
        name = name.strip()
        if sep and name and not name.startswith("#"):
            os.environ.setdefault(name, value.strip())


_load_quickstart_env(QUICKSTART_ENV_FILE)

DEBUG = env_bool("DEBUG", False)
SECRET_KEY = env_str("SECRET_KEY")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("SECRET_KEY is required when DEBUG is off")
    SECRET_KEY = "insecure-development-key-only-for-debug-mode"  # noqa: S105 - DEBUG only
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"] if DEBUG else [])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_celery_results",
    "django_celery_beat",
    "axes",
    "llmops",
    "accounts",
    "prompts",
    "runs",
    "evaluation",
    "experiments",
]

MIDDLEWARE = [
    "llmops.core.middleware.RequestIDMiddleware",
    "prompts.middleware.RenderBudgetMiddleware",
    "llmops.core.metrics.RequestMetricsMiddleware",
    "llmops.core.middleware.BodySizeLimitMiddleware",
    "llmops.core.middleware.RateLimitHeadersMiddleware",
    # A view that fails because the database is down answers 503 with Retry-After (DRF views: the API's handler).
    "llmops.core.api.errors.UnavailableMiddleware",
    "django.middleware.security.SecurityMiddleware",
    # Before static files, sessions, auth and views: a URL or header PostgreSQL cannot store is a 400.
    "llmops.core.middleware.RequestTextGuardMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, as django-axes asks: turns a locked-out login into the lockout page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "llmops.urls"
WSGI_APPLICATION = "llmops.wsgi.application"
AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = [
    "llmops.login_lockout.LoginLockoutBackend",  # first: refuses a locked-out username or address
    "django.contrib.auth.backends.ModelBackend",
]
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------------
DATABASE_URL = env_url(
    "DATABASE_URL",
    f"sqlite:///{VAR_DIR / 'llmops.sqlite3'}",
    schemes=("postgres", "postgresql", "pgsql", "sqlite"),
)
DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=env_int("DB_CONN_MAX_AGE", 60, minimum=0))}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The quickstart's web server and worker share the file: wait for each other's locks, and take the
    # write lock when a transaction begins (a deferred transaction that later writes fails at once with
    # "database is locked" when another writer holds the lock, whatever the timeout).
    DATABASES["default"].setdefault("OPTIONS", {})["timeout"] = 20
    DATABASES["default"]["OPTIONS"]["transaction_mode"] = "IMMEDIATE"
else:
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
    # One pool of connections per process, shared by its threads (psycopg_pool): a worker running 64
    # threads, or a threaded web server, holds at most DB_POOL_MAX_SIZE connections; a thread returns its
    # connection after each request or task and during model calls. A thread that waits longer than
    # DB_POOL_TIMEOUT for one gets a 503. 0: one persistent connection per thread (DB_CONN_MAX_AGE).
    DB_POOL_MAX_SIZE = env_int("DB_POOL_MAX_SIZE", 8, minimum=0)
    if DB_POOL_MAX_SIZE:
        # The pool's backend checks every checkout itself and drains dead connections without backoff.
        DATABASES["default"]["ENGINE"] = "llmops.core.postgresql"
        DATABASES["default"]["CONN_MAX_AGE"] = 0  # the pool keeps the connections
        DATABASES["default"]["CONN_HEALTH_CHECKS"] = False  # checked by the backend, see above
        DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
            "min_size": 0,
            "max_size": DB_POOL_MAX_SIZE,
            "timeout": env_float("DB_POOL_TIMEOUT", 3.0, minimum=0.1),
            "max_idle": 60.0,
        }
    # A database that does not accept the connection is a 503 after this many seconds, not a hung request.
    DATABASES["default"].setdefault("OPTIONS", {}).setdefault(
        "connect_timeout", env_int("DB_CONNECT_TIMEOUT", 5, minimum=2)
    )

# --- Redis, cache, broker ------------------------------------------------------------------------
REDIS_URL = env_url("REDIS_URL", None, schemes=("redis", "rediss", "unix"))
# The cache may live in another Redis database than the broker, so clearing it never drops queued tasks.
REDIS_CACHE_URL = env_url("REDIS_CACHE_URL", REDIS_URL, schemes=("redis", "rediss", "unix"))
# Redis is never the only copy of anything (llmops.core.resilience): when it does not answer, callers fall
# back to PostgreSQL. A call to a Redis that hangs gives up after REDIS_CACHE_TIMEOUT seconds (redis-py
# waits 5 s), and after a failure each process skips Redis for REDIS_CIRCUIT_BREAKER_SECONDS.
REDIS_CACHE_TIMEOUT = env_float("REDIS_CACHE_TIMEOUT", 0.5, minimum=0.01)
REDIS_CIRCUIT_BREAKER_SECONDS = env_float("REDIS_CIRCUIT_BREAKER_SECONDS", 5.0, minimum=0.0)
# What a 503 asks the client to wait (Retry-After) when the database or Redis does not answer.
UNAVAILABLE_RETRY_AFTER_SECONDS = env_int("UNAVAILABLE_RETRY_AFTER_SECONDS", 5, minimum=1)
if REDIS_CACHE_URL:
    CACHES = {
        "default": {
            "BACKEND": "llmops.core.redis_cache.RedisCache",  # reuses its redis-py clients
            "LOCATION": REDIS_CACHE_URL,
            "OPTIONS": {"socket_connect_timeout": REDIS_CACHE_TIMEOUT, "socket_timeout": REDIS_CACHE_TIMEOUT},
        }
    }
else:
    # Shared by the quickstart's web and worker processes, unlike a per-process memory cache.
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": str(VAR_DIR / "cache"),
        }
    }

CELERY_BROKER_URL = env_url(
    "CELERY_BROKER_URL", REDIS_URL or "filesystem://", schemes=("redis", "rediss", "amqp", "filesystem")
)
# A publication to a broker that is down or hangs fails within about this many seconds instead of
# retrying for minutes; the task is not lost: its row stays queued and the sweepers publish it again.
CELERY_BROKER_TIMEOUT = env_float("CELERY_BROKER_TIMEOUT", 1.0, minimum=0.1)
CELERY_BROKER_CONNECTION_TIMEOUT = CELERY_BROKER_TIMEOUT
CELERY_TASK_PUBLISH_RETRY_POLICY = {"max_retries": 0}
if CELERY_BROKER_URL.startswith("filesystem://"):
    _broker_dir = VAR_DIR / "broker"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "queue"),
        "data_folder_out": str(_broker_dir / "queue"),
        "processed_folder": str(_broker_dir / "processed"),
        "store_processed": False,
        "control_folder": str(_broker_dir / "control"),
    }
    # kombu's filesystem transport expects its folders to exist.
    for _folder in ("queue", "processed", "control"):
        (_broker_dir / _folder).mkdir(parents=True, exist_ok=True)
else:
    # visibility_timeout must exceed the longest task, or Redis re-delivers running tasks. The socket
    # timeouts bound a publication to a broker that hangs (kombu waits forever by default); the event
    # loop's BRPOP (1 s) is not subject to them.
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "visibility_timeout": env_int("CELERY_VISIBILITY_TIMEOUT", 3600, minimum=60),
        "socket_timeout": CELERY_BROKER_TIMEOUT,
        "socket_connect_timeout": CELERY_BROKER_TIMEOUT,
    }
CELERY_RESULT_BACKEND = "django-db"
CELERY_RESULT_EXTENDED = True
CELERY_CACHE_BACKEND = "default"
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# Celery's Django fixup closes a worker's database connections after every task unless this is set:
# reuse them for this many tasks (each lane task holds one connection for its whole run anyway).
CELERY_DB_REUSE_MAX = env_int("CELERY_DB_REUSE_MAX", 1000, minimum=0)
CELERY_TASK_TRACK_STARTED = True
CELERY_TASK_SOFT_TIME_LIMIT = env_int("CELERY_TASK_SOFT_TIME_LIMIT", 300, minimum=1)
CELERY_TASK_TIME_LIMIT = env_int("CELERY_TASK_TIME_LIMIT", 360, minimum=1)
if CELERY_TASK_TIME_LIMIT <= CELERY_TASK_SOFT_TIME_LIMIT:
    raise ImproperlyConfigured("CELERY_TASK_TIME_LIMIT must be greater than CELERY_TASK_SOFT_TIME_LIMIT")
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = "UTC"
CELERY_TASK_DEFAULT_QUEUE = env_str("CELERY_TASK_DEFAULT_QUEUE", "celery")

# --- Model providers -----------------------------------------------------------------------------
HUGGINGFACE_API_KEY = env_str("HUGGINGFACE_API_KEY")
# Hosts (or host:port) that model endpoints may reach although they are not public addresses:
# a local Ollama or vLLM, for instance. Development (DEBUG) allows localhost by default.
MODEL_BASE_URL_ALLOWLIST = env_list("MODEL_BASE_URL_ALLOWLIST", ["localhost", "127.0.0.1", "::1"] if DEBUG else [])
# Environment variables a model endpoint may name as its credential (api_key_env): NAME, or NAME@host
# to send it only to that host. Empty: endpoints store their own encrypted key (api_key).
MODEL_CREDENTIAL_ENVS = env_list("MODEL_CREDENTIAL_ENVS", [])
# Fernet keys that encrypt stored model credentials; the first encrypts, all decrypt (rotation).
# Empty: one key derived from SECRET_KEY.
CREDENTIALS_ENCRYPTION_KEYS = env_list("CREDENTIALS_ENCRYPTION_KEYS", [])
for _key in CREDENTIALS_ENCRYPTION_KEYS:
    try:
        _valid = len(base64.urlsafe_b64decode(_key.encode())) == 32
    except ValueError:
        _valid = False
    if not _valid:
        raise ImproperlyConfigured(
            "CREDENTIALS_ENCRYPTION_KEYS: each key is 32 url-safe base64-encoded bytes (make one with "
            '`python -c "from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())"`)'
        )
# Experiments are logged to Weights & Biases when WANDB_API_KEY is set (or WANDB_MODE=offline).
WANDB_PROJECT = env_str("WANDB_PROJECT", "llmops")
LOCAL_MODEL_THREADS = env_int("LOCAL_MODEL_THREADS", 2, minimum=1)

# --- Prompts: template rendering (prompts.templating) ----------------------------------------------
# Seconds of template work (parsing and rendering) one web request may spend in all: every message,
# version and golden rendered while serving it shares this budget. Each experiment cell rendered by
# a worker, and each render elsewhere, gets the same budget. Exceeding it is a 400 render_budget_exceeded.
RENDER_BUDGET_SECONDS = env_float("RENDER_BUDGET_SECONDS", 2.0, minimum=0.01)

# --- Runs: the execution engine (runs.services) ----------------------------------------------------
# Attempts per run (a request may ask for up to 10 with "max_attempts").
RUN_MAX_ATTEMPTS = env_int("RUN_MAX_ATTEMPTS", 3, minimum=1)
# Backoff before retry n is uniform in [0, min(MAX, BASE * 2**(n-1))] (full jitter); a Retry-After
# from the provider is honoured up to MAX.
RUN_RETRY_BASE_SECONDS = env_float("RUN_RETRY_BASE_SECONDS", 1.0, minimum=0.0)
RUN_RETRY_MAX_SECONDS = env_float("RUN_RETRY_MAX_SECONDS", 60.0, minimum=0.0)
# A claimed run must finish within its endpoint's timeout plus this grace, or the sweeper takes it back.
RUN_LEASE_SECONDS = env_int("RUN_LEASE_SECONDS", 60, minimum=1)
# A queued run this long past its due time (backoff, Retry-After and throttle waits included) is
# published again by the sweeper, once: its message may have died with the worker that held it.
RUN_DUE_GRACE_SECONDS = env_int("RUN_DUE_GRACE_SECONDS", 10, minimum=1)
# A run still queued after that is published again every this many seconds.
RUN_STUCK_QUEUED_SECONDS = env_int("RUN_STUCK_QUEUED_SECONDS", 300, minimum=1)
# How often celery beat runs the runs sweeper; keep it well under RUN_DUE_GRACE_SECONDS.
RUN_SWEEP_INTERVAL_SECONDS = env_int("RUN_SWEEP_INTERVAL_SECONDS", 5, minimum=1)
# How long a worker keeps retrying the write of a model's answer through a lost database connection
# (never past the run's lease) before it leaves the run to the sweeper.
RUN_RESULT_WRITE_SECONDS = env_float("RUN_RESULT_WRITE_SECONDS", 30.0, minimum=0.0)
# Cap of POST /run?wait=N.
RUN_WAIT_MAX_SECONDS = env_float("RUN_WAIT_MAX_SECONDS", 30.0, minimum=0.0)
# Output tokens assumed for a budget estimate when a run sets no max_tokens.
RUN_ESTIMATE_MAX_TOKENS = env_int("RUN_ESTIMATE_MAX_TOKENS", 1024, minimum=1)
# Installed into django-celery-beat's DatabaseScheduler at beat start-up.
CELERY_BEAT_SCHEDULE = {
    "runs-sweep": {
        "task": "runs.sweep",
        "schedule": float(RUN_SWEEP_INTERVAL_SECONDS),
        # A sweep that waited a minute behind other tasks is dropped: the ones after it do its work.
        "options": {"expires": 60},
    },
    "experiments-sweep": {"task": "experiments.sweep", "schedule": 60.0, "options": {"expires": 55}},
}
# --- end of Runs -------------------------------------------------------------------------------------

# --- Experiments (experiments.services) --------------------------------------------------------------
# Cells (goldens x versions x repeats) one experiment may have.
EXPERIMENT_MAX_CELLS = env_int("EXPERIMENT_MAX_CELLS", 5000, minimum=1)
# An experiment runs in lanes (experiments.lanes): tasks that each keep many model calls in flight on a
# thread pool. At least EXPERIMENT_LANES lanes (one per worker process uses every core), each with at most
# EXPERIMENT_LANE_CALLS calls in flight; a lane hands over to a fresh task after EXPERIMENT_LANE_SECONDS
# (well under CELERY_TASK_SOFT_TIME_LIMIT) and stops after EXPERIMENT_LANE_IDLE_SECONDS without a free slot.
EXPERIMENT_LANES = env_int("EXPERIMENT_LANES", 2, minimum=1)
EXPERIMENT_LANE_CALLS = env_int("EXPERIMENT_LANE_CALLS", 128, minimum=1)
EXPERIMENT_LANE_SECONDS = env_float("EXPERIMENT_LANE_SECONDS", 120.0, minimum=1.0)
EXPERIMENT_LANE_IDLE_SECONDS = env_float("EXPERIMENT_LANE_IDLE_SECONDS", 30.0, minimum=0.1)

# --- API -------------------------------------------------------------------------------------------
API_PAGE_SIZE = env_int("API_PAGE_SIZE", 50, minimum=1)
API_MAX_PAGE_SIZE = env_int("API_MAX_PAGE_SIZE", 200, minimum=1)
API_KEY_LAST_USED_RESOLUTION_SECONDS = 60
# A looked-up key is cached this long; revocation clears it at once, and this is the upper bound
# for a key changed behind the platform's back (e.g. by SQL).
API_KEY_CACHE_SECONDS = env_int("API_KEY_CACHE_SECONDS", 5, minimum=0)
API_DEFAULT_REQUESTS_PER_MINUTE = env_int("API_DEFAULT_REQUESTS_PER_MINUTE", 600, minimum=1)
API_DEFAULT_RUNS_PER_MINUTE = env_int("API_DEFAULT_RUNS_PER_MINUTE", 60, minimum=1)
# Prometheus scrapes /metrics with `Authorization: Bearer <METRICS_TOKEN>` and sees every project;
# an API key with the admin scope sees its own project's series only. Without either: 401.
METRICS_TOKEN = env_str("METRICS_TOKEN")
# /api/v1/health answers anyone, so it stays cheap: the worker ping (a broadcast that waits up to a
# second) is cached this long, and each client address may call it this often per minute.
HEALTH_WORKERS_CACHE_SECONDS = env_float("HEALTH_WORKERS_CACHE_SECONDS", 5.0, minimum=0)
HEALTH_REQUESTS_PER_MINUTE = env_int("HEALTH_REQUESTS_PER_MINUTE", 60, minimum=1)
# Header in which a reverse proxy of yours passes the client's address (X-Real-IP; for
# X-Forwarded-For its last entry is used), for per-address limits. Unset: the peer address. Set it
# only when clients cannot reach the web port except through that proxy, or they choose their address.
TRUSTED_CLIENT_IP_HEADER = env_str("TRUSTED_CLIENT_IP_HEADER")
RATELIMIT_USE_CACHE = "default"
RATELIMIT_ENABLE = env_bool("RATELIMIT_ENABLE", True)

# --- Console login lockout (django-axes) -----------------------------------------------------------
# Failed console logins are counted per username and per client address, each on its own: many
# guesses at one person's password (from any number of addresses) lock that username, and guesses at
# many usernames from one address lock that address. A locked username or address is refused, even
# with the right password, until AXES_COOLOFF_MINUTES pass without another failure. API keys never
# go through this: it watches only Django's password logins on the admin site.
AXES_ENABLED = env_bool("AXES_ENABLED", True)
AXES_FAILURE_LIMIT = env_int("AXES_FAILURE_LIMIT", 5, minimum=1)
AXES_COOLOFF_TIME = timedelta(minutes=env_float("AXES_COOLOFF_MINUTES", 15.0, minimum=0.1))
_AXES_PARAMETERS = {"username", "ip_address", "user_agent"}
# Comma-separated; "username+ip_address" counts that combination as one.
AXES_LOCKOUT_PARAMETERS = [
    item.split("+") if "+" in item else item for item in env_list("AXES_LOCKOUT_PARAMETERS", ["username", "ip_address"])
]
for _item in AXES_LOCKOUT_PARAMETERS:
    if not set([_item] if isinstance(_item, str) else _item) <= _AXES_PARAMETERS:
        raise ImproperlyConfigured(
            f"AXES_LOCKOUT_PARAMETERS: {_item!r} is not among {', '.join(sorted(_AXES_PARAMETERS))} "
            "(combine them with +, e.g. username+ip_address)"
        )
AXES_ONLY_ADMIN_SITE = True
# The address the per-address limit counts: the one the API's per-address limits use (TRUSTED_CLIENT_IP_HEADER).
AXES_CLIENT_IP_CALLABLE = "llmops.login_lockout.client_ip"
AXES_LOCKOUT_CALLABLE = "llmops.login_lockout.lockout_response"
# Each failure also gets a row of its own (Access failure logs), beside the per-client counters.
AXES_ENABLE_ACCESS_FAILURE_LOG = True

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["accounts.authentication.APIKeyAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["accounts.permissions.HasScope"],
    "DEFAULT_THROTTLE_CLASSES": ["accounts.throttling.APIKeyRateThrottle"],
    "DEFAULT_PAGINATION_CLASS": "llmops.core.api.pagination.LimitOffsetPagination",
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["llmops.core.api.parsers.StrictJSONParser"],
    "DEFAULT_SCHEMA_CLASS": "llmops.core.api.schema.DocumentedAutoSchema",
    "EXCEPTION_HANDLER": "llmops.core.api.errors.exception_handler",
    "UNAUTHENTICATED_USER": None,
    "DEFAULT_VERSIONING_CLASS": None,
}

SPECTACULAR_SETTINGS = {
    "TITLE": "LLMOps API",
    "DESCRIPTION": (
        "Prompt registry, model runs, golden examples and experiments. Authenticate with a project API key: "
        "`Authorization: Bearer llmops_…` or `X-API-Key: llmops_…`. Errors use one envelope: "
        '`{"error": {"type", "message", "param", "code"}, "request_id"}`; unknown body fields are a 400 '
        "naming them."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "SCHEMA_PATH_PREFIX": "/api/v1",
    "COMPONENT_SPLIT_REQUEST": True,
    # Docstrings are written for maintainers; the document's prose is in extend_schema and help texts.
    "DISABLE_DOCSTRING_DESCRIPTIONS": True,
    "SECURITY": [{"ApiKeyBearer": []}, {"ApiKeyHeader": []}],
    # Experiments and runs both have a "status" enum, with different values.
    "ENUM_NAME_OVERRIDES": {
        "ExperimentStatusEnum": "experiments.models.Experiment.Status",
        "RunStatusEnum": "runs.models.Run.Status",
    },
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "llmops.core.api.schema.add_error_responses",
        "llmops.core.api.schema.tag_operations",
        "llmops.api.examples.add_request_examples",
    ],
}

# --- Static files, i18n ----------------------------------------------------------------------------
STATIC_URL = "/static/"
STATIC_ROOT = Path(env_str("STATIC_ROOT", str(BASE_DIR / "staticfiles")))
# Compressed copies without a manifest: pages render even where collectstatic has not run (tests).
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# --- Security (production values unless DEBUG) -----------------------------------------------------
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if env_bool("TRUST_X_FORWARDED_PROTO", False) else None
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", not DEBUG)
SECURE_REDIRECT_EXEMPT = [r"^api/v1/health$"]
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", not DEBUG)
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", not DEBUG)
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0 if DEBUG else 31536000, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", not DEBUG)
# The directive only makes a domain eligible; nothing is preloaded until its operator submits it.
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", not DEBUG)
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
DATA_UPLOAD_MAX_MEMORY_SIZE = env_int("MAX_REQUEST_BODY_BYTES", 5 * 1024 * 1024, minimum=1024)

# --- Logging ---------------------------------------------------------------------------------------
LOG_LEVEL = env_str("LOG_LEVEL", "INFO").upper()
LOG_FORMAT = env_str("LOG_FORMAT", "text")
if LOG_FORMAT not in ("text", "json"):
    raise ImproperlyConfigured(f"LOG_FORMAT={LOG_FORMAT!r} must be 'text' or 'json'")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_id": {"()": "llmops.core.logging.RequestIDFilter"}},
    "formatters": {
        "text": {"format": "%(asctime)s %(levelname)s [%(request_id)s] %(name)s: %(message)s"},
        "json": {"()": "llmops.core.logging.JSONFormatter"},
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "filters": ["request_id"], "formatter": LOG_FORMAT},
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "django.db.backends": {"level": "INFO"},
        "celery": {"level": LOG_LEVEL},
    },
}
