"""Provider lookup by kind ("huggingface", "local", ...)."""

from __future__ import annotations

import threading
from typing import TypeVar

from .base import Provider

P = TypeVar("P", bound=type)

_classes: dict[str, type] = {}
_instances: dict[str, Provider] = {}
_lock = threading.Lock()


class UnknownProvider(KeyError):
    """No provider is registered under the requested kind."""

    def __str__(self) -> str:
        # KeyError would otherwise render the message with quotes around it.
        return str(self.args[0]) if self.args else "unknown provider"


def register(cls: P) -> P:
    """Class decorator: make ``cls`` available as ``get_provider(cls.kind)``."""
    kind = getattr(cls, "kind", None)
    if not isinstance(kind, str) or not kind:
        raise TypeError(f"{cls.__name__} needs a non-empty string class attribute 'kind'")
    with _lock:
        existing = _classes.get(kind)
        # Same dotted name is allowed so that re-importing a provider module does not fail.
        if existing is not None and _dotted(existing) != _dotted(cls):
            raise ValueError(f"provider kind {kind!r} is already registered by {_dotted(existing)}")
        _classes[kind] = cls
        _instances.pop(kind, None)
    return cls


def get_provider(kind: str) -> Provider:
    """The shared provider instance for ``kind``; providers are stateless apart from caches."""
    with _lock:
        instance = _instances.get(kind)
        if instance is None:
            cls = _classes.get(kind)
            if cls is None:
                known = ", ".join(sorted(_classes)) or "none"
                raise UnknownProvider(f"unknown model provider {kind!r} (known providers: {known})")
            instance = cls()
            _instances[kind] = instance
        return instance


def provider_kinds() -> list[str]:
    with _lock:
        return sorted(_classes)


def _dotted(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"
