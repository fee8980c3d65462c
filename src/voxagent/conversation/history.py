"""The conversation as it was actually heard, capped so a long call cannot grow without bound."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

Role = Literal["user", "assistant"]

DEFAULT_MAX_MESSAGES = 50


@dataclass(frozen=True, slots=True)
class Message:
    role: Role
    text: str
    interrupted: bool = False


class History:
    """The last ``max_messages`` messages; older ones fall off the front."""

    def __init__(self, max_messages: int = DEFAULT_MAX_MESSAGES) -> None:
        if max_messages < 1:
            raise ValueError("max_messages must be at least 1")
        self._messages: deque[Message] = deque(maxlen=max_messages)

    def add_user(self, text: str) -> None:
        self._messages.append(Message("user", text))

    def add_assistant(self, text: str, *, interrupted: bool = False) -> None:
        if text:
            self._messages.append(Message("assistant", text, interrupted))

    def __iter__(self) -> Iterator[Message]:
        return iter(self._messages)

    def __len__(self) -> int:
        return len(self._messages)

    def as_dicts(self) -> list[dict[str, object]]:
        return [
            {"role": m.role, "text": m.text, "interrupted": m.interrupted} for m in self._messages
        ]
