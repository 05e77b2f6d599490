"""The deployment files, checked without a Docker engine.

The compose files are parsed with PyYAML, merged and ${VAR}-substituted the way `docker compose`
does for the features they use; the Dockerfile is read instruction by instruction; the entry
point, the health check and the gunicorn config are executed with stand-ins for the programs
they start. `docker` itself is never called.
"""

from __future__ import annotations

import http.server
import os
import re
import runpy
import shutil
import socket
import subprocess
import sys
import threading
import tomllib
from collections.abc import Iterator, Mapping
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILES = ("docker-compose.yml", "docker-compose.dev.yml", "docker-compose.prod.yml")
INFRA_SERVICES = ("postgres", "redis")
APP_SERVICES = ("migrate", "web", "worker", "beat", "flower")
LONG_RUNNING = ("web", "worker", "beat", "flower")
SECRET_VARS = ("SECRET_KEY", "POSTGRES_PASSWORD", "FLOWER_BASIC_AUTH")
NEW_TARGETS = (
    "up",
    "down",
    "dev",
    "prod",
    "logs",
    "ps",
    "build",
    "db-shell",
    "redis-cli",
    "shell",
    "createsuperuser",
    "health",
    "flower",
    "bench",
)
EXISTING_TARGETS = ("help", "run", "test", "test-fast", "lint", "format", "migrate", "clean")


def load(name: str) -> dict:
    return yaml.safe_load((ROOT / name).read_text())


@pytest.fixture(scope="module")
def base() -> dict:
    return load("docker-compose.yml")


@pytest.fixture(scope="module")
def dev() -> dict:
    return load("docker-compose.dev.yml")


@pytest.fixture(scope="module")
def prod() -> dict:
    return load("docker-compose.prod.yml")


# --- a small model of compose: ${VAR} substitution and override merging ---------------------------

_REFERENCE = re.compile(r"\$(?:(?P<escaped>\$)|\{(?P<braced>[^}]*)\}|(?P<named>[A-Za-z_][A-Za-z0-9_]*))")
_BRACED = re.compile(r"^(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:-|-|:\?|\?)(?P<arg>.*))?$", re.S)


def substitute(value: str, env: Mapping[str, str], missing: set[str]) -> str:
    """Compose's interpolation for $$, $VAR, ${VAR}, ${VAR:-default}, ${VAR-default},
    ${VAR:?error} and ${VAR?error}. Required variables that are unset (or empty, with the colon)
    are added to ``missing``."""

    def replace(match: re.Match) -> str:
        if match["escaped"]:
            return "$"
        if match["named"]:
            return env.get(match["named"], "")
        parsed = _BRACED.match(match["braced"])
        assert parsed, f"unsupported substitution ${{{match['braced']}}}"
        name, op, arg = parsed["name"], parsed["op"], parsed["arg"]
        value = env.get(name)
        if op == ":-":
            return value or arg
        if op == "-":
            return arg if value is None else value
        if op in (":?", "?"):
            if value is None or (op == ":?" and value == ""):
                missing.add(name)
                return ""
            return value
        return value or ""

    return _REFERENCE.sub(replace, value)


def resolve(node, env: Mapping[str, str], missing: set[str]):
    if isinstance(node, str):
        return substitute(node, env, missing)
    if isinstance(node, list):
        return [resolve(item, env, missing) for item in node]
    if isinstance(node, dict):
        return {key: resolve(value, env, missing) for key, value in node.items()}
    return node


def merge(base: dict, override: dict) -> dict:
    """Compose override semantics for what these files use: mappings merge key by key (so an
    override replaces single environment variables), sequences and scalars are replaced, except
    ports and volumes, which add up."""
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = merge(merged[key], value)
        elif key in ("ports", "volumes") and isinstance(merged.get(key), list):
            merged[key] = merged[key] + [item for item in value if item not in merged[key]]
        else:
            merged[key] = value
    return merged


