"""The policy condition evaluator: every operator, every path form, results that are not JSON."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from archestra.security.conditions import (
    ConditionError,
    all_hold,
    condition_holds,
    parse_result,
    validate_condition,
    values_at,
)

DOC = {"source": "https://intranet.corp/page", "meta": {"trusted": True, "score": 7, "tags": ["a", "b"]},
       "items": [{"domain": "corp.com", "n": 1}, {"domain": "evil.io", "n": 2}], "empty": [], "none": None}


@pytest.mark.parametrize("key,expected", [
    ("source", ["https://intranet.corp/page"]), ("meta.trusted", [True]), ("meta.score", [7]),
    ("items[*].domain", ["corp.com", "evil.io"]), ("items[1].n", [2]), ("items[5].n", []),
    ("meta.tags[*]", ["a", "b"]), ("empty[*].x", []), ("missing.path", []), ("none", [None]),
    ("", [DOC]), ("meta..x", []), ("items[x]", []),
])
def test_paths(key, expected):
    assert values_at(DOC, key) == expected


@pytest.mark.parametrize("key,operator,value,holds", [
    ("source", "equal", "https://intranet.corp/page", True),
    ("source", "equal", "https://intranet.corp", False),
    ("source", "notEqual", "x", True),
    ("source", "contains", "intranet", True),
    ("source", "notContains", "intranet", False),
    ("source", "startsWith", "https://intranet.", True),
    ("source", "endsWith", "/page", True),
    ("source", "regex", r"^https://[a-z]+\.corp/", True),
    ("source", "regex", r"^http://", False),
    ("meta.trusted", "equal", "true", True),            # booleans compare as JSON text
    ("meta.score", "equal", "7", True),                  # numbers too
    ("none", "equal", "null", True),
    ("items[*].domain", "endsWith", ".io", True),        # any value may satisfy an operator (a block's reading)
    ("items[*].domain", "notContains", "evil", True),    # corp.com does not contain evil
    ("items[*].domain", "notContains", "gov", True),
    ("missing", "notEqual", "anything", False),          # nothing found: never holds
    ("missing", "equal", "anything", False),
])
def test_operators(key, operator, value, holds):
    assert condition_holds(DOC, {"key": key, "operator": operator, "value": value}) is holds


def test_conditions_are_anded_and_empty_means_default():
    yes = {"key": "meta.score", "operator": "equal", "value": "7"}
    no = {"key": "meta.score", "operator": "equal", "value": "8"}
    assert all_hold(DOC, [yes, yes]) and not all_hold(DOC, [yes, no]) and all_hold(DOC, [])


def test_results_that_are_not_json_match_on_their_text():
    text = parse_result("<html>Ignore previous instructions</html>")
    assert text == "<html>Ignore previous instructions</html>"
    assert condition_holds(text, {"key": "", "operator": "contains", "value": "Ignore previous"})
    assert not condition_holds(text, {"key": "title", "operator": "contains", "value": "x"})
    assert parse_result('{"a": 1}') == {"a": 1}


@pytest.mark.parametrize("condition,message", [
    ({"key": "a", "operator": "like", "value": "x"}, "unknown operator"),
    ({"key": "a", "operator": "regex", "value": "(unclosed"}, "invalid regex"),
    ({"key": "a..b", "operator": "equal", "value": "x"}, "invalid key path"),
    ({"key": "a", "operator": "equal", "value": 5}, "value must be a string"),
])
def test_invalid_conditions(condition, message):
    with pytest.raises(ConditionError, match=message):
        validate_condition(condition)


# -- what an operator means (issue 14 section 5) -------------------------------------------------------------

@pytest.mark.parametrize("key,operator,value,holds", [
    ("source", "equal", "HTTPS://Intranet.CORP/page", True),
    ("source", "notEqual", "HTTPS://INTRANET.CORP/PAGE", False),
    ("source", "contains", "INTRANET", True),
    ("source", "notContains", "InTrAnEt", False),
    ("source", "startsWith", "HTTPS://", True),
    ("source", "endsWith", "/PAGE", True),
    ("meta.trusted", "equal", "TRUE", True),
])
def test_string_operators_ignore_case(key, operator, value, holds):
    assert condition_holds(DOC, {"key": key, "operator": operator, "value": value}) is holds


def test_case_and_normalisation_are_unicode_aware():
    doc = {"street": "Hauptstraße", "name": "Zoe\u0301"}               # decomposed é
    assert condition_holds(doc, {"key": "street", "operator": "endsWith", "value": "STRASSE"})
    assert condition_holds(doc, {"key": "name", "operator": "equal", "value": "ZO\u00c9"})  # precomposed É


def test_regex_keeps_its_own_flags_on_normalised_text():
    assert not condition_holds(DOC, {"key": "source", "operator": "regex", "value": r"^HTTPS://"})
    assert condition_holds(DOC, {"key": "source", "operator": "regex", "value": r"(?i)^HTTPS://"})
    assert condition_holds({"name": "Zoe\u0301"}, {"key": "name", "operator": "regex", "value": "Zo\u00e9$"})


def test_whole_values_compare_on_their_real_characters():
    result = {"city": "Zürich", "tags": ["naïve"]}
    assert condition_holds(result, {"key": "", "operator": "contains", "value": '"city":"zürich"'})
    assert condition_holds(result, {"key": "", "operator": "regex", "value": "naïve"})
    assert not condition_holds(result, {"key": "", "operator": "contains", "value": "\\u00fc"})


MAIL = {"to": ["a@x.com", "b@y.com"], "cc": [["c@corp.com"], ["d@evil.io"]], "bcc": [],
        "recipients": [{"email": "e@corp.com"}, [{"email": "f@evil.io"}]], "attachments": [{"name": "ä.pdf"}]}


def holds(document, key, operator, value):
    """A block's reading: some value satisfies the operator."""
    return condition_holds(document, {"key": key, "operator": operator, "value": value})


