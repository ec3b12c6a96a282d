"""Tool names as policies compare them: one key for every spelling a model can use for the same tool.

A policy for ``run_shell`` must also catch ``Run_Shell``, `` run_shell``, ``run_<zero width space>shell``,
``ｒｕｎ＿ｓｈｅｌｌ`` (fullwidth) and ``run_ѕhell`` (Cyrillic dze): clients that look tools up leniently,
or a user who cannot tell the glyphs apart, would run the tool all the same.

The key is: NFKC (fullwidth and mathematical letters, ligatures become plain ones), every non-ASCII character
that Unicode's confusables data (UTS #39, through the ``confusable-homoglyphs`` package) says looks like ASCII
replaced by that ASCII (Cyrillic ``а`` -> ``a``, Greek ``ο`` -> ``o``, Greek ``Ι`` -> ``I``), casefolded, with
whitespace and invisible characters (zero-width spaces and joiners, bidi controls, soft hyphens, variation
selectors) removed wherever they are. ASCII is never remapped (``rn`` and ``m``, ``l`` and ``1`` stay
different names), so the key of a plain ASCII name is just its lower case. It is a comparison key, not a
display name: two names are the same tool when their keys are equal.
"""
from __future__ import annotations

import unicodedata
from functools import lru_cache

from confusable_homoglyphs import confusables

# Default_Ignorable_Code_Point characters that are not of category Cf (those are all removed): the combining
# grapheme joiner, Hangul fillers, Khmer inherent vowels, Mongolian and other variation selectors.
_IGNORABLE_RANGES = ((0x034F, 0x034F), (0x115F, 0x1160), (0x17B4, 0x17B5), (0x180B, 0x180F), (0x3164, 0x3164),
                     (0xFE00, 0xFE0F), (0xFFA0, 0xFFA0), (0xE0100, 0xE01EF))


def invisible(char: str) -> bool:
    """Whitespace, format characters (Cf) and the other default-ignorable code points."""
    if char.isspace() or unicodedata.category(char) == "Cf":
        return True
    code = ord(char)
    return any(low <= code <= high for low, high in _IGNORABLE_RANGES)


@lru_cache(maxsize=None)
def ascii_lookalike(char: str) -> str:
    """The ASCII that ``char`` looks like, or ``char`` itself.

    The data pairs each confusable character with its UTS #39 prototype, and each prototype with all its
    confusables. A prototype stands for a whole class (``l`` for ``I``, ``1``, ``|``; ``rn`` for ``m``), so
    the class's ASCII member of the same kind as ``char`` is chosen: Greek capital iota is ``I``, not ``l``.
    """
    data = confusables.confusables_data
    linked = [entry["c"] for entry in data.get(char, ())]
    members = set(linked)
    for prototype in linked:  # the prototype's own confusables are in the class too
        members.update(entry["c"] for entry in data.get(prototype, ()))
    candidates = [text for text in members if text.isascii() and text.isprintable() and not text.isspace()]
    if not candidates:
        return char
    category = unicodedata.category(char)

    def preference(text: str) -> tuple[bool, bool, bool, str]:
        return (len(text) != 1, unicodedata.category(text[0]) != category, not text[0].isalnum(), text)

    return min(candidates, key=preference)


def _lookalikes(text: str) -> str:
    return "".join(char if char.isascii() else ascii_lookalike(char) for char in text)


@lru_cache(maxsize=4096)
def normalize_tool_name(name: str) -> str:
    """The comparison key of a tool name (see the module docstring); equal keys mean the same tool."""
    text = unicodedata.normalize("NFKC", "".join(char for char in name if not invisible(char)))
    text = unicodedata.normalize("NFKC", _lookalikes(text).casefold())
    # casefolding can turn a letter into a lookalike the first pass did not see (e.g. a capital with no
    # confusable of its own); those are mapped, and cased, once more
    text = _lookalikes(text).casefold()
    return "".join(char for char in text if not invisible(char))
