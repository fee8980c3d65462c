"""The messages instances send each other about calls, as plain data (no I/O).

A request names a call, a command and its arguments, and the channel to answer on; a reply
carries the request's id, an HTTP-like status and a JSON body. Both are JSON objects on Redis
pub/sub (:mod:`voxagent.calls.command_bus`); anything else is refused with
:class:`MalformedCommand`, so a stray publish on our channel cannot crash a listener.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Literal, cast, get_args

__all__ = [
    "COMMANDS",
    "MAX_COMMAND_BYTES",
    "Command",
    "CommandReply",
    "CommandRequest",
    "MalformedCommand",
    "decode",
    "encode",
]

Command = Literal["hangup", "transfer", "speak", "status", "adopt"]
"""``adopt``: an instance that is draining asks another one to take a call over."""
COMMANDS: frozenset[str] = frozenset(get_args(Command))
MAX_COMMAND_BYTES = 64 * 1024


class MalformedCommand(ValueError):
    """A message on a command channel that is not one of ours."""


@dataclass(frozen=True, slots=True)
class CommandRequest:
    id: str
    command: Command
    call_id: str
    reply_to: str
    args: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class CommandReply:
    id: str
    status: int
    body: dict[str, Any] = field(default_factory=dict)


def encode(message: CommandRequest | CommandReply) -> str:
    if isinstance(message, CommandRequest):
        data: dict[str, Any] = {
            "type": "request",
            "id": message.id,
            "command": message.command,
            "call_id": message.call_id,
            "reply_to": message.reply_to,
            "args": message.args,
        }
    else:
        data = {"type": "reply", "id": message.id, "status": message.status, "body": message.body}
    return json.dumps(data, separators=(",", ":"))


def decode(raw: str | bytes) -> CommandRequest | CommandReply:
    if len(raw) > MAX_COMMAND_BYTES:
        raise MalformedCommand(f"message of {len(raw)} bytes (at most {MAX_COMMAND_BYTES})")
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise MalformedCommand(f"not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise MalformedCommand("not a JSON object")
    kind = data.get("type")
    message_id = _text(data, "id")
    if kind == "request":
        command = _text(data, "command")
        if command not in COMMANDS:
            raise MalformedCommand(f"unknown command {command!r}")
        args = data.get("args", {})
        if not isinstance(args, dict):
            raise MalformedCommand("args must be an object")
        return CommandRequest(
            message_id,
            cast(Command, command),
            _text(data, "call_id"),
            _text(data, "reply_to"),
            args,
        )
    if kind == "reply":
        status = data.get("status")
        body = data.get("body", {})
        if not isinstance(status, int) or isinstance(status, bool) or not 100 <= status <= 599:
            raise MalformedCommand(f"invalid status {status!r}")
        if not isinstance(body, dict):
            raise MalformedCommand("body must be an object")
        return CommandReply(message_id, status, body)
    raise MalformedCommand(f"unknown message type {kind!r}")


def _text(data: dict[str, Any], key: str) -> str:
    value = data.get(key)
    if not isinstance(value, str) or not value or len(value) > 512:
        raise MalformedCommand(f"{key} must be a non-empty string")
    return value