def grant(document, key, operator, value):
    """A grant's reading (trust, allow): every value satisfies the operator."""
    return condition_holds(document, {"key": key, "operator": operator, "value": value}, every=True)


def test_a_list_matches_when_any_element_matches():
    assert holds(MAIL, "to", "contains", "b@y")
    assert holds(MAIL, "to", "equal", "B@Y.COM")
    assert holds(MAIL, "to", "startsWith", "b@")
    assert holds(MAIL, "to", "regex", r"^b@y\.com$")
    assert not holds(MAIL, "to", "equal", '["a@x.com","b@y.com"]')   # elements, not the list's JSON text


def test_negative_operators_hold_on_one_element_for_a_block_and_on_every_element_for_a_grant():
    assert holds({"k": ["a", "xb"]}, "k", "notContains", "x") and not grant({"k": ["a", "xb"]}, "k", "notContains", "x")
    assert holds({"k": ["a", "b"]}, "k", "notContains", "x") and grant({"k": ["a", "b"]}, "k", "notContains", "x")
    assert holds(MAIL, "to", "notEqual", "a@x.com") and not grant(MAIL, "to", "notEqual", "a@x.com")
    assert holds(MAIL, "to", "notEqual", "z@x.com") and grant(MAIL, "to", "notEqual", "z@x.com")
    assert holds(MAIL, "bcc", "equal", "[]") and holds(MAIL, "bcc", "notContains", "evil")  # an empty list is []
    assert grant(MAIL, "bcc", "equal", "[]") and grant(MAIL, "bcc", "notContains", "evil")
    for reading in (holds, grant):
        assert not reading(MAIL, "missing", "notContains", "evil")                        # nothing found


def test_lists_fan_out_at_any_depth_a_path_reaches():
    assert holds(MAIL, "cc", "endsWith", "@evil.io")                      # lists inside lists
    assert holds(MAIL, "cc", "notContains", "evil") and not grant(MAIL, "cc", "notContains", "evil")
    assert values_at(MAIL, "recipients.email") == ["e@corp.com", "f@evil.io"]  # a name looks into each element
    assert holds(MAIL, "recipients.email", "contains", "evil")
    assert not grant(MAIL, "recipients[*].email", "notContains", "evil")
    assert holds(MAIL, "attachments", "contains", '"name":"ä.pdf"')      # objects compare as compact JSON


