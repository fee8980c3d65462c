"""The messages between instances: what goes out comes back the same, and anything else is
refused with MalformedCommand (never another exception)."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from voxagent.calls import command_wire as wire


def test_a_request_and_a_reply_survive_the_wire() -> None:
    request = wire.CommandRequest("r1", "transfer", "v3:call", "voxagent:commands:a", {"to": "+1"})
    reply = wire.CommandReply("r1", 200, {"result": "transferred"})
    assert wire.decode(wire.encode(request)) == request
    assert wire.decode(wire.encode(reply)) == reply


@pytest.mark.parametrize(
    ("raw", "why"),
    [
        ("not json", "not JSON"),
        ("[1, 2]", "not a JSON object"),
        ('{"type": "shout", "id": "x"}', "unknown message type"),
        ('{"type": "request", "id": "x", "command": "format_disk"}', "unknown command"),
        ('{"type": "request", "id": "", "command": "hangup"}', "id must be"),
        (
            '{"type": "request", "id": "x", "command": "hangup", "call_id": "c", '
            '"reply_to": "r", "args": [1]}',
            "args must be an object",
        ),
        ('{"type": "reply", "id": "x", "status": true}', "invalid status"),
        ('{"type": "reply", "id": "x", "status": 999}', "invalid status"),
        ('{"type": "reply", "id": "x", "status": 200, "body": "ok"}', "body must be"),
        ("x" * (wire.MAX_COMMAND_BYTES + 1), "at most"),
    ],
)
def test_what_is_not_ours_is_refused_clearly(raw: str, why: str) -> None:
    with pytest.raises(wire.MalformedCommand, match=why):
        wire.decode(raw)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=12,
)


@given(
    st.dictionaries(
        st.sampled_from(["type", "id", "command", "call_id", "reply_to", "args", "status", "body"]),
        json_values | st.sampled_from(["request", "reply", "hangup", "speak"]),
    )
)
def test_any_json_object_decodes_or_is_refused(data: dict[str, object]) -> None:
    try:
        message = wire.decode(json.dumps(data))
    except wire.MalformedCommand:
        return
    assert wire.decode(wire.encode(message)) == message