def stack(*files: dict, env: Mapping[str, str]) -> tuple[dict, set[str]]:
    """The services of the given compose files merged in order and substituted with ``env``."""
    services: dict = {}
    for config in files:
        for name, service in config["services"].items():
            services[name] = merge(services.get(name, {}), service)
    missing: set[str] = set()
    return resolve(services, env, missing), missing


def references(node) -> Iterator[str]:
    """Every ${...} reference (not $${...}) in the strings of a parsed compose file."""
    if isinstance(node, str):
        yield from re.findall(r"(?<!\$)\$\{[^}]*\}", node)
    elif isinstance(node, list):
        for item in node:
            yield from references(item)
    elif isinstance(node, dict):
        for value in node.values():
            yield from references(value)


# --- docker-compose.yml ------------------------------------------------------------------------------


def test_the_stack_has_every_service(base):
    assert set(base["services"]) == {*INFRA_SERVICES, *APP_SERVICES}
    assert base["volumes"].keys() >= {"postgres-data", "redis-data"}


def test_app_services_share_one_image_env_file_and_service_urls(base):
    anchor = base["x-app"]
    for name in APP_SERVICES:
        service = base["services"][name]
        assert service["image"] == anchor["image"], name
        assert service["build"] == {"context": "."}, name
        assert {"path": ".env", "required": False} in service["env_file"], name
        environment = service["environment"]
        assert urlsplit(environment["DATABASE_URL"]).hostname == "postgres", name
        broker, cache = urlsplit(environment["REDIS_URL"]), urlsplit(environment["REDIS_CACHE_URL"])
        assert broker.hostname == cache.hostname == "redis", name
        assert broker.path != cache.path, f"{name}: the cache must use another Redis database than the broker"
        assert service["command"] == [name], name


def test_postgres_is_checked_with_pg_isready_and_keeps_its_data_in_a_volume(base):
    postgres = base["services"]["postgres"]
    assert postgres["image"] == "postgres:16-alpine"
    assert "pg_isready" in " ".join(postgres["healthcheck"]["test"])
    assert "postgres-data:/var/lib/postgresql/data" in postgres["volumes"]
    assert postgres["environment"]["POSTGRES_PASSWORD"].startswith("${POSTGRES_PASSWORD")


def test_redis_persists_the_queue_and_never_evicts_it(base):
    redis = base["services"]["redis"]
    assert redis["image"] == "redis:7-alpine"
    command = redis["command"]
    assert command[0] == "redis-server"
    assert command[command.index("--appendonly") + 1] == "yes"
    assert command[command.index("--maxmemory-policy") + 1] == "noeviction"
    assert redis["healthcheck"]["test"] == ["CMD", "redis-cli", "ping"]
    assert "redis-data:/data" in redis["volumes"]