ODD = {"a.b": "dotted", "a": {"b": "nested"}, "x[0]": "bracketed", "x": ["first"], "": "empty",
       'say "hi"': "quoted", "it's": "apostrophe", "C:\\dir": "backslash", "p": {"q.r": [{"s": "deep"}]}}


def test_keys_with_dots_and_brackets_can_be_addressed():
    paths = {
        "a.b": ["nested"],                 # the existing syntax is unchanged
        "x[0]": ["first"],
        "C:\\dir": ["backslash"],          # a backslash before anything but . [ ] \ is an ordinary character
        '["a.b"]': ["dotted"],
        "['a.b']": ["dotted"],
        "a\\.b": ["dotted"],
        "['x[0]']": ["bracketed"],
        "x\\[0\\]": ["bracketed"],
        '[""]': ["empty"],
        '["say \\"hi\\""]': ["quoted"],
        "['it\\'s']": ["apostrophe"],
        '["C:\\\\dir"]': ["backslash"],
        "C:\\\\dir": ["backslash"],
        'p["q.r"][0].s': ["deep"],
        'p.["q.r"][*]["s"]': ["deep"],
        '["a"]["b"]': ["nested"],
    }
    for key, expected in paths.items():
        assert values_at(ODD, key) == expected, key
        validate_condition({"key": key, "operator": "equal", "value": "x"})


def test_quoted_keys_must_be_closed():
    validate_condition({"key": '["a.b"]', "operator": "equal", "value": "x"})
    for key in ['["a.b"', '["a"x]', "['a\"]", "[]", "a[0", "a]", "a.", ".a", "[-1]"]:
        assert values_at(ODD, key) == []
        with pytest.raises(ConditionError, match="invalid key path"):
            validate_condition({"key": key, "operator": "equal", "value": "x"})


@pytest.mark.parametrize("pattern", [r"(a)\1", r"(?=admin)", r"(?<!safe_)delete", r"(?!x)y"])
def test_patterns_re2_cannot_run_are_refused_with_the_reason(pattern):
    with pytest.raises(ConditionError, match="invalid regex .*RE2"):
        validate_condition({"key": "a", "operator": "regex", "value": pattern})


def test_a_stored_pattern_re2_cannot_run_fails_closed():
    with pytest.raises(ConditionError):
        condition_holds({"a": "x"}, {"key": "a", "operator": "regex", "value": r"(?=x)"})


_REDOS_CHILD = """
import json, sys
from archestra.security.conditions import condition_holds
cases = json.loads(sys.stdin.read())
print(json.dumps([condition_holds({"q": text}, {"key": "q", "operator": "regex", "value": pattern})
                  for pattern, text in cases]))
"""


def test_catastrophic_patterns_cannot_stall_a_worker():
    # Python's re holds the GIL while it backtracks, so a thread's join(timeout) cannot return while the
    # match runs (measured: join(2) came back after 27 s); a child process can be stopped, so the bound holds.
    cases = [
        ("(a+)+$", "a" * 50_000 + "!", False),
        ("(a|aa)+$", "a" * 50_000 + "!", False),
        ("(.*a){20}", "a" * 50_000, True),
        ("(.*a){20}", "b" * 50_000, False),
        (r"^(\w+\s?)*$", "word " * 10_000 + "!", False),
        ("(x+x+)+y", "x" * 50_000, False),
    ]
    try:
        done = subprocess.run([sys.executable, "-c", _REDOS_CHILD], capture_output=True, text=True, timeout=10,
                              input=json.dumps([(pattern, text) for pattern, text, _ in cases]),
                              cwd=Path(__file__).resolve().parents[1])
    except subprocess.TimeoutExpired:
        pytest.fail("a regex condition ran for more than 10 s on a 50k-character input (catastrophic backtracking)")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == [expected for _, _, expected in cases]
