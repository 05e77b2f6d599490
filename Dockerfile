# syntax=docker/dockerfile:1
# One image for every process of the platform; the first argument picks it (see docker/entrypoint.sh):
#   docker run IMAGE web | worker | beat | flower | migrate | manage <command> | <any command>
ARG PYTHON_IMAGE=python:3.11-slim

# --- builder: compilers, wheels, the virtualenv ---------------------------------------------------
FROM ${PYTHON_IMAGE} AS builder

# CMAKE_ARGS: a portable llama.cpp build (no -march=native), so the image runs on any x86_64 CPU.
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    CMAKE_ARGS="-DGGML_NATIVE=OFF"

RUN apt-get update \
    && apt-get install -y --no-install-recommends build-essential cmake \
    && rm -rf /var/lib/apt/lists/*

RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH

WORKDIR /src
# Dependencies only, from pyproject.toml: this layer (with the few-minute llama-cpp-python build)
# is reused until pyproject.toml changes, not on every code change.
COPY pyproject.toml ./
RUN python -c 'import tomllib; p = tomllib.load(open("pyproject.toml", "rb"))["project"]; x = p["optional-dependencies"]; print("\n".join(p["dependencies"] + x["local"] + x["ops"]))' > requirements.txt \
    && pip install --upgrade pip \
    && pip wheel --wheel-dir /wheels -r requirements.txt \
    && pip install --no-index --find-links /wheels -r requirements.txt

# --- runtime: no compilers, non-root -----------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS runtime

# libgomp1: OpenMP runtime of the llama.cpp build. psycopg[binary] bundles libpq.
RUN apt-get update \
    && apt-get install -y --no-install-recommends libgomp1 \
    && rm -rf /var/lib/apt/lists/*

RUN groupadd --gid 10001 llmops \
    && useradd --uid 10001 --gid llmops --create-home --home-dir /home/llmops --shell /usr/sbin/nologin llmops

ENV PATH=/opt/venv/bin:$PATH \
    PYTHONPATH=/app \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    DJANGO_SETTINGS_MODULE=llmops.settings

COPY --from=builder /opt/venv /opt/venv

WORKDIR /app
# The code stays owned by root: the llmops user can read it, not change it.
COPY . /app

# Static files are collected once, at build time. SECRET_KEY is only needed for settings to load:
# a build argument, set for this one command, never stored in the image's environment.
ARG COLLECTSTATIC_SECRET_KEY=collectstatic-only-not-a-runtime-secret
RUN SECRET_KEY="$COLLECTSTATIC_SECRET_KEY" python manage.py collectstatic --noinput \
    && python -m compileall -q /app \
    && mkdir -p /app/var \
    && chown llmops:llmops /app/var

USER llmops

EXPOSE 8000
# Answers for the web process; docker-compose.yml gives the other processes their own checks.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "/app/docker/healthcheck.py"]

ENTRYPOINT ["/app/docker/entrypoint.sh"]
CMD ["web"]
