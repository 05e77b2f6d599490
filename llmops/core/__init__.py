"""The shared library under every app: errors and their types, env parsing, outbound-URL rules,
ids, request context, resilience (degraded modes), logging, canonical hashing, health checks, the
metrics registry, abstract models and the API plumbing (``llmops.core.api``). It imports no app:
apps register what is theirs (metrics collectors, health components) in their ``AppConfig.ready()``.
``llmops/tests/test_dependency_direction.py`` enforces the direction."""
