# Operations and development entry points. `make help` lists them.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
# A portable llama.cpp build: the same wheel runs on any x86_64 CPU.
export CMAKE_ARGS ?= -DGGML_NATIVE=OFF
TEST_ENV := DJANGO_SETTINGS_MODULE=llmops.settings_test

.DEFAULT_GOAL := help
.PHONY: help run test test-fast lint format migrate bench clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip

$(VENV)/.installed-run: pyproject.toml | $(VENV)/bin/python
	$(PIP) install --quiet -e '.[local]'
	@touch $@

# torch first, pinned: left to the semantic extra, pip would pull a multi-GB CUDA build.
TORCH_SPEC ?= torch==2.13.0

$(VENV)/.installed-test: pyproject.toml | $(VENV)/bin/python
	$(PIP) install --quiet '$(TORCH_SPEC)'
	$(PIP) install --quiet -e '.[local,semantic,dev]'
	@touch $@

run: $(VENV)/.installed-run ## start the platform on embedded defaults (SQLite, filesystem broker, local model)
	bin/quickstart

test: $(VENV)/.installed-test ## install test dependencies, lint, run the whole suite on PostgreSQL and Redis
	$(VENV)/bin/ruff check .
	$(TEST_ENV) $(PY) bin/ensure-database
	$(TEST_ENV) $(PY) -m pytest

test-fast: $(VENV)/.installed-test ## the suite without tests marked slow
	$(TEST_ENV) $(PY) -m pytest -m 'not slow'

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
