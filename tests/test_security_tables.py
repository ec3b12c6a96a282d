"""The declared tables of every API family (archestra/providers/shapes.py): the generated document is current,
and the rule for what no table holds (unseen in a request, refused in an answer) is what the tables answer."""
from __future__ import annotations

from pathlib import Path

from archestra.providers.shapes import FamilyTable, Reading, markdown
from archestra.providers.tables import all_tables

DOC = Path(__file__).resolve().parent.parent / "docs" / "security-tables.md"


def test_generated_document_is_current():
    assert DOC.read_text() == markdown(all_tables()), \
        "docs/security-tables.md is stale: python -m archestra.providers.tables > docs/security-tables.md"


def test_anything_not_declared_is_unseen_in_a_request_and_refused_in_an_answer():
    table = FamilyTable("example", request={"content:text": Reading.INERT}, answer={"content:text": Reading.INERT},
                        events={"event:ping": Reading.SKIPPED})
    assert table.in_request("content", "text") is Reading.INERT
    assert table.in_request("content", "image_url") is Reading.UNSEEN
    assert table.in_request("content", None) is Reading.UNSEEN
    assert table.in_request("content", ["text"]) is Reading.UNSEEN
    assert table.in_answer("content", "text") is Reading.INERT
    assert table.in_answer("content", "hologram") is Reading.REFUSED
    assert table.in_answer("content", 7) is Reading.REFUSED
    assert table.event("ping") is Reading.SKIPPED
    assert table.event("surprise") is Reading.REFUSED


def test_every_family_declares_a_table_with_no_harmless_default():
    tables = all_tables()
    for table in tables:
        readings = {*table.request.values(), *table.answer.values()}
        assert Reading.REFUSED not in table.request.values(), table.family
        assert readings, table.family
