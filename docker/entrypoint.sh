#!/usr/bin/env bash
# Container entry point: the first argument names the process to run.
#   web      gunicorn serving llmops.wsgi on :8000 (WEB_CONCURRENCY workers)
#   worker   Celery worker (WORKER_CONCURRENCY, WORKER_POOL=prefork|threads|solo)
#   beat     Celery beat with the database scheduler (run exactly one)
#   flower   Flower on :5555, refuses to start without FLOWER_BASIC_AUTH
#   migrate  apply database migrations and exit
#   manage   manage.py with the remaining arguments
# Anything else is executed as given (`docker compose run --rm web python manage.py check`).
set -euo pipefail

cd "$(dirname "$0")/.."

die() {
    echo "entrypoint: $*" >&2
    exit 64
}

role="${1:-web}"
if [[ $# -gt 0 ]]; then
    shift
fi

case "$role" in
    web)
        exec gunicorn llmops.wsgi:application \
            --config docker/gunicorn.conf.py \
            --workers "${WEB_CONCURRENCY:-4}" \
            --bind "0.0.0.0:${PORT:-8000}" \
            --access-logfile - \
            --forwarded-allow-ips "${FORWARDED_ALLOW_IPS:-127.0.0.1,::1}" \
            "$@"
        ;;
    worker)
        pool="${WORKER_POOL:-prefork}"
        case "$pool" in
            prefork | threads | solo) ;;
            *) die "WORKER_POOL=$pool is not one of prefork, threads, solo" ;;
        esac
        exec celery -A llmops worker \
            --loglevel "${LOG_LEVEL:-INFO}" \
            --concurrency "${WORKER_CONCURRENCY:-4}" \
            --pool "$pool" \
            "$@"
        ;;
    beat)
        exec celery -A llmops beat \
            --loglevel "${LOG_LEVEL:-INFO}" \
            --scheduler django_celery_beat.schedulers:DatabaseScheduler \
            "$@"
        ;;
    flower)
        if [[ -z "${FLOWER_BASIC_AUTH:-}" ]]; then
            die "FLOWER_BASIC_AUTH is not set: refusing to start Flower without authentication" \
                "(set FLOWER_BASIC_AUTH=user:password; several pairs are comma-separated)"
        fi
        if [[ "$FLOWER_BASIC_AUTH" != *:* ]]; then
            die "FLOWER_BASIC_AUTH must be user:password (several pairs comma-separated)"
        fi
        exec celery -A llmops flower \
            --address=0.0.0.0 \
            --port=5555 \
            --basic-auth="$FLOWER_BASIC_AUTH" \
            "$@"
        ;;
    migrate)
        exec python manage.py migrate --noinput "$@"
        ;;
    manage)
        exec python manage.py "$@"
        ;;
    *)
        exec "$role" "$@"
        ;;
esac
