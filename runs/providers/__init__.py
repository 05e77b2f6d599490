"""Model providers: one ``complete(CompletionRequest) -> Completion`` call per attempt.

Importing the package registers every provider; the local one loads llama-cpp-python only when used.
"""

from . import huggingface, local
from .base import Completion, CompletionRequest, Provider, ProviderError
from .huggingface import HuggingFaceProvider
from .local import LocalProvider
from .registry import UnknownProvider, get_provider, provider_kinds, register

__all__ = [
    "Completion",
    "CompletionRequest",
    "HuggingFaceProvider",
    "LocalProvider",
    "Provider",
    "ProviderError",
    "UnknownProvider",
    "get_provider",
    "huggingface",
    "local",
    "provider_kinds",
    "register",
]
