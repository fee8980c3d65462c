"""A call's history as stored for the next instance: the last 50 messages, and a clear error
for a damaged document."""

from __future__ import annotations

import pytest

from voxagent.calls.shared_history import messages_from_json, messages_to_json
from voxagent.conversation.history import Message


def test_the_history_round_trips_and_keeps_the_last_50() -> None:
    messages = [Message("user" if i % 2 else "assistant", f"línea {i}", i == 7) for i in range(80)]
    back = messages_from_json(messages_to_json(messages))
    assert back == messages[-50:]
    assert back[0].text == "línea 30"


@pytest.mark.parametrize(
    "raw",
    ["{not json", '[{"role": "system", "text": "x", "interrupted": false}]', '[{"role": "user"}]'],
)
def test_a_damaged_history_is_an_error(raw: str) -> None:
    with pytest.raises(ValueError, match="not a stored history"):
        messages_from_json(raw)
