"""Embeddings across families for the Model Router: OpenAI's ``/embeddings`` request, sent to Gemini
(``batchEmbedContents``) or Cohere (``/v2/embed``), and their answers rendered as OpenAI's list of embeddings.

The openai SDK asks for ``encoding_format: "base64"`` unless told otherwise (and decodes it): both formats are
rendered (base64 of little-endian float32, as OpenAI sends it). Token-id inputs cannot be translated."""
from __future__ import annotations

import base64
import struct
from dataclasses import dataclass
from typing import Any

from .neutral import Untranslatable

#: Fields of the OpenAI request that change nothing in the vectors another provider returns.
DROPPED_FIELDS = frozenset({"user"})


@dataclass
class EmbeddingRequest:
    model: str
    texts: list[str]
    dimensions: int | None = None
    encoding_format: str = "float"


def read_request(body: dict[str, Any]) -> EmbeddingRequest:
    unknown = set(body) - {"model", "input", "dimensions", "encoding_format"} - DROPPED_FIELDS
    if unknown:
        raise Untranslatable(sorted(unknown)[0], "not an embeddings field the Model Router can translate")
    texts = body.get("input")
    texts = [texts] if isinstance(texts, str) else texts
    if not isinstance(texts, list) or not texts or not all(isinstance(text, str) for text in texts):
        raise Untranslatable("input", "only text (a string or a list of strings) can go to another provider")
    dimensions = body.get("dimensions")
    if dimensions is not None and (not isinstance(dimensions, int) or isinstance(dimensions, bool)):
        raise Untranslatable("dimensions", "must be an integer")
    encoding = body.get("encoding_format") or "float"
    if encoding not in ("float", "base64"):
        raise Untranslatable("encoding_format", f"{encoding!r} is neither float nor base64")
    return EmbeddingRequest(str(body.get("model") or ""), texts, dimensions, encoding)


def gemini_request(request: EmbeddingRequest) -> tuple[str, dict[str, Any]]:
    """``(path, body)`` of Gemini's batchEmbedContents for the request."""
    extra = {"outputDimensionality": request.dimensions} if request.dimensions else {}
    return (f"v1beta/models/{request.model}:batchEmbedContents",
            {"requests": [{"model": f"models/{request.model}", "content": {"parts": [{"text": text}]}, **extra}
                          for text in request.texts]})


def cohere_request(request: EmbeddingRequest) -> tuple[str, dict[str, Any]]:
    extra = {"output_dimension": request.dimensions} if request.dimensions else {}
    return "v2/embed", {"model": request.model, "texts": request.texts, "input_type": "search_document",
                        "embedding_types": ["float"], **extra}


def _vectors(vectors: Any, count: int) -> list[list[float]]:
    if not isinstance(vectors, list) or len(vectors) != count or not all(
            isinstance(v, list) and all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in v)
            for v in vectors):
        raise ValueError("the upstream's embeddings are not one list of numbers per input")
    return vectors


def gemini_vectors(data: dict[str, Any], count: int) -> tuple[list[list[float]], int | None]:
    return _vectors([item.get("values") for item in data.get("embeddings") or []], count), None


def cohere_vectors(data: dict[str, Any], count: int) -> tuple[list[list[float]], int | None]:
    tokens = ((data.get("meta") or {}).get("billed_units") or {}).get("input_tokens")
    return _vectors((data.get("embeddings") or {}).get("float"), count), tokens if isinstance(tokens, int) else None


def render(request: EmbeddingRequest, vectors: list[list[float]], tokens: int | None) -> dict[str, Any]:
    """OpenAI's answer: one ``embedding`` per input, floats or base64 as asked."""
    def encoded(vector: list[float]) -> Any:
        if request.encoding_format == "base64":
            return base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()
        return vector
    return {"object": "list", "model": request.model,
            "data": [{"object": "embedding", "index": i, "embedding": encoded(v)} for i, v in enumerate(vectors)],
            "usage": {"prompt_tokens": tokens or 0, "total_tokens": tokens or 0}}