def test_migrate_runs_once_after_the_database_is_healthy(base):
    migrate = base["services"]["migrate"]
    assert migrate.get("restart", "no") == "no"
    assert migrate["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert migrate["depends_on"]["redis"]["condition"] == "service_healthy"


@pytest.mark.parametrize("name", ["web", "worker", "beat"])
def test_processes_start_only_after_migrations_succeeded(base, name):
    depends_on = base["services"][name]["depends_on"]
    assert depends_on["migrate"]["condition"] == "service_completed_successfully"
    assert depends_on["postgres"]["condition"] == "service_healthy"
    assert depends_on["redis"]["condition"] == "service_healthy"


def test_web_runs_several_gunicorn_workers_behind_a_healthcheck(base):
    web = base["services"]["web"]
    assert web["healthcheck"]["test"] == ["CMD", "python", "/app/docker/healthcheck.py"]
    assert web["environment"]["WEB_CONCURRENCY"] == "${WEB_CONCURRENCY:-4}"
    assert [port.rsplit(":", 1)[1] for port in web["ports"]] == ["8000"]
    resolved, _ = stack(load("docker-compose.yml"), env={})
    assert resolved["web"]["ports"] == ["127.0.0.1:8000:8000"], "published on the loopback interface by default"


def test_worker_is_checked_with_a_celery_ping_of_its_own_node(base):
    check = " ".join(base["services"]["worker"]["healthcheck"]["test"])
    assert "inspect ping" in check
    assert "celery@$$HOSTNAME" in check, "$$ keeps compose from substituting the container's HOSTNAME"


def test_flower_takes_basic_auth_from_the_environment_without_a_default(base):
    flower = base["services"]["flower"]
    assert re.fullmatch(r"\$\{FLOWER_BASIC_AUTH(:-)?\}", flower["environment"]["FLOWER_BASIC_AUTH"])
    assert [port.rsplit(":", 1)[1] for port in flower["ports"]] == ["5555"]
    assert "/healthcheck" in " ".join(flower["healthcheck"]["test"])


def test_the_base_stack_starts_without_any_variable_set(base):
    services, missing = stack(base, env={})
    assert missing == set()
    assert services["web"]["environment"]["DATABASE_URL"] == "postgres://llmops:llmops@postgres:5432/llmops"


# --- docker-compose.dev.yml ----------------------------------------------------------------------------


def test_dev_override_mounts_the_source_and_reloads(base, dev):
    assert set(dev["services"]) <= set(base["services"])
    services, missing = stack(base, dev, env={})
    assert missing == set()
    assert services["web"]["command"][:3] == ["python", "manage.py", "runserver"]
    for name in APP_SERVICES:
        assert ".:/app" in services[name]["volumes"], name
        assert services[name]["environment"]["DEBUG"] == "true", name
        assert services[name]["environment"]["LOG_LEVEL"] == "DEBUG", name


# --- docker-compose.prod.yml ---------------------------------------------------------------------------

PROD_ENV = {
    "SECRET_KEY": "k" * 50,
    "POSTGRES_PASSWORD": "pg-password-123",
    "ALLOWED_HOSTS": "llmops.example.com",
    "FLOWER_BASIC_AUTH": "ops:flower-password",
}


@pytest.mark.parametrize("name", [*INFRA_SERVICES, *APP_SERVICES])
def test_prod_limits_resources_and_rotates_logs(prod, name):
    service = prod["services"][name]
    limits = service["deploy"]["resources"]["limits"]
    assert float(limits["cpus"]) > 0
    assert re.fullmatch(r"\d+[mg]", limits["memory"])
    assert service["logging"]["driver"] == "json-file"
    assert re.fullmatch(r"\d+m", service["logging"]["options"]["max-size"])
    assert int(service["logging"]["options"]["max-file"]) >= 2


def test_prod_restarts_long_running_services_but_not_migrate(prod):
    for name in (*INFRA_SERVICES, *LONG_RUNNING):
        assert prod["services"][name]["restart"] in ("unless-stopped", "always"), name
    assert prod["services"]["migrate"].get("restart", "no") == "no"


def test_prod_secrets_have_no_default_only_a_required_marker(prod):
    secret_pattern = re.compile(r"\$\{(" + "|".join(SECRET_VARS) + r")\b")
    secret_references = [ref for ref in references(prod) if secret_pattern.match(ref)]
    assert len(secret_references) >= len(SECRET_VARS)
    for reference in secret_references:
        assert re.fullmatch(r"\$\{[A-Z_]+:\?[^}]+\}", reference), f"{reference} must be ${{VAR:?message}}"
    for name, service in prod["services"].items():
        for key, value in service.get("environment", {}).items():
            if key in SECRET_VARS:
                assert re.fullmatch(r"\$\{" + key + r":\?[^}]+\}", value), f"{name}: {key}={value!r}"


def test_no_local_default_of_a_secret_survives_the_prod_merge(base, prod):
    services = {name: merge(base["services"][name], prod["services"].get(name, {})) for name in base["services"]}
    secret_pattern = re.compile(r"\$\{(" + "|".join(SECRET_VARS) + r")\b")
    for reference in references(services):
        if secret_pattern.match(reference):
            assert re.fullmatch(r"\$\{[A-Z_]+:\?[^}]+\}", reference), f"{reference} left over from the base file"


def test_prod_refuses_to_start_without_its_secrets(base, prod):
    _, missing = stack(base, prod, env={})
    assert missing == {"SECRET_KEY", "POSTGRES_PASSWORD", "ALLOWED_HOSTS", "FLOWER_BASIC_AUTH"}
    _, missing = stack(base, prod, env={**PROD_ENV, "SECRET_KEY": ""})
    assert missing == {"SECRET_KEY"}, "an empty value counts as unset"


def test_prod_replaces_every_local_default_of_the_base_file(base, prod):
    services, missing = stack(base, prod, env=PROD_ENV)
    assert missing == set()
    for name in APP_SERVICES:
        environment = services[name]["environment"]
        assert environment["DEBUG"] == "false", name
        assert environment["SECRET_KEY"] == PROD_ENV["SECRET_KEY"], name
        assert environment["DATABASE_URL"] == "postgres://llmops:pg-password-123@postgres:5432/llmops", name
        assert environment["ALLOWED_HOSTS"] == "llmops.example.com", name
        assert environment["SECURE_SSL_REDIRECT"] == "true", name
    assert services["postgres"]["environment"]["POSTGRES_PASSWORD"] == PROD_ENV["POSTGRES_PASSWORD"]
    assert services["flower"]["environment"]["FLOWER_BASIC_AUTH"] == PROD_ENV["FLOWER_BASIC_AUTH"]
    assert "insecure" not in repr(services)


# --- Dockerfile ------------------------------------------------------------------------------------------


def dockerfile_stages() -> list[list[tuple[str, str]]]:
    """Instructions (keyword, arguments) per stage; line continuations joined, comments dropped."""
    instructions: list[tuple[str, str]] = []
    current = ""
    for raw in (ROOT / "Dockerfile").read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            current += line[:-1] + " "
            continue
        keyword, _, arguments = (current + line).partition(" ")
        instructions.append((keyword.upper(), arguments.strip()))
        current = ""
    stages: list[list[tuple[str, str]]] = []
    for keyword, arguments in instructions:
        if keyword == "FROM":
            stages.append([])
        if stages:
            stages[-1].append((keyword, arguments))
    return stages


def arguments_of(stage: list[tuple[str, str]], keyword: str) -> list[str]:
    return [arguments for found, arguments in stage if found == keyword]


def test_dockerfile_builds_in_a_builder_stage_and_runs_in_a_slim_one():
    stages = dockerfile_stages()
    assert len(stages) >= 2
    builder, final = stages[0], stages[-1]
    assert arguments_of(builder, "FROM")[0].endswith(" AS builder")
    assert re.search(r"^ARG PYTHON_IMAGE=python:3\.11-slim$", (ROOT / "Dockerfile").read_text(), re.M)
    builder_text = " ".join(arguments_of(builder, "RUN") + arguments_of(builder, "ENV"))
    assert "build-essential" in builder_text and "cmake" in builder_text
    assert 'CMAKE_ARGS="-DGGML_NATIVE=OFF"' in builder_text
    assert "/opt/venv" in builder_text
    assert any(copy.startswith("--from=builder /opt/venv") for copy in arguments_of(final, "COPY"))


def test_final_stage_has_no_compilers_and_runs_as_a_non_root_user():
    final = dockerfile_stages()[-1]
    installed = " ".join(arguments_of(final, "RUN"))
    for tool in ("build-essential", "gcc", "g++", "cmake", "clang"):
        assert not re.search(rf"(^|\s){re.escape(tool)}(\s|$)", installed), tool
    assert "libgomp1" in installed
    assert "--uid 10001" in installed
    users = arguments_of(final, "USER")
    assert users and users[-1] not in ("root", "0"), users
    assert users[-1] == "llmops"


def test_static_files_are_collected_at_build_time_without_keeping_a_secret():
    final = dockerfile_stages()[-1]
    assert any("collectstatic --noinput" in run for run in arguments_of(final, "RUN"))
    for stage in dockerfile_stages():
        for env in arguments_of(stage, "ENV"):
            assert "SECRET_KEY" not in env, "SECRET_KEY must not be stored in the image environment"


def test_image_exposes_8000_checks_health_and_starts_through_the_entry_point():
    final = dockerfile_stages()[-1]
    assert arguments_of(final, "EXPOSE") == ["8000"]
    (healthcheck,) = arguments_of(final, "HEALTHCHECK")
    assert 'CMD ["python", "/app/docker/healthcheck.py"]' in healthcheck
    script = (ROOT / "docker/healthcheck.py").read_text()
    assert "/api/v1/health?workers=false" in script and "urllib.request" in script
    assert arguments_of(final, "ENTRYPOINT") == ['["/app/docker/entrypoint.sh"]']
    assert os.access(ROOT / "docker/entrypoint.sh", os.X_OK)


def test_the_builder_installs_the_dependencies_and_the_local_and_ops_extras():
    builder = dockerfile_stages()[0]
    (snippet,) = re.findall(r"python -c '([^']*)'", " ".join(arguments_of(builder, "RUN")))
    listed = subprocess.run(
        [sys.executable, "-c", snippet], cwd=ROOT, capture_output=True, text=True, check=True, timeout=30
    ).stdout.splitlines()
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = project["optional-dependencies"]
    assert listed == project["dependencies"] + extras["local"] + extras["ops"]
    assert extras["ops"] == ["flower>=2"]


def test_dockerignore_keeps_secrets_and_local_state_out_of_the_image():
    ignored = (ROOT / ".dockerignore").read_text().splitlines()
    for entry in (".env", ".venv", ".git", "var"):
        assert entry in ignored, entry
    assert "!.env.example" in ignored


# --- .env.example ---------------------------------------------------------------------------------------


def documented_variables() -> set[str]:
    return set(re.findall(r"^#?\s*([A-Z][A-Z0-9_]*)=", (ROOT / ".env.example").read_text(), re.M))


def test_env_example_documents_every_setting():
    settings = (ROOT / "llmops/settings.py").read_text()
    read = set(re.findall(r'env_(?:str|bool|int|float|list|url|decimal)\(\s*"([A-Z][A-Z0-9_]*)"', settings))
    assert {"SECRET_KEY", "DATABASE_URL", "STATIC_ROOT"} <= read, "the settings parser found too little"
    undocumented = read - documented_variables()
    assert undocumented == set(), f"add {sorted(undocumented)} to .env.example, with the default and a comment"


def test_env_example_documents_every_compose_and_container_variable():
    used: set[str] = set()
    for name in COMPOSE_FILES:
        text = (ROOT / name).read_text()
        used |= set(re.findall(r"(?<!\$)\$\{([A-Za-z_][A-Za-z0-9_]*)", text))
        used |= set(re.findall(r"(?<!\$)\$([A-Za-z_][A-Za-z0-9_]*)", text))
    assert {"POSTGRES_PASSWORD", "FLOWER_BASIC_AUTH", "WEB_CONCURRENCY"} <= used
    entrypoint = (ROOT / "docker/entrypoint.sh").read_text()
    used |= set(re.findall(r"\$\{([A-Z][A-Z0-9_]*)", entrypoint))
    for script in ("docker/gunicorn.conf.py", "docker/healthcheck.py"):
        used |= set(re.findall(r'(?:_env_int|environ\.get)\(\s*"([A-Z][A-Z0-9_]*)"', (ROOT / script).read_text()))
    assert {"WORKER_POOL", "GUNICORN_TIMEOUT", "FORWARDED_ALLOW_IPS"} <= used
    undocumented = used - documented_variables()
    assert undocumented == set(), f"add {sorted(undocumented)} to .env.example, with the default and a comment"


# --- Makefile ---------------------------------------------------------------------------------------------


def run_make(*arguments: str) -> subprocess.CompletedProcess:
    env = {key: value for key, value in os.environ.items() if key not in ("MAKEFLAGS", "MAKELEVEL", "MFLAGS")}
    return subprocess.run(
        [shutil.which("make") or "make", "--no-print-directory", *arguments],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )


def test_make_help_lists_every_target():
    listed = {line.split()[0] for line in run_make("help").stdout.splitlines() if line.strip()}
    assert set(NEW_TARGETS) | set(EXISTING_TARGETS) <= listed
    makefile = (ROOT / "Makefile").read_text()
    for target in NEW_TARGETS:
        assert re.search(rf"^{re.escape(target)}:.*## \S", makefile, re.M), target
    assert re.search(r"^COMPOSE \?= docker compose$", makefile, re.M)


def test_make_compose_targets_use_the_right_files():
    # -n prints the commands without running them: no Docker engine is needed.
    assert run_make("-n", "up").stdout.strip() == "docker compose -f docker-compose.yml up -d"
    assert "-f docker-compose.yml -f docker-compose.dev.yml up" in run_make("-n", "dev").stdout
    assert run_make("-n", "prod").stdout.strip().splitlines() == [
        "python3 bin/check-prod-env",  # refuses example or weak secrets before anything starts
        "docker compose -f docker-compose.yml -f docker-compose.prod.yml up -d",
    ]
    assert run_make("-n", "logs", "s=worker").stdout.strip().endswith("logs -f --tail=200 worker")
    assert run_make("-n", "up", "COMPOSE=podman compose").stdout.startswith("podman compose -f docker-compose.yml")


# --- docker/entrypoint.sh ------------------------------------------------------------------------------------


@pytest.fixture
def entrypoint(tmp_path):
    """Runs the entry point with stand-ins for gunicorn, celery and python first on PATH: each
    records its arguments instead of starting anything."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    calls = tmp_path / "calls"
    for program in ("gunicorn", "celery", "python", "some-tool"):
        stand_in = bin_dir / program
        stand_in.write_text(f'#!/bin/sh\nprintf "%s\\n" {program} "$@" > "$CALLS"\n')
        stand_in.chmod(0o755)

    def run(*arguments: str, **env: str) -> tuple[subprocess.CompletedProcess, list[str] | None]:
        calls.unlink(missing_ok=True)
        completed = subprocess.run(
            [shutil.which("bash") or "/bin/bash", str(ROOT / "docker/entrypoint.sh"), *arguments],
            env={"PATH": f"{bin_dir}:/usr/bin:/bin", "CALLS": str(calls), **env},
            capture_output=True,
            text=True,
            timeout=30,
        )
        executed = calls.read_text().splitlines() if calls.exists() else None
        return completed, executed

    return run


@pytest.mark.parametrize("auth", [None, "", "no-colon"])
def test_flower_refuses_to_start_without_basic_auth(entrypoint, auth):
    env = {} if auth is None else {"FLOWER_BASIC_AUTH": auth}
    completed, executed = entrypoint("flower", **env)
    assert completed.returncode == 64
    assert "FLOWER_BASIC_AUTH" in completed.stderr
    assert executed is None, "nothing may be started"


def test_flower_starts_with_basic_auth(entrypoint):
    completed, executed = entrypoint("flower", FLOWER_BASIC_AUTH="ops:secret")
    assert completed.returncode == 0, completed.stderr
    assert executed[:4] == ["celery", "-A", "llmops", "flower"]
    assert "--basic-auth=ops:secret" in executed
    assert "--port=5555" in executed


def test_web_runs_gunicorn_with_the_configured_workers(entrypoint):
    completed, executed = entrypoint("web", WEB_CONCURRENCY="3", FORWARDED_ALLOW_IPS="10.0.0.0/8")
    assert completed.returncode == 0, completed.stderr
    assert executed[:2] == ["gunicorn", "llmops.wsgi:application"]
    assert executed[executed.index("--workers") + 1] == "3"
    assert executed[executed.index("--bind") + 1] == "0.0.0.0:8000"
    assert executed[executed.index("--access-logfile") + 1] == "-"
    assert executed[executed.index("--forwarded-allow-ips") + 1] == "10.0.0.0/8"
    assert executed[executed.index("--config") + 1] == "docker/gunicorn.conf.py"
    _, executed = entrypoint()
    assert executed[executed.index("--workers") + 1] == "4", "web with 4 workers is the default"


def test_worker_pool_and_concurrency_come_from_the_environment(entrypoint):
    completed, executed = entrypoint("worker", WORKER_CONCURRENCY="8", WORKER_POOL="threads")
    assert completed.returncode == 0, completed.stderr
    assert executed[:4] == ["celery", "-A", "llmops", "worker"]
    assert executed[executed.index("--pool") + 1] == "threads"
    assert executed[executed.index("--concurrency") + 1] == "8"
    completed, executed = entrypoint("worker", WORKER_POOL="gevent")
    assert completed.returncode == 64 and "WORKER_POOL" in completed.stderr
    assert executed is None


def test_beat_uses_the_database_scheduler_and_migrate_applies_migrations(entrypoint):
    _, executed = entrypoint("beat")
    assert executed[:4] == ["celery", "-A", "llmops", "beat"]
    assert executed[executed.index("--scheduler") + 1] == "django_celery_beat.schedulers:DatabaseScheduler"
    _, executed = entrypoint("migrate")
    assert executed == ["python", "manage.py", "migrate", "--noinput"]


def test_other_commands_are_executed_as_given(entrypoint):
    completed, executed = entrypoint("some-tool", "--flag", "two words")
    assert completed.returncode == 0, completed.stderr
    assert executed == ["some-tool", "--flag", "two words"]


# --- docker/healthcheck.py and docker/gunicorn.conf.py ---------------------------------------------------


@pytest.fixture
def fake_web():
    """An HTTP server on 127.0.0.1 that answers with ``state["status"]`` and records requests."""
    state: dict = {"status": 200, "requests": []}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            state["requests"].append((self.path, self.headers["Host"]))
            self.send_response(state["status"])
            self.end_headers()
            self.wfile.write(b"{}")

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state["port"] = server.server_address[1]
    yield state
    server.shutdown()
    server.server_close()


def run_healthcheck(port: int, allowed_hosts: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(ROOT / "docker/healthcheck.py")],
        env={"PORT": str(port), "ALLOWED_HOSTS": allowed_hosts, "PATH": os.environ.get("PATH", "")},
        capture_output=True,
        text=True,
        timeout=30,
    )


def test_healthcheck_passes_on_200_with_an_allowed_host(fake_web):
    completed = run_healthcheck(fake_web["port"], "*.internal, .llmops.example.com,other.example.com")
    assert completed.returncode == 0, completed.stdout
    assert fake_web["requests"] == [("/api/v1/health?workers=false", "llmops.example.com")]
    run_healthcheck(fake_web["port"], "*")
    assert fake_web["requests"][-1][1] == "localhost"


def test_healthcheck_fails_on_503_and_when_nothing_listens(fake_web):
    fake_web["status"] = 503
    completed = run_healthcheck(fake_web["port"], "localhost")
    assert completed.returncode == 1
    assert "503" in completed.stdout
    assert run_healthcheck(free_port(), "localhost").returncode == 1


def free_port() -> int:
    """A port on 127.0.0.1 that nothing listens on (bound a moment ago, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_gunicorn_config_reads_the_environment_and_names_bad_values(monkeypatch):
    from gunicorn.config import Config

    monkeypatch.setenv("GUNICORN_TIMEOUT", "120")
    monkeypatch.setenv("GUNICORN_THREADS", "4")
    monkeypatch.setenv("LOG_LEVEL", "DEBUG")
    namespace = runpy.run_path(str(ROOT / "docker/gunicorn.conf.py"))
    settings = {key: value for key, value in namespace.items() if not key.startswith("_") and key != "os"}
    assert settings["timeout"] == 120 and settings["threads"] == 4 and settings["loglevel"] == "debug"
    config = Config()
    for key, value in settings.items():
        config.set(key, value)  # raises on a name gunicorn does not know or a value it rejects
    assert config.timeout == 120

    monkeypatch.setenv("GUNICORN_TIMEOUT", "2m")
    with pytest.raises(SystemExit, match="GUNICORN_TIMEOUT"):
        runpy.run_path(str(ROOT / "docker/gunicorn.conf.py"))
