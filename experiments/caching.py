"""The response cache of experiments that opt in (``cache: true``).

A model answer is reused when everything that decides it is identical: the endpoint (model id,
base URL, provider), the merged generation parameters, the rendered prompt, and the repeat index.
The repeat index is part of the key so that a cached experiment with repeats replays as many
distinct answers as it first paid for, and its flakiness stays visible. Entries never cross projects.
"""

from __future__ import annotations

from accounts.models import Project
from experiments.models import ExperimentResult, ResponseCacheEntry
from llmops.core.hashing import canonical_hash
from prompts.models import PromptVersion
from prompts.rendering import render_version
from runs.models import ModelEndpoint, Run
from runs.services import merged_parameters


def cache_key(
    *,
    endpoint: ModelEndpoint,
    version: PromptVersion,
    variables: dict,
    parameters: dict | None,
    repeat_index: int,
) -> str:
    """SHA-256 of a canonical JSON form of the request; a render error is raised as runs would raise it."""
    rendered = render_version(version=version, variables=variables)
    material = {
        "provider": endpoint.provider,
        "hf_provider": endpoint.hf_provider,
        "model_id": endpoint.model_id,
        "base_url": endpoint.base_url,
        # As the run will send them (pg_safe included), so a key never drifts from what is sent.
        "parameters": merged_parameters(endpoint=endpoint, version=version, parameters=parameters),
        "prompt": rendered.as_text(),
        "messages": rendered.messages,
        "repeat": repeat_index,
    }
    return canonical_hash(material)


def cache_lookup(*, project: Project, key: str) -> ResponseCacheEntry | None:
    return ResponseCacheEntry.objects.filter(project=project, key=key).first()


def cache_store(*, cell: ExperimentResult, run: Run) -> None:
    """Keep a completed run's answer under the cell's key; the first answer stored for a key stays."""
    if not cell.cache_key or run.status != Run.Status.COMPLETED:
        return
    ResponseCacheEntry.objects.bulk_create(
        [
            ResponseCacheEntry(
                project_id=run.project_id,
                key=cell.cache_key,
                output=run.output,
                input_tokens=run.input_tokens,
                output_tokens=run.output_tokens,
                latency_ms=run.latency_ms,
                source_run=run,
            )
        ],
        ignore_conflicts=True,
    )


def cache_forget(*, entry: ResponseCacheEntry) -> None:
    """Drop a cached answer: the next experiment with that key asks the model again (and pays)."""
    entry.delete()
