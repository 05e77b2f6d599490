"""``LLMOps``: the platform's API from Python, with a prompt cache that survives the server."""

from __future__ import annotations

import json
import os
import time
import urllib.parse
import uuid
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import httpx

from ._http import RetryPolicy, Transport
from .cache import CacheKey, CacheStats, PromptCache
from .errors import LLMOpsError
from .prompt import Prompt

FINAL_RUN_STATUSES = frozenset({"completed", "failed", "cancelled"})
ACTIVE_EXPERIMENT_STATUSES = frozenset({"pending", "running"})
API_PREFIX = "/api/v1"

Fallback = str | list[dict[str, str]] | Prompt


class ExperimentTimeout(LLMOpsError):
    """``wait_experiment`` ran out of time; the experiment goes on running on the server."""

    def __init__(self, message: str, *, experiment: dict[str, Any]) -> None:
        super().__init__(message)
        self.experiment = experiment


def api_root(base_url: str) -> str:
    """``http://host:8000`` and ``http://host:8000/api/v1`` both mean the API at ``/api/v1``."""
    root = base_url.rstrip("/")
    return root if root.endswith(API_PREFIX) else root + API_PREFIX


class LLMOps:
    """A client of one project (the project of ``api_key``).

    ``base_url`` is the platform's address (``https://llmops.example.com``, with or without ``/api/v1``);
    both default to the ``LLMOPS_URL`` and ``LLMOPS_API_KEY`` environment variables.

    Prompts are cached in this process for ``cache_ttl`` seconds (see ``get_prompt``). Every request is
    retried by ``retry`` (a ``RetryPolicy``): ``429`` and ``503`` after their ``Retry-After``, failures to
    connect, all with jittered backoff within a total deadline. ``timeout`` bounds one HTTP request.
    """

    def __init__(
        self,
        base_url: str | None = None,
        api_key: str | None = None,
        *,
        timeout: float = 10.0,
        cache_ttl: float = 60.0,
        retry: RetryPolicy | None = None,
        prompt_deadline: float = 5.0,
        revalidate_timeout: float = 2.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        base_url = base_url or os.environ.get("LLMOPS_URL")
        api_key = api_key or os.environ.get("LLMOPS_API_KEY")
        if not base_url:
            raise LLMOpsError("no server address: pass base_url or set LLMOPS_URL")
        if not api_key:
            raise LLMOpsError("no API key: pass api_key or set LLMOPS_API_KEY")
        self.retry = retry or RetryPolicy()
        self._http = Transport(
            base_url=api_root(base_url), api_key=api_key, timeout=timeout, retry=self.retry, transport=transport
        )
        # A first fetch gives up sooner than other calls: an application with a fallback must not hang.
        self._prompt_retry = RetryPolicy(
            max_attempts=self.retry.max_attempts,
            backoff=self.retry.backoff,
            max_backoff=self.retry.max_backoff,
            deadline=min(prompt_deadline, self.retry.deadline),
        )
        self._revalidate_timeout = revalidate_timeout
        self._cache = PromptCache(ttl=cache_ttl, fetch=self._fetch_prompt)

    @property
    def base_url(self) -> str:
        """The API root, e.g. ``http://127.0.0.1:8000/api/v1``."""
        return self._http.base_url

    @property
    def cache_stats(self) -> CacheStats:
        """What the prompt cache did so far (hits, 304s, background refreshes, stale answers, fallbacks)."""
        return self._cache.stats

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    def __enter__(self) -> LLMOps:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # ------------------------------------------------------------------ prompts

    def get_prompt(
        self,
        name: str,
        *,
        label: str | None = None,
        version: int | None = None,
        fallback: Fallback | None = None,
        cache: bool = True,
    ) -> Prompt:
        """The version of prompt ``name`` that ``label`` (or ``version``) points at.

        Without either: the ``production`` label, else the latest version (the server decides). Cached
        (see ``llmops_client.cache``): within ``cache_ttl`` from memory, revalidated in the background with
        the server's ``ETag`` (a ``304`` costs no body), so a label moved on the server is seen within the
        TTL; while the server is unreachable the cached version keeps being served. ``fallback`` (a template
        string, a list of chat messages or a ``Prompt``) is returned, with ``is_fallback`` set, when the
        server cannot be reached and nothing is cached. ``cache=False`` always asks the server.
        """
        if label is not None and version is not None:
            raise ValueError("pass label or version, not both")
        key: CacheKey = (name, label, version)
        backup = None
        if fallback is not None:
            backup = fallback if isinstance(fallback, Prompt) else Prompt.fallback(name, fallback)
        if not cache:
            result = self._fetch_prompt(key, None, False)
            assert result is not None
            return result[0]
        return self._cache.get(key, fallback=backup)

    def clear_cache(self) -> None:
        """Forget every cached prompt."""
        self._cache.clear()

    def _fetch_prompt(self, key: CacheKey, etag: str | None, background: bool) -> tuple[Prompt, str] | None:
        name, label, version = key
        params: dict[str, Any] = {}
        if label is not None:
            params["label"] = label
        if version is not None:
            params["version"] = version
        headers = {"If-None-Match": etag} if etag else {}
        revalidating = etag is not None and not background
        response = self._http.request(
            "GET",
            f"/prompts/by-name/{urllib.parse.quote(name, safe='/')}",
            params=params,
            headers=headers,
            ok=(304,),
            # Revalidating in the caller's thread is one quick try: on failure the stale entry is served.
            retry=RetryPolicy(max_attempts=1) if revalidating else self._prompt_retry,
            timeout=self._revalidate_timeout if revalidating else None,
        )
        if response.status_code == 304:
            return None
        return Prompt.from_api(response.json()), response.headers.get("ETag", "")

    def prompt_detail(self, prompt_id: str) -> dict[str, Any]:
        """``GET /prompts/{id}``: the prompt with its description, tags and latest version."""
        return self._http.request("GET", f"/prompts/{prompt_id}").json()

    def prompt_versions(self, prompt_id: str) -> list[int]:
        """Every version number of a prompt, oldest first."""
        numbers: list[int] = []
        offset = 0
        while True:
            page = self._http.request(
                "GET", f"/prompts/{prompt_id}/versions", params={"limit": 200, "offset": offset}
            ).json()
            numbers += [item["version"] for item in page["results"]]
            offset += len(page["results"])
            if not page.get("next") or not page["results"]:
                return sorted(numbers)

    def create_prompt(self, **fields: Any) -> dict[str, Any]:
        """``POST /prompts``: a new prompt and its version 1 (fields as in the API)."""
        return self._http.request("POST", "/prompts", json=fields).json()

    def create_version(self, prompt_id: str, **content: Any) -> tuple[dict[str, Any], bool]:
        """``POST /prompts/{id}/versions``: the version and whether it is new (identical content is not)."""
        response = self._http.request("POST", f"/prompts/{prompt_id}/versions", json=content)
        return response.json(), response.status_code == 201

    def update_prompt(self, prompt_id: str, **fields: Any) -> dict[str, Any]:
        """``PATCH /prompts/{id}``: description and tags."""
        return self._http.request("PATCH", f"/prompts/{prompt_id}", json=fields).json()

    def prompt_labels(self, prompt_id: str) -> dict[str, int]:
        """Label name -> version number."""
        body = self._http.request("GET", f"/prompts/{prompt_id}/labels", params={"limit": 200}).json()
        items = body["results"] if isinstance(body, dict) else body
        return {item["name"]: item["version"] for item in items}

    def prompt_id(self, name: str) -> str:
        """The id of the prompt named ``name`` (asks the server; ``APIError`` 404 when there is none)."""
        return str(self.get_prompt(name, label="latest", cache=False).prompt_id)

    # ------------------------------------------------------------------ runs

    def run(
        self,
        prompt_name: str | None = None,
        *,
        prompt_id: str | None = None,
        label: str | None = None,
        version: int | None = None,
        variables: Mapping[str, object] | None = None,
        model_endpoint: str | None = None,
        parameters: Mapping[str, object] | None = None,
        max_attempts: int | None = None,
        wait: float | None = None,
        idempotency_key: str | None = None,
        poll: float = 0.5,
    ) -> dict[str, Any]:
        """Run a prompt version with ``variables`` (``POST /run``) and return the run.

        With ``wait`` seconds, the server holds the request until the run finishes (up to its cap) and
        the client polls ``/runs/{id}`` for the rest, so the answer is the finished run unless ``wait``
        passed first (then ``status`` is still ``queued`` or ``running``). Every attempt carries the same
        ``Idempotency-Key`` (``idempotency_key``, else a fresh one), so a retried request never makes a
        second run, or a second bill.
        """
        body: dict[str, Any] = {"variables": dict(variables or {})}
        for field, value in (
            ("prompt_name", prompt_name),
            ("prompt_id", prompt_id),
            ("label", label),
            ("version", version),
            ("model_endpoint", model_endpoint),
            ("parameters", dict(parameters) if parameters is not None else None),
            ("max_attempts", max_attempts),
        ):
            if value is not None:
                body[field] = value
        deadline = time.monotonic() + (wait or 0)
        response = self._http.request(
            "POST",
            "/run",
            params={"wait": f"{wait:g}"} if wait else None,
            json=body,
            idempotency_key=idempotency_key or True,
        )
        run = response.json()
        if response.status_code == 200 or not wait:
            return run
        run_id = run.get("run_id") or run.get("id")
        while run.get("status") not in FINAL_RUN_STATUSES and time.monotonic() < deadline:
            time.sleep(min(poll, max(0.0, deadline - time.monotonic())))
            run = self.get_run(str(run_id))
        return run

    def get_run(self, run_id: str) -> dict[str, Any]:
        """``GET /runs/{id}``."""
        return self._http.request("GET", f"/runs/{run_id}").json()

    # ------------------------------------------------------------------ golden examples

    def import_goldens(
        self,
        prompt: str,
        source: str | bytes | os.PathLike[str],
        *,
        format: str | None = None,
    ) -> int:
        """Import golden examples from JSONL or CSV for ``prompt`` (name or id); returns how many were created.

        ``source`` is a path, or the file's content as ``str``/``bytes`` (then ``format`` is required).
        All or nothing: a bad line is an ``APIError`` naming it, and nothing is written.
        """
        if isinstance(source, os.PathLike):
            path = Path(source)
            data: bytes = path.read_bytes()
            format = format or ("csv" if path.suffix.lower() == ".csv" else "jsonl")
        else:
            data = source.encode() if isinstance(source, str) else source
        if format not in ("jsonl", "csv"):
            raise ValueError("format must be 'jsonl' or 'csv'")
        response = self._http.request(
            "POST",
            "/golden-examples/import",
            params={"prompt_id": self._prompt_ref(prompt), "format": format},
            content=data,
            headers={"Content-Type": "text/csv" if format == "csv" else "application/x-ndjson"},
        )
        return int(response.json()["created"])

    def export_goldens(
        self,
        prompt: str,
        *,
        format: str = "jsonl",
        split: str | None = None,
        tag: str | None = None,
    ) -> str:
        """The golden examples of ``prompt`` (name or id) as JSONL or CSV text, in the format the import reads."""
        params = {"prompt": self._prompt_ref(prompt), "format": format}
        params.update({key: value for key, value in (("split", split), ("tag", tag)) if value is not None})
        return self._http.request("GET", "/golden-examples/export", params=params).text

    # ------------------------------------------------------------------ experiments

    def start_experiment(
        self,
        prompt: str,
        *,
        name: str,
        versions: Iterable[int] | None = None,
        scorers: list[str | dict[str, Any]] | None = None,
        repeats: int = 1,
        concurrency: int | None = None,
        split: str | None = None,
        tags: Iterable[str] = (),
        model_endpoint: str | None = None,
        parameters: Mapping[str, object] | None = None,
        cache: bool = False,
        max_attempts: int | None = None,
        idempotency_key: str | None = None,
    ) -> dict[str, Any]:
        """``POST /run-experiment`` for ``prompt`` (name or id): ``{"experiment_id", "status", "total_cells", ...}``.

        Scorers are names or ``{"name", "threshold", "params"}`` (see ``parse_scorer`` for the command
        line's ``name:key=value`` form). Retries carry one ``Idempotency-Key``: one experiment however
        many attempts.
        """
        body: dict[str, Any] = {"prompt_id": self._prompt_ref(prompt), "experiment_name": name, "repeats": repeats}
        if versions is not None:
            body["versions"] = list(versions)
        if scorers:
            body["scorers"] = scorers
        if concurrency is not None:
            body["concurrency"] = concurrency
        goldens: dict[str, Any] = {}
        if split:
            goldens["split"] = split
        if tags:
            goldens["tags"] = list(tags)
        if goldens:
            body["goldens"] = goldens
        if model_endpoint:
            body["model_endpoint"] = model_endpoint
        if parameters:
            body["parameters"] = dict(parameters)
        if cache:
            body["cache"] = True
        if max_attempts is not None:
            body["max_attempts"] = max_attempts
        return self._http.request("POST", "/run-experiment", json=body, idempotency_key=idempotency_key or True).json()

    def get_experiment(self, experiment_id: str) -> dict[str, Any]:
        """``GET /experiments/{id}``: configuration, status and ``progress``."""
        return self._http.request("GET", f"/experiments/{experiment_id}").json()

    def wait_experiment(
        self,
        experiment_id: str,
        *,
        timeout: float = 3600.0,
        poll: float = 1.0,
        on_progress: Callable[[dict[str, Any]], None] | None = None,
    ) -> dict[str, Any]:
        """Poll until the experiment is no longer pending or running; ``on_progress`` sees each state.

        Raises ``ExperimentTimeout`` (holding the last state) when ``timeout`` passes first.
        """
        deadline = time.monotonic() + timeout
        while True:
            experiment = self.get_experiment(experiment_id)
            if on_progress is not None:
                on_progress(experiment)
            if experiment["status"] not in ACTIVE_EXPERIMENT_STATUSES:
                return experiment
            if time.monotonic() >= deadline:
                message = f"experiment {experiment_id} still {experiment['status']}"
                raise ExperimentTimeout(message, experiment=experiment)
            time.sleep(min(poll, max(0.0, deadline - time.monotonic())))

    def experiment_report(self, experiment_id: str) -> dict[str, Any]:
        """``GET /experiment-results/{id}``: the report (progress, versions, comparisons, examples)."""
        return self._http.request("GET", f"/experiment-results/{experiment_id}").json()

    def experiment_export(self, experiment_id: str, *, format: str = "json") -> str:
        """The report as the server exports it: ``json`` (sorted keys, the CLI's ``--json``), ``csv`` or ``html``."""
        return self._http.request("GET", f"/experiment-results/{experiment_id}", params={"format": format}).text

    # ------------------------------------------------------------------ helpers

    def _prompt_ref(self, prompt: str) -> str:
        """An id as it is; a name resolved to its id."""
        try:
            return str(uuid.UUID(prompt))
        except ValueError:
            return self.prompt_id(prompt)


def parse_scorer(text: str) -> dict[str, Any]:
    """``name[:key=value,...]`` as on the command line (``contains:threshold=0.5,case_sensitive=true``).

    Values are read as JSON when they are JSON; ``threshold`` becomes the spec's threshold, the rest its
    params: the same reading as the server's ``manage.py run_experiment --scorer``.
    """
    name, _, rest = text.strip().partition(":")
    params: dict[str, Any] = {}
    for pair in filter(None, (part.strip() for part in rest.split(","))):
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"scorer '{name}': '{pair}' is not key=value")
        try:
            params[key.strip()] = json.loads(value)
        except ValueError:
            params[key.strip()] = value.strip()
    threshold = params.pop("threshold", None)
    spec: dict[str, Any] = {"name": name.strip()}
    if threshold is not None:
        spec["threshold"] = threshold
    if params:
        spec["params"] = params
    return spec
