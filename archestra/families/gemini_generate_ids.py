"""Gemini's thought signatures carried through clients of other families (provider-wire-formats.md 3.2).

Gemini 3 signs each ``functionCall`` part with a ``thoughtSignature`` and rejects (400 "Function call is missing a
thought_signature") a history whose calls come back without it. A client speaking chat completions, Anthropic
Messages or Responses has nowhere to keep it except the one thing it must send back verbatim: the tool call's id.
So the id the router gives a Gemini call carries the signature:

    <base>_gts_<signature in base64url, no padding>

``base`` is Gemini's own ``functionCall.id`` when it is a plain token, else a generated ``call_<24 hex>``; it never
contains ``_gts_``, so the first ``_gts_`` of an id splits it. Only ``[A-Za-z0-9_-]`` appear, the alphabet
Anthropic's ``tool_use.id`` allows. Google's JSON parser reads ``bytes`` fields in standard or URL-safe base64,
with or without padding, so the signature written back is the same bytes Gemini gave.

Reasoning parts carry their signature in :attr:`Reasoning.signature` prefixed ``gemini:``: a signature another
provider made (Anthropic thinking, say) is never sent to Gemini, which would reject it.
"""
from __future__ import annotations

import re
import uuid

from .neutral import Untranslatable

_MARK = "_gts_"
_REASONING_MARK = "gemini:"
_STANDARD = re.compile(r"[A-Za-z0-9+/]*={0,2}")
_URL_SAFE = re.compile(r"[A-Za-z0-9_-]*={0,2}")
_PLAIN_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")


def call_id(gemini_id: object, signature: object, taken: set[str]) -> str:
    """The id a client sees for a call: Gemini's id (or a new one, unique among ``taken``) + its signature."""
    base = gemini_id if isinstance(gemini_id, str) and _PLAIN_ID.fullmatch(gemini_id) else None
    if base is None or _MARK in base or base in taken:
        base = f"call_{uuid.uuid4().hex[:24]}"
    taken.add(base)
    if signature is None:
        return base
    return f"{base}{_MARK}{_url_safe(signature)}"


def call_signature(tool_call_id: str) -> str | None:
    """The thoughtSignature (standard base64) a call id carries, or None for an id made elsewhere."""
    _, mark, encoded = tool_call_id.partition(_MARK)
    if not mark:
        return None
    if not encoded or not _URL_SAFE.fullmatch(encoded):
        raise Untranslatable("tool_call.id", "a Gemini thought signature in the id is not base64url")
    standard = encoded.rstrip("=").replace("-", "+").replace("_", "/")
    return standard + "=" * (-len(standard) % 4)


def reasoning_signature(signature: object) -> str:
    """A thought part's signature as :attr:`Reasoning.signature`."""
    return _REASONING_MARK + _checked(signature)


def own_signature(signature: str | None) -> str | None:
    """The Gemini signature of a Reasoning part, or None when it has none or another provider's."""
    if signature is None or not signature.startswith(_REASONING_MARK):
        return None
    return _checked(signature[len(_REASONING_MARK):])


def _checked(signature: object) -> str:
    if not isinstance(signature, str) or not signature or not (
            _STANDARD.fullmatch(signature) or _URL_SAFE.fullmatch(signature)):
        raise Untranslatable("thoughtSignature", "not a base64 string")
    return signature


def _url_safe(signature: object) -> str:
    return _checked(signature).rstrip("=").replace("+", "-").replace("/", "_")
