"""Gemini's call ids and thought signatures carried through clients of other families (provider-wire-formats.md
3.2 and 3.3).

Gemini 3 signs each ``functionCall`` part with a ``thoughtSignature`` and rejects (400 "Function call is missing a
thought_signature") a history whose calls come back without it; it also gives each call an ``id`` that the call
and its ``functionResponse`` must carry back (400 "functionResponse.id does not match functionCall.id"). Gemini 2
gives no id, and a call it did not make must go back without one. A client speaking chat completions, Anthropic
Messages or Responses keeps one thing per call verbatim: its id. So the id the router gives a Gemini call says all
of it::

    call_<24 hex>          Gemini gave no id (a new one, unique in the answer)
    gfc-<id>               Gemini's id, when it is made of [A-Za-z0-9-]
    gfx-<hex of the id>    any other Gemini id
    ... + _gts_<sig>       the call's thoughtSignature, base64url without padding

None of the heads contains ``_gts_``, so the first ``_gts_`` of an id splits it; an id made elsewhere (``toolu_``,
``call_`` of OpenAI) goes back without id or signature. Only ``[A-Za-z0-9_-]`` appear: what Anthropic's
``tool_use.id`` allows. Google's JSON parser reads ``bytes`` fields in standard or URL-safe base64, padded or not
(google-genai itself sends URL-safe), so the signature written back is the same bytes Gemini gave.

Reasoning parts carry their signature in :attr:`Reasoning.signature` prefixed ``gemini:``: a signature another
provider made (Anthropic thinking, say) is never sent to Gemini, which would reject it.
"""
from __future__ import annotations

import re
import uuid

from .neutral import GEMINI_SIGNATURE, Untranslatable

_MARK = "_gts_"
_PLAIN, _HEX = "gfc-", "gfx-"
_REASONING_MARK = GEMINI_SIGNATURE
_PLAIN_ID = re.compile(r"[A-Za-z0-9-]+")
_HEX_ID = re.compile(r"(?:[0-9a-f]{2})+")
_STANDARD = re.compile(r"[A-Za-z0-9+/]*={0,2}")
_URL_SAFE = re.compile(r"[A-Za-z0-9_-]*={0,2}")


def call_id(gemini_id: object, signature: object, taken: set[str]) -> str:
    """The id a client sees for a call; ``taken``: the heads given so far in this answer (Gemini's ids are
    unique per answer, and so must the client's be)."""
    if gemini_id is None or gemini_id == "":
        head = f"call_{uuid.uuid4().hex[:24]}"
    elif isinstance(gemini_id, str):
        head = _PLAIN + gemini_id if _PLAIN_ID.fullmatch(gemini_id) else _HEX + gemini_id.encode().hex()
    else:
        raise Untranslatable("functionCall.id", "not a string")
    if head in taken:
        raise Untranslatable("functionCall.id", f"two calls of one answer with the id {gemini_id!r}")
    taken.add(head)
    if signature is None:
        return head
    return f"{head}{_MARK}{_checked(signature).rstrip('=').replace('+', '-').replace('/', '_')}"


def gemini_call(tool_call_id: str) -> tuple[str | None, str | None]:
    """``(Gemini's id, thoughtSignature in standard base64)`` a client's call id carries (None: it carries none)."""
    head, mark, encoded = tool_call_id.partition(_MARK)
    signature = None
    if mark:
        if not encoded or not _URL_SAFE.fullmatch(encoded):
            raise Untranslatable("tool_call.id", "a Gemini thought signature in the id is not base64url")
        standard = encoded.rstrip("=").replace("-", "+").replace("_", "/")
        signature = standard + "=" * (-len(standard) % 4)
    if head.startswith(_PLAIN) and _PLAIN_ID.fullmatch(head[len(_PLAIN):]):
        return head[len(_PLAIN):], signature
    if head.startswith(_HEX) and _HEX_ID.fullmatch(head[len(_HEX):]):
        try:
            return bytes.fromhex(head[len(_HEX):]).decode(), signature
        except UnicodeDecodeError:
            raise Untranslatable("tool_call.id", "a Gemini call id in the id is not UTF-8") from None
    return None, signature


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
