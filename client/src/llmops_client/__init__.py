"""Python client of the LLMOps platform.

    from llmops_client import LLMOps

    client = LLMOps("https://llmops.example.com", api_key="llmops_...")   # or LLMOPS_URL / LLMOPS_API_KEY
    prompt = client.get_prompt("sentiment-analysis", label="production", fallback="Sentiment of: {input}")
    text = prompt.compile(input="I love it")          # rendered exactly as the server renders it
    run = client.run("sentiment-analysis", variables={"input": "I love it"}, wait=30)

Imports nothing from the server; speaks HTTP to ``/api/v1`` only.
"""

from ._http import RetryPolicy
from .cache import CacheStats
from .client import ExperimentTimeout, LLMOps, parse_scorer
from .errors import APIError, ConnectionFailed, LLMOpsError, TemplateError
from .prompt import Prompt

__all__ = [
    "APIError",
    "CacheStats",
    "ConnectionFailed",
    "ExperimentTimeout",
    "LLMOps",
    "LLMOpsError",
    "Prompt",
    "RetryPolicy",
    "TemplateError",
    "parse_scorer",
]
__version__ = "0.1.0"
