"""The Bedrock tables hold every type botocore's bedrock-runtime service model knows: a botocore release with a
new content block, tool kind, source, stream event... fails here until someone says how the proxy reads it."""
from __future__ import annotations

import botocore.session
import pytest

from archestra.providers import bedrock_content, bedrock_invoke
from archestra.providers.invoke_stream import EVENTS

MODEL = botocore.session.get_session().get_service_model("bedrock-runtime")
CONVERSE = bedrock_content.TABLE


def members(shape: str) -> set[str]:
    return set(MODEL.shape_for(shape).members)


def test_the_unions_are_unions():
    # the tables read these as botocore does: exactly one member set (bedrock_content.member)
    for shape in ("ContentBlock", "ToolResultContentBlock", "SystemContentBlock", "Tool", "ToolChoice",
                  "ContentBlockDelta", "ContentBlockStart", "DocumentSource", "ImageSource", "VideoSource",
                  "AudioSource", "CitationLocation", "GuardrailConverseContentBlock", "DocumentContentBlock"):
        assert MODEL.shape_for(shape).is_tagged_union, shape


@pytest.mark.parametrize("side, where, shapes", [
    ("request", "content", ["ContentBlock"]),
    ("answer", "content", ["ContentBlock"]),
    ("request", "tool result content", ["ToolResultContentBlock"]),
    ("request", "system", ["SystemContentBlock"]),
    ("request", "tool", ["Tool"]),
    ("request", "tool choice", ["ToolChoice"]),
    ("request", "source", ["DocumentSource", "ImageSource", "VideoSource", "AudioSource"]),
    ("answer", "source", ["ImageSource"]),
    ("request", "document content", ["DocumentContentBlock"]),
    ("request", "guard content", ["GuardrailConverseContentBlock"]),
    ("request", "citation location", ["CitationLocation"]),
    ("answer", "citation location", ["CitationLocation"]),
    ("answer", "start", ["ContentBlockStart"]),
    ("answer", "delta", ["ContentBlockDelta"]),
    ("request", "request field", ["ConverseRequest", "ConverseStreamRequest"]),
    ("answer", "answer field", ["ConverseResponse"]),
    ("answer", "output", ["ConverseOutput"]),
])
def test_every_converse_member_is_in_the_table(side, where, shapes):
    known = set().union(*map(members, shapes)) - {"modelId"} if where == "request field" else \
        set().union(*map(members, shapes))
    missing = known - CONVERSE.types(side, where)
    assert not missing, f"botocore knows {sorted(missing)} ({', '.join(shapes)}) but the {side} table " \
                        f"'{where}' does not"


def test_every_stream_event_is_in_the_tables():
    assert members("ConverseStreamOutput") <= CONVERSE.types("events", "event")
    for table in bedrock_invoke.TABLES:
        assert members("ResponseStream") <= table.types("events", "event"), table.family
    assert members("ResponseStream") == {key.partition(":")[2] for key in EVENTS}


def test_the_invoke_model_stream_carries_one_blob_per_chunk():
    # the envelope reads {"bytes": base64}: a new PayloadPart member would be a new way to carry content
    assert members("PayloadPart") == {"bytes"}
    assert MODEL.shape_for("PayloadPart").members["bytes"].type_name == "blob"


def test_tool_use_and_tool_result_members_are_the_ones_the_relay_reads():
    assert members("ToolUseBlockStart") == {"toolUseId", "name", "type"}
    assert members("ToolUseBlockDelta") == {"input"}
    assert members("ToolReference") == {"type", "name", "serverName"}  # toolAddition's reference
    assert members("ToolResultBlockDelta") <= CONVERSE.types("request", "tool result content")
