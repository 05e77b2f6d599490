"""Request examples of every write operation in the OpenAPI document, as a user would send them.

The ``/run`` example works as pasted on the quickstart (the demo project's ``sentiment-analysis``
prompt, whose ``production`` version runs on the project's default endpoint, the local model). Every
example is checked against its request schema and ``/run``'s is posted to a live server
(``llmops/tests/test_openapi_examples.py``).
"""

from __future__ import annotations

from typing import Any

PROMPT_ID = "0b9f3c59-3d4e-4f53-9a3c-0c2e5d0d6b41"

SENTIMENT_CHAT = {
    "kind": "chat",
    "messages": [
        {"role": "system", "content": "You label the sentiment of a text: positive, negative or neutral."},
        {"role": "user", "content": "{input}"},
    ],
    "model_settings": {"model_endpoint": "local-gemma", "parameters": {"temperature": 0, "max_tokens": 8}},
    "commit_message": "chat version with a system prompt",
}
MODEL_ENDPOINT = {
    "name": "qwen",
    "provider": "huggingface",
    "model_id": "Qwen/Qwen2.5-7B-Instruct",
    "hf_provider": "together",
    "default_parameters": {"temperature": 0.2, "max_tokens": 256},
    "input_price_per_million": "0.30",
    "output_price_per_million": "0.30",
    "timeout_seconds": 30,
    "max_concurrency": 8,
}
GOLDEN = {
    "prompt_id": PROMPT_ID,
    "input_data": {"input": "I love this!"},
    "expected_output": "positive",
    "tags": ["smoke"],
    "split": "test",
}

# (method, path) -> {media type: (summary, value)}
REQUEST_EXAMPLES: dict[tuple[str, str], dict[str, tuple[str, Any]]] = {
    ("post", "/api/v1/prompts"): {
        "application/json": (
            "A text prompt labelled production",
            {
                "name": "sentiment-analysis",
                "description": "Analyze sentiment of text",
                "template": "Analyze the sentiment of this text: {input}",
                "tags": ["support"],
                "labels": ["production"],
            },
        )
    },
    ("patch", "/api/v1/prompts/{prompt_id}"): {
        "application/json": (
            "Describe and tag the prompt",
            {"description": "Support ticket sentiment", "tags": ["support"]},
        )
    },
    ("post", "/api/v1/prompts/{prompt_id}/versions"): {
        "application/json": ("A new chat version, labelled staging", {**SENTIMENT_CHAT, "labels": ["staging"]})
    },
    ("post", "/api/v1/prompts/{prompt_id}/labels/{label}"): {
        "application/json": ("Point the label at version 2", {"version": 2, "reason": "v2 won experiment 'v1 vs v2'"})
    },
    ("post", "/api/v1/prompts/{prompt_id}/render"): {
        "application/json": ("Render production with variables", {"label": "production", "variables": {"input": "meh"}})
    },
    ("post", "/api/v1/prompts/{prompt_id}/rollback"): {
        "application/json": (
            "Move production back to its previous version",
            {"label": "production", "reason": "v3 regressed"},
        )
    },
    ("post", "/api/v1/run"): {
        "application/json": (
            "Run the production version of a prompt by name",
            {"prompt_name": "sentiment-analysis", "label": "production", "variables": {"input": "I love this!"}},
        )
    },
    ("post", "/api/v1/run-experiment"): {
        "application/json": (
            "Compare versions 1 and 2 on every golden example",
            {
                "prompt_id": PROMPT_ID,
                "experiment_name": "v1 vs v2",
                "versions": [1, 2],
                "scorers": ["exact", {"name": "contains", "params": {"case_sensitive": False}}, "hallucination"],
                "concurrency": 8,
            },
        )
    },
    ("post", "/api/v1/golden-examples"): {"application/json": ("A golden example", GOLDEN)},
    ("put", "/api/v1/golden-examples/{id}"): {"application/json": ("Replace a golden example", GOLDEN)},
    ("patch", "/api/v1/golden-examples/{id}"): {
        "application/json": ("Correct the expected output", {"expected_output": "neutral"})
    },
    ("post", "/api/v1/golden-examples/import"): {
        "application/x-ndjson": (
            "JSON Lines, one golden per line (prompt_id in the query)",
            '{"input_data": {"input": "I love this!"}, "expected_output": "positive"}\n'
            '{"input_data": {"input": "Terrible."}, "expected_output": "negative", "tags": ["smoke"]}\n',
        ),
        "text/csv": (
            "CSV with a header (prompt_id in the query)",
            "input,expected_output,tags\nI love this!,positive,smoke\nTerrible.,negative,\n",
        ),
    },
    ("post", "/api/v1/models"): {"application/json": ("A Hugging Face provider model", MODEL_ENDPOINT)},
    ("put", "/api/v1/models/{id}"): {"application/json": ("Replace a model endpoint", MODEL_ENDPOINT)},
    ("patch", "/api/v1/models/{id}"): {
        "application/json": (
            "Make it the project's default and allow more calls",
            {"is_default": True, "max_concurrency": 16},
        )
    },
    ("post", "/api/v1/api-keys"): {
        "application/json": (
            "A CI key that may read and run, with a monthly budget",
            {
                "name": "ci",
                "scopes": ["read", "run"],
                "runs_per_minute": 60,
                "budget_usd": "25.00",
                "budget_period": "monthly",
            },
        )
    },
}


def add_request_examples(result: dict, generator, request, public) -> dict:
    """Attach each example to its operation's request body."""
    for (method, path), by_media in REQUEST_EXAMPLES.items():
        operation = result.get("paths", {}).get(path, {}).get(method)
        if operation is None:
            continue
        content = operation.get("requestBody", {}).get("content", {})
        for media, (summary, value) in by_media.items():
            if media in content:
                content[media]["examples"] = {"example": {"summary": summary, "value": value}}
    return result
