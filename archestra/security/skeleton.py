"""How policy conditions read a text: as written, and as a reader resolves it (its skeleton).

An operator who blocks ``to endsWith @evil.test`` means every address a mail client or a resolver sends to
``evil.test``, and every spelling a person reading the log would take for it: ``ＥＶＩＬ.test`` (fullwidth),
``evil。test`` (ideographic full stop, which IDNA maps to ``.``), ``evil.test.`` (the root's trailing dot),
``еvil.test`` (Cyrillic ``е``), ``evil%2Etest`` (a URL's percent-encoding, decoded by URL parsers before the
host is resolved), ``xn--...`` (an internationalised label in its ASCII form). The skeleton folds them all:

1. ``%XX`` sequences are decoded (up to three layers: a URL inside a URL's query);
2. ``xn--`` labels are decoded from punycode;
3. invisible characters (zero-width spaces and joiners, bidi controls, soft hyphens, variation selectors)
   are removed, the text is NFKC-normalised, and each remaining non-ASCII character is mapped as IDNA's
   UTS #46 table maps it (``。`` ``．`` ``｡`` are ``.``, ``＠`` is ``@``), then to the ASCII character
   Unicode's confusables data (UTS #39) says it looks like (see ``names.py``);
4. a final dot of a host name (a dot after ``a.b`` before the end, a ``/``, ``:``, ``?``, ``#``, a space,
   a quote or a closing bracket) is dropped;
5. the text is casefolded.

:func:`mapped` is steps 1 to 4 only (case kept where the text has it), for regular expressions, which
decide case themselves. The mapping is applied to the whole text, not only to what looks like a host: a
skeleton is only ever compared next to the text as written (see ``conditions.py``: a block condition
matches when either view matches, a trust condition only when both do), so folding more cannot lift a block
and cannot grant trust.
"""
from __future__ import annotations

import re
import unicodedata
from functools import lru_cache
from typing import Callable
from urllib.parse import unquote

import re2
from idna import uts46_remap

from .names import ascii_lookalike, invisible

_PUNYCODE_LABEL = re.compile(r"xn--([a-z0-9-]+)", re.IGNORECASE)
# The final dots of a host name (``x.label`` then dots, then the end or a delimiter): dropped. RE2 scans in
# linear time in C++; Python's re took ~30 us per kilobyte here.
_FINAL_DOTS = re2.compile(r"([A-Za-z0-9-]\.[A-Za-z0-9-]+)\.+([\s/\\:?#\"'<>)\]},;|]|$)")
_PERCENT_LAYERS = 3
_SHORT = 256  # texts up to this length (policy values, addresses, URLs) are cached, many of them
_LONG = 1 << 20  # longer texts up to this length: the last few (held in memory until replaced)
_FEW_CHANGES = 8  # up to this many distinct characters to map, str.replace each; more, one str.translate


def fold(text: str) -> str:
    """The text as written, compared without case: NFC, casefolded."""
    if text.isascii():
        return text.lower()
    return unicodedata.normalize("NFC", unicodedata.normalize("NFC", text).casefold())


def mapped(text: str) -> str:
    """Steps 1 to 4 of the skeleton: decoded, IDNA-mapped and confusable-mapped, case kept where it can be."""
    return _mapped_short(text) if len(text) <= _SHORT else _mapped(text)


def skeleton(text: str) -> str:
    """The comparison key of a text (module docstring): equal skeletons read as the same thing."""
    if len(text) <= _SHORT:
        return _skeleton_short(text)
    return _skeleton_long(text) if len(text) <= _LONG else _skeleton(text)


@lru_cache(maxsize=4096)
def _mapped_short(text: str) -> str:
    return _mapped(text)


@lru_cache(maxsize=4096)
def _skeleton_short(text: str) -> str:
    return _skeleton(text)


@lru_cache(maxsize=4)  # a long document is often read by several conditions in a row
def _skeleton_long(text: str) -> str:
    return _skeleton(text)


def _skeleton(text: str) -> str:
    text = _decoded(text)
    if not text.isascii():
        text = _map_characters(unicodedata.normalize("NFKC", text), _skeleton_character)
    return _FINAL_DOTS.sub(r"\1\2", text.lower()) if "." in text else text.lower()


def _mapped(text: str) -> str:
    text = _decoded(text)
    if not text.isascii():
        text = _map_characters(unicodedata.normalize("NFKC", text), _character)
    return _FINAL_DOTS.sub(r"\1\2", text) if "." in text else text


def _decoded(text: str) -> str:
    """``%XX`` sequences (up to three layers) and ``xn--`` labels decoded."""
    for _ in range(_PERCENT_LAYERS):
        if "%" not in text:
            break
        decoded = unquote(text, errors="replace")
        if decoded == text:
            break
        text = decoded
    if ("n--" in text or "N--" in text) and _PUNYCODE_LABEL.search(text):
        text = _PUNYCODE_LABEL.sub(_punycode, text)
    return text


def _punycode(match: re.Match[str]) -> str:
    try:
        return match.group(1).encode("ascii").decode("punycode")
    except (UnicodeError, ValueError):
        return match.group()


def _map_characters(text: str, mapping: Callable[[str], str]) -> str:
    """Each non-ASCII character of ``text`` mapped (most map to themselves: ``ü``, CJK)."""
    changes = {}
    for char in set(text):
        if ord(char) > 0x7F:
            to = mapping(char)
            if to != char:
                changes[char] = to
    if len(changes) <= _FEW_CHANGES:
        for char, to in changes.items():
            text = text.replace(char, to)
        return text
    return text.translate({ord(char): changes.get(char, char) for char in set(text)})  # no lookup misses


@lru_cache(maxsize=65536)
def _skeleton_character(char: str) -> str:
    """One non-ASCII character's skeleton: mapped, casefolded, and mapped again (casefolding can make a
    character the first mapping kept into a look-alike, e.g. a capital with no confusable of its own)."""
    text = unicodedata.normalize("NFKC", _character(char).casefold())
    return "".join(c if c.isascii() else ascii_lookalike(c) for c in text).casefold()


@lru_cache(maxsize=65536)
def _character(char: str) -> str:
    """One non-ASCII character as a resolver (UTS #46), then a reader (UTS #39) takes it."""
    if char.isspace():  # a space however written, never glued to its neighbours
        return " "
    if invisible(char):
        return ""
    try:
        idna = uts46_remap(char, std3_rules=False, transitional=False)
    except (UnicodeError, ValueError, IndexError):  # disallowed in host names: the character as it is
        idna = char
    idna = unicodedata.normalize("NFKC", idna)
    return "".join(c if c.isascii() else ascii_lookalike(c) for c in idna)
