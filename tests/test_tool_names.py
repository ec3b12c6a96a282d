"""Tool-name normalisation: every spelling a model can use for a tool gives the same comparison key."""
from __future__ import annotations

import pytest

from archestra.security.names import normalize_tool_name


@pytest.mark.parametrize("name", [
    "run_shell",
    "Run_Shell",
    "RUN_SHELL",
    " run_shell ",
    "\trun_shell\n",
    "run_\u0455hell",                  # Cyrillic dze
    "\uff52\uff55\uff4e\uff3f\uff53\uff48\uff45\uff4c\uff4c",  # fullwidth
    "r\u057dn_shell",                  # Armenian seh
    "run_sh\u0435ll",                  # Cyrillic ie
    "RUN_\u0405HELL",                  # Cyrillic capital dze
    "\U0001d42b\U0001d42e\U0001d427_shell",  # mathematical bold
    "run\u200b_shell",                 # zero-width space
    "run_\u200dshell\u2060",           # zero-width joiner, word joiner
    "\ufeffrun_shell",                 # byte order mark
    "run_shell\u00a0",                 # no-break space
    "run_shel\u00adl",                 # soft hyphen
])
def test_spellings_of_run_shell(name):
    assert normalize_tool_name(name) == "run_shell"


@pytest.mark.parametrize("name,key", [
    ("\u0399nvoke", "invoke"),          # Greek capital iota looks like I, not l
    ("n\u03bfte", "note"),              # Greek omicron
    ("\u039d\u039f\u03a4\u0395", "note"),  # Greek capitals NOTE
    ("p\u0430ypal", "paypal"),          # Cyrillic a
    ("read_\ufb01le", "read_file"),     # ligature
    ("Stra\u00dfe", "strasse"),         # casefold
])
def test_confusables_map_to_their_latin_skeleton(name, key):
    assert normalize_tool_name(name) == key


@pytest.mark.parametrize("one,other", [
    ("run_shell", "run_shell2"),
    ("mail", "rnail"),                 # ASCII is never remapped
    ("file1", "filel"),
    ("get-data", "get_data"),
    ("\u8bfb\u53d6\u6587\u4ef6", "\u5199\u5165\u6587\u4ef6"),  # names in other scripts stay distinct
])
def test_different_names_stay_different(one, other):
    assert normalize_tool_name(one) != normalize_tool_name(other)


@pytest.mark.parametrize("name", ["Run_\u0405hell", "\u0399nvoke", "\u043f\u043e\u0438\u0441\u043a", "A\u030a",
                                  "\u1e9e"])
def test_normalising_twice_changes_nothing(name):
    key = normalize_tool_name(name)
    assert normalize_tool_name(key) == key
